//! Entry point: in the browser it mounts the app; natively it is the `gradlab` command line.

#[cfg(target_arch = "wasm32")]
fn main() {
    gradlab::ui::mount();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(gradlab::cli::run(&args));
}
