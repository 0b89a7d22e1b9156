//! The `gradlab` command line (the browser's entry point is `src/web/main.rs`).

/// The browser's entry point is its own package, `src/web` (it sets the whole-program LTO's
/// optimisation level); this binary is the command line.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(gradlab::cli::run(&args));
}
