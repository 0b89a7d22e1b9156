//! The browser's entry point: runs the static constructors once, then mounts the app
//! (`gradlab::ui`). Its own package: the crate a wasm binary is linked from sets the optimisation
//! level of the whole-program LTO (see the `wasm-release` profile in the workspace's Cargo.toml).

#[cfg(target_arch = "wasm32")]
fn main() {
    // Static constructors (the `inventory` registrations of burn's GPU compiler) run here, once.
    // Without an explicit call, wasm-ld treats this binary as a "command" and wraps *every* export
    // — each closure the browser calls, each JS value handed to Rust, each malloc — in a call that
    // runs all constructors again. Measured in a profile of the page opening with `backend=auto`:
    // 6.9 of 11.9 s of busy main-thread time, and WebGPU trained ~9× slower. An explicit call
    // tells the linker not to wrap (the convention wasi-libc and wit-bindgen rely on).
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    unsafe { __wasm_call_ctors() };
    gradlab::ui::mount();
}

/// Natively there is nothing to mount: the command line is `gradlab` (src/main.rs).
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("gradlab-web is the browser's entry point; natively, run `gradlab`");
    std::process::exit(2);
}
