//! Entry point: in the browser it mounts the app; natively it is the `gradlab` command line.

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

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(gradlab::cli::run(&args));
}
