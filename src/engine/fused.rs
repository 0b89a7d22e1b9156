//! Our own WGSL kernels (`shaders/`), launched through burn's wgpu runtime on the tensors' own
//! buffers. Each has a reference: the generic tensor-op path it replaces, which stays in use
//! everywhere the kernel does not apply (the CPU backend, f64) and is what the tests compare with.
//!
//! A kernel is used only where a benchmark shows it wins (see `gradlab bench`).

use burn::backend::Wgpu;
use burn::backend::wgpu::{CubeTensor, KernelSource, SourceKernel, SourceTemplate, into_contiguous};
use burn::tensor::{DType, Shape};
use cubecl::server::Handle;
use cubecl::server::KernelArguments;
use cubecl::prelude::KernelId;
use cubecl::{CubeCount, CubeDim};

use std::cell::Cell;

use super::op::T;

/// Threads per workgroup of the element-wise kernels (must match their `@workgroup_size`).
const WORKGROUP: u32 = 64;

/// One of our WGSL kernels: its name (which keys burn's compilation cache) and its source.
#[derive(Clone, Copy)]
struct Wgsl {
    name: &'static str,
    source: &'static str,
}

impl KernelSource for Wgsl {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(self.source)
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info(self.name)
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

const ADAM: Wgsl = Wgsl { name: "adam", source: include_str!("../../shaders/adam.wgsl") };
const SGD: Wgsl = Wgsl { name: "sgd", source: include_str!("../../shaders/sgd.wgsl") };
const ACTIVATION_BACKWARD: Wgsl = Wgsl { name: "activation_backward", source: include_str!("../../shaders/activation_backward.wgsl") };
// The losses' forwards reduce in one workgroup: workgroup_sum.wgsl's tree is appended to each.
const BCE_FORWARD: Wgsl = Wgsl {
    name: "bce_logits_forward",
    source: concat!(include_str!("../../shaders/bce_logits_forward.wgsl"), include_str!("../../shaders/workgroup_sum.wgsl")),
};
const SOFTMAX_CE_FORWARD: Wgsl = Wgsl {
    name: "softmax_ce_forward",
    source: concat!(include_str!("../../shaders/softmax_ce_forward.wgsl"), include_str!("../../shaders/workgroup_sum.wgsl")),
};
const SOFTMAX_CE_BACKWARD: Wgsl = Wgsl { name: "softmax_ce_backward", source: include_str!("../../shaders/softmax_ce_backward.wgsl") };
const BCE_BACKWARD: Wgsl = Wgsl { name: "bce_logits_backward", source: include_str!("../../shaders/bce_logits_backward.wgsl") };

/// Every kernel's name and whole source, as it is compiled (the naga test validates these).
pub fn kernel_sources() -> Vec<(&'static str, &'static str)> {
    [ADAM, SGD, ACTIVATION_BACKWARD, BCE_FORWARD, SOFTMAX_CE_FORWARD, SOFTMAX_CE_BACKWARD, BCE_BACKWARD].iter().map(|k| (k.name, k.source)).collect()
}

thread_local! {
    /// Whether the ops' own kernels (activation backward, the losses) are used where they apply
    /// on this thread: on by default; tests and `gradlab bench` turn them off to run the generic
    /// reference path (per thread, so a test that does cannot change what a test beside it runs).
    static OP_KERNELS: Cell<bool> = const { Cell::new(true) };
    /// Our kernels launched from this thread.
    static LAUNCHES: Cell<u64> = const { Cell::new(0) };
}

/// Turns the ops' fused kernels on or off for this thread (the optimizers choose theirs with
/// `Kernels`); returns what it was.
pub fn set_op_kernels(on: bool) -> bool {
    OP_KERNELS.with(|k| k.replace(on))
}

fn op_kernels() -> Result<(), &'static str> {
    if OP_KERNELS.with(Cell::get) { Ok(()) } else { Err("op kernels off") }
}

/// Elements of `t`.
fn numel(t: &T) -> usize {
    t.dims().iter().product()
}

/// The tensors' buffers on burn's wgpu runtime, contiguous, or why not (a flex tensor, not f32,
/// empty, too many elements for one 1-D dispatch of `WORKGROUP`).
fn cubes(tensors: &[&T]) -> Result<Vec<CubeTensor>, &'static str> {
    if tensors.iter().any(|t| t.dtype() != DType::F32) {
        return Err("not f32");
    }
    let n = numel(tensors[0]);
    if n == 0 {
        return Err("empty tensor");
    }
    if (n as u32).div_ceil(WORKGROUP) > 65_535 {
        return Err("too large for one dispatch");
    }
    let cubes: Vec<CubeTensor> = tensors.iter().map(|t| (*t).clone().try_into_primitive::<Wgpu>().map(into_contiguous).map_err(|_| "not on the wgpu backend")).collect::<Result<_, _>>()?;
    // WebGPU refuses one buffer bound twice where either binding may be written (and every
    // binding of a source kernel is read_write): two inputs that are one tensor (a loss of z
    // against stop_gradient(z)) take the generic path.
    let id = |c: &CubeTensor| c.handle.memory.descriptor().id;
    if cubes.iter().enumerate().any(|(i, a)| cubes[..i].iter().any(|b| id(a) == id(b))) {
        return Err("inputs share a buffer");
    }
    Ok(cubes)
}

/// Launches `kernel` over `inputs`, into fresh f32 buffers of `outputs` elements each, with the
/// small parameter buffer `hyper` last (when given); `groups` workgroups of `threads`. Every
/// binding is read_write, so no buffer may be bound twice (WebGPU refuses aliasing writable
/// bindings): callers pass distinct tensors.
fn launch(kernel: Wgsl, inputs: &[CubeTensor], outputs: &[usize], hyper: Option<&[f32]>, threads: u32, groups: u32) -> Vec<Handle> {
    let client = inputs[0].client.clone();
    let fresh: Vec<Handle> = outputs.iter().map(|&n| client.empty(n.max(1) * 4)).collect();
    let hyper = hyper.map(|h| client.create_from_slice(&h.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()));
    let buffers = inputs.iter().map(|t| &t.handle).chain(&fresh).chain(hyper.as_ref()).map(|h| h.clone().binding()).collect();
    client.launch(Box::new(SourceKernel::new(kernel, CubeDim::new_1d(threads))), CubeCount::Static(groups, 1, 1), KernelArguments::new().with_buffers(buffers));
    LAUNCHES.with(|n| n.set(n.get() + 1));
    fresh
}

/// A fresh buffer as a tensor on `like`'s device, of `shape`.
fn wrap(like: &CubeTensor, handle: &Handle, shape: Shape) -> T {
    T::from_primitive::<Wgpu>(CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), shape, handle.clone(), DType::F32))
}

/// The activations [`activation_backward`] knows, with what its rule reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `1 − y²`: reads the output y.
    Tanh,
    /// `y(1 − y)`: reads the output y.
    Sigmoid,
    /// `x > 0`: reads the input x.
    Relu,
    /// `x > 0 ? 1 : α`: reads the input x.
    LeakyRelu(f32),
}

/// `∂L/∂x` of an element-wise activation from `a` (its output y or input x: see [`Activation`])
/// and the upstream `g`, in one dispatch; or why not (the caller takes the generic path).
pub fn activation_backward(kind: Activation, a: &T, g: &T) -> Result<T, &'static str> {
    op_kernels()?;
    if a.dims() != g.dims() {
        return Err("shapes differ");
    }
    let cubes = cubes(&[a, g])?;
    let n = numel(a);
    let (code, slope) = match kind {
        Activation::Tanh => (0.0, 0.0),
        Activation::Sigmoid => (1.0, 0.0),
        Activation::Relu => (2.0, 0.0),
        Activation::LeakyRelu(slope) => (3.0, slope),
    };
    let out = launch(ACTIVATION_BACKWARD, &cubes, &[n], Some(&[code, slope]), WORKGROUP, (n as u32).div_ceil(WORKGROUP));
    Ok(wrap(&cubes[0], &out[0], a.shape()))
}

/// Most logits the one-workgroup loss kernels take.
const MAX_LOGITS: usize = 1 << 16;

/// Most classes a row of the softmax cross-entropy kernels may have (a thread walks a row).
const MAX_CLASSES: usize = 1024;

/// A loss's logits `z`, targets `t` and, for its backward, the scalar `upstream` on the GPU, if
/// our loss kernels take them (the op kernels on, targets of the logits' shape, at most
/// [`MAX_LOGITS`] logits, no buffer given twice); and the logits' count.
fn loss_inputs(z: &T, t: &T, upstream: Option<&T>) -> Result<(Vec<CubeTensor>, usize), &'static str> {
    op_kernels()?;
    if z.dims() != t.dims() || upstream.is_some_and(|u| numel(u) != 1) {
        return Err("shapes differ");
    }
    if numel(z) > MAX_LOGITS {
        return Err("too many logits for one workgroup");
    }
    let tensors: Vec<&T> = [z, t].into_iter().chain(upstream).collect();
    Ok((cubes(&tensors)?, numel(z)))
}

/// `mean(max(z,0) − z·t + log1p(e^(−|z|)))` as a `[1, 1, 1, 1]` tensor, in one dispatch; or why not.
pub fn bce_logits(z: &T, t: &T) -> Result<T, &'static str> {
    let (inputs, n) = loss_inputs(z, t, None)?;
    let out = launch(BCE_FORWARD, &inputs, &[1], Some(&[n as f32]), 256, 1);
    Ok(wrap(&inputs[0], &out[0], Shape::new([1, 1, 1, 1])))
}

/// `∂L/∂z = (σ(z) − t) / n · upstream` (`upstream` one element) in one dispatch; or why not.
pub fn bce_logits_backward(z: &T, t: &T, upstream: &T) -> Result<T, &'static str> {
    let (inputs, n) = loss_inputs(z, t, Some(upstream))?;
    let out = launch(BCE_BACKWARD, &inputs, &[n], Some(&[n as f32]), WORKGROUP, (n as u32).div_ceil(WORKGROUP));
    Ok(wrap(&inputs[0], &out[0], z.shape()))
}

/// [`loss_inputs`] for a softmax cross-entropy over the last axis, with its classes per row and
/// rows; rows longer than [`MAX_CLASSES`] are burn's.
fn softmax_ce_inputs(z: &T, t: &T, upstream: Option<&T>) -> Result<(Vec<CubeTensor>, [usize; 2]), &'static str> {
    let classes = z.dims()[3];
    if classes > MAX_CLASSES {
        return Err("too many classes for one thread a row");
    }
    let (inputs, n) = loss_inputs(z, t, upstream)?;
    Ok((inputs, [classes, n / classes.max(1)]))
}

/// `−(1/R) Σ t · log_softmax(z)` over the last axis, as a `[1, 1, 1, 1]` tensor, in one dispatch;
/// or why not.
pub fn softmax_ce(z: &T, t: &T) -> Result<T, &'static str> {
    let (inputs, [classes, rows]) = softmax_ce_inputs(z, t, None)?;
    let out = launch(SOFTMAX_CE_FORWARD, &inputs, &[1], Some(&[classes as f32, rows as f32]), 256, 1);
    Ok(wrap(&inputs[0], &out[0], Shape::new([1, 1, 1, 1])))
}

/// `∂L/∂z = (softmax(z)·Σt − t) / R · upstream` in one dispatch (a thread per row); or why not.
pub fn softmax_ce_backward(z: &T, t: &T, upstream: &T) -> Result<T, &'static str> {
    let (inputs, [classes, rows]) = softmax_ce_inputs(z, t, Some(upstream))?;
    let out = launch(SOFTMAX_CE_BACKWARD, &inputs, &[classes * rows], Some(&[classes as f32, rows as f32]), WORKGROUP, (rows as u32).div_ceil(WORKGROUP).max(1));
    Ok(wrap(&inputs[0], &out[0], z.shape()))
}

/// One fused SGD update (with `velocity`: SGD with momentum μ, PyTorch's convention) in a single
/// dispatch, `(w, g[, v]) → (w'[, v'])`; or why not.
pub fn sgd(w: &T, g: &T, velocity: Option<(&T, f32)>, lr: f32, weight_decay: f32) -> Result<(T, Option<T>), &'static str> {
    let mut tensors = vec![w, g];
    if let Some((v, _)) = velocity {
        tensors.push(v);
    }
    if tensors.iter().any(|t| t.dims() != w.dims()) {
        return Err("shapes differ");
    }
    let mut inputs = cubes(&tensors)?;
    let n = numel(w);
    let (momentum, with_velocity) = velocity.map_or((0.0, 0.0), |(_, mu)| (mu, 1.0));
    if velocity.is_none() {
        // The kernel's v binding: a placeholder it does not read, a buffer of its own (WebGPU
        // refuses one buffer bound twice where either binding may be written).
        let like = &inputs[0];
        let placeholder = like.client.empty(4);
        inputs.push(CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), Shape::new([1]), placeholder, DType::F32));
    }
    let outputs = if velocity.is_some() { [n, n] } else { [n, 1] };
    let out = launch(SGD, &inputs, &outputs, Some(&[lr, weight_decay, momentum, with_velocity]), WORKGROUP, (n as u32).div_ceil(WORKGROUP));
    Ok((wrap(&inputs[0], &out[0], w.shape()), velocity.map(|_| wrap(&inputs[0], &out[1], w.shape()))))
}

/// Adam's hyper-parameters for one step, as the kernel reads them.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    /// η
    pub lr: f32,
    /// β₁
    pub beta1: f32,
    /// β₂
    pub beta2: f32,
    /// ε
    pub eps: f32,
    /// λ (decoupled)
    pub weight_decay: f32,
    /// 1 − β₁ᵗ
    pub bc1: f32,
    /// 1 − β₂ᵗ
    pub bc2: f32,
}

/// Which kernels ran one parameter's update: observable, so that a test or a benchmark that
/// means to measure the fused kernel can check it did not silently take the generic path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdatePath {
    /// Our fused WGSL kernel (one dispatch).
    Fused,
    /// burn's generic element-wise ops, and why the kernel was not used.
    Generic(&'static str),
    /// Our host kernels, on the CPU (`Optimizer::update_host`).
    Host,
}

impl UpdatePath {
    /// What a fused kernel's result says of the path taken.
    pub fn of<R>(fused: &Result<R, &'static str>) -> Self {
        match fused {
            Ok(_) => UpdatePath::Fused,
            Err(why) => UpdatePath::Generic(why),
        }
    }
}

/// How many times one of our kernels was launched from this thread (tests read the difference).
pub fn launches() -> u64 {
    LAUNCHES.with(Cell::get)
}

/// One fused Adam update `(w, g, m, v) → (w', m', v')` in a single dispatch, or why the kernel
/// does not apply (not f32, not on the wgpu backend, empty or too large for one 1-D dispatch):
/// the caller then takes the generic path.
pub fn adam(w: &T, g: &T, m: &T, v: &T, step: AdamStep) -> Result<(T, T, T), &'static str> {
    let inputs = cubes(&[w, g, m, v])?;
    let n = numel(w);
    let hyper = [step.lr, step.beta1, step.beta2, step.eps, step.weight_decay, step.bc1, step.bc2];
    let out = launch(ADAM, &inputs, &[n, n, n], Some(&hyper), WORKGROUP, (n as u32).div_ceil(WORKGROUP));
    let fresh = |k: usize| wrap(&inputs[0], &out[k], w.shape());
    Ok((fresh(0), fresh(1), fresh(2)))
}
