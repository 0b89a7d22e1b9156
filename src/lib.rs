//! gradlab: a neural-network laboratory that runs in a browser tab.
//!
//! `engine` is our tape autodiff on burn's tensors and kernels; `data`, `models` and `train` build
//! experiments on it; `share` is the one schema of every setting (defaults, links, validation);
//! `stepper` turns one training step into the stages of the step-by-step view; `backend` picks and
//! opens devices. All of these are plain Rust, tested
//! natively. Only `ui` (compiled for wasm32) touches the page, through leptos and web_sys; `cli`
//! is the native command line on the same engine.

pub mod backend;
pub mod data;
pub mod engine;
pub mod models;
pub mod share;
pub mod stepper;
pub mod train;

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;

#[cfg(target_arch = "wasm32")]
pub mod ui;
