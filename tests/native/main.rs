//! gradlab's native test suite: one binary, one module per area.

// Every op's backward vs finite differences and burn-autodiff; whole networks likewise.
mod gradients;
// Optimizers against hand-written updates.
mod optimizers;
// The trainer: determinism, convergence, backend parity, bad settings.
mod training;
// Share links: round trips, fuzzing, bad-link messages, replay.
mod share;
// Our WGSL: every shader in shaders/ parses and validates with naga.
mod shaders;
// The stepper: presets by hand, every shown value vs burn-autodiff and finite differences.
mod stepper;
// Image datasets: the bundles ./x builds, bad and fuzzed data files.
mod data;
// The image experiment: presets, schedules, MNIST subsets, PyTorch-named weights.
mod models;
// The essay's GAN: its networks, and each half of a training step against burn-autodiff.
mod gan;
// Users' CSV tables: quoting, delimiters, types, bad files, fuzzing.
mod table;
// The tabular experiment: preparing a table, scores and fairness, essay 003's net on Adult.
mod tabular;
// Compression: pruning and int8 quantization, on the Adult network and the MNIST MLP.
mod compress;
// The command line as a user runs it (a closed pipe).
mod cli;
// Helpers shared by the modules above.
mod support;
