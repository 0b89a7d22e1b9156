//! Our optimizers: SGD, SGD with momentum, and Adam with decoupled weight decay (AdamW).
//!
//! They are ours rather than burn's so that each update formula is written once, here, next to the
//! text the step-by-step view shows for it. Updates run as burn tensor ops on the parameters'
//! device.

use serde::{Deserialize, Serialize};

use super::fused::{AdamStep, UpdatePath};
use super::op::T;
use super::real::Real;

/// Which update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// `w ← w − η(g + λw)`.
    Sgd,
    /// `v ← μv + g + λw;  w ← w − ηv` (PyTorch's convention).
    Momentum,
    /// Adam with bias correction and decoupled weight decay.
    Adam,
}

impl OptimizerKind {
    /// Every kind, in display order.
    pub const ALL: [OptimizerKind; 3] = [OptimizerKind::Sgd, OptimizerKind::Momentum, OptimizerKind::Adam];

    /// State tensors each parameter keeps, each of its shape: none (SGD), a velocity (momentum),
    /// or the two moments (Adam).
    pub fn state_per_param(&self) -> usize {
        match self {
            OptimizerKind::Sgd => 0,
            OptimizerKind::Momentum => 1,
            OptimizerKind::Adam => 2,
        }
    }

    /// Short name (also the URL and CLI value).
    pub fn key(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Adam => "adam",
        }
    }

    /// The update formula, for the step-by-step view.
    pub fn formula(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "w ← w − η (g + λ w)",
            OptimizerKind::Momentum => "v ← μ v + g + λ w;  w ← w − η v",
            OptimizerKind::Adam => {
                "m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  m̂ = m/(1−β₁ᵗ);  v̂ = v/(1−β₂ᵗ);  w ← w − η (m̂/(√v̂ + ε) + λ w)"
            }
        }
    }
}

/// Hyper-parameters of an optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// The update rule.
    pub kind: OptimizerKind,
    /// Learning rate η.
    pub lr: f64,
    /// Momentum μ (momentum only).
    pub momentum: f64,
    /// β₁, β₂, ε (Adam only).
    pub beta1: f64,
    /// See `beta1`.
    pub beta2: f64,
    /// See `beta1`.
    pub eps: f64,
    /// Weight decay λ (decoupled for Adam).
    pub weight_decay: f64,
}

impl OptimizerConfig {
    /// Defaults for `kind` at learning rate `lr`.
    pub fn new(kind: OptimizerKind, lr: f64) -> Self {
        Self { kind, lr, momentum: 0.9, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// Which kernels run an update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// Our kernels where they apply: the fused WGSL updates (Adam, SGD, SGD with momentum; f32 on
    /// the wgpu backend), and the host kernels for a playground trainer's whole step on the CPU
    /// (`engine::host`); else the generic path.
    #[default]
    Fused,
    /// burn's generic ops only (the reference).
    Generic,
}

impl Kernels {
    /// `fused()` where our kernels are chosen; else why not (the caller takes the generic path).
    fn attempt<R>(self, fused: impl FnOnce() -> Result<R, &'static str>) -> Result<R, &'static str> {
        match self {
            Kernels::Fused => fused(),
            Kernels::Generic => Err("generic kernels chosen"),
        }
    }
}

/// Per-parameter optimizer state.
#[derive(Clone, Debug)]
enum State {
    Empty,
    Velocity(T),
    Moments { m: T, v: T },
}

/// An optimizer with its state for a fixed list of parameters.
#[derive(Clone, Debug)]
pub struct Optimizer {
    /// Its hyper-parameters.
    pub config: OptimizerConfig,
    /// Updates done so far (Adam's t).
    pub t: u64,
    /// Fused or generic kernels.
    pub kernels: Kernels,
    state: Vec<State>,
    paths: Vec<UpdatePath>,
}

impl Optimizer {
    /// A fresh optimizer.
    pub fn new(config: OptimizerConfig) -> Self {
        Self { config, t: 0, kernels: Kernels::default(), state: Vec::new(), paths: Vec::new() }
    }

    /// Applies one update to every parameter, in place.
    pub fn update(&mut self, params: &mut [T], grads: &[T]) {
        assert_eq!(params.len(), grads.len(), "one gradient per parameter");
        if self.state.len() != params.len() {
            self.state = vec![State::Empty; params.len()];
        }
        self.t += 1;
        let c = self.config;
        self.paths.clear();
        for ((w, g), state) in params.iter_mut().zip(grads).zip(self.state.iter_mut()) {
            let decay = |w: &T| w.clone().mul_scalar(c.weight_decay);
            *w = match c.kind {
                // On the GPU, one dispatch of ours per parameter (`shaders/sgd.wgsl`).
                OptimizerKind::Sgd => {
                    let fused = self.kernels.attempt(|| super::fused::sgd(w, g, None, c.lr as f32, c.weight_decay as f32).map(|(w, _)| w));
                    self.paths.push(UpdatePath::of(&fused));
                    fused.unwrap_or_else(|_| {
                        let step = if c.weight_decay != 0.0 { g.clone().add(decay(w)) } else { g.clone() };
                        w.clone().sub(step.mul_scalar(c.lr))
                    })
                }
                OptimizerKind::Momentum => {
                    let fused = self.kernels.attempt(|| {
                        // The first update starts from v = 0, which the kernel reads as such.
                        let v0 = match state {
                            State::Velocity(v) => v.clone(),
                            _ => g.zeros_like(),
                        };
                        super::fused::sgd(w, g, Some((&v0, c.momentum as f32)), c.lr as f32, c.weight_decay as f32)
                    });
                    self.paths.push(UpdatePath::of(&fused));
                    let (w_new, v) = match fused {
                        Ok((w_new, Some(v))) => (w_new, v),
                        _ => {
                            let g = if c.weight_decay != 0.0 { g.clone().add(decay(w)) } else { g.clone() };
                            let v = match state {
                                State::Velocity(v) => v.clone().mul_scalar(c.momentum).add(g),
                                _ => g,
                            };
                            (w.clone().sub(v.clone().mul_scalar(c.lr)), v)
                        }
                    };
                    *state = State::Velocity(v);
                    w_new
                }
                OptimizerKind::Adam => {
                    let (m0, v0) = match state {
                        State::Moments { m, v } => (m.clone(), v.clone()),
                        _ => (g.zeros_like(), g.zeros_like()),
                    };
                    let bc1 = 1.0 - c.beta1.powi(self.t as i32);
                    let bc2 = 1.0 - c.beta2.powi(self.t as i32);
                    let step = AdamStep {
                        lr: c.lr as f32,
                        beta1: c.beta1 as f32,
                        beta2: c.beta2 as f32,
                        eps: c.eps as f32,
                        weight_decay: c.weight_decay as f32,
                        bc1: bc1 as f32,
                        bc2: bc2 as f32,
                    };
                    let fused = self.kernels.attempt(|| super::fused::adam(w, g, &m0, &v0, step));
                    self.paths.push(UpdatePath::of(&fused));
                    let (w_new, m, v) = fused.unwrap_or_else(|_| {
                        let m = m0.mul_scalar(c.beta1).add(g.clone().mul_scalar(1.0 - c.beta1));
                        let v = v0.mul_scalar(c.beta2).add(g.clone().powi_scalar(2).mul_scalar(1.0 - c.beta2));
                        let m_hat = m.clone().div_scalar(bc1);
                        let v_hat = v.clone().div_scalar(bc2);
                        let mut step = m_hat.div(v_hat.sqrt().add_scalar(c.eps));
                        if c.weight_decay != 0.0 {
                            step = step.add(decay(w));
                        }
                        (w.clone().sub(step.mul_scalar(c.lr)), m, v)
                    });
                    *state = State::Moments { m, v };
                    w_new
                }
            };
        }
    }

    /// [`Optimizer::update`] on the host, for the CPU path of small nets (`engine::host`): the same
    /// rules in the same order of operations, on slices. `state` holds the velocities or moments
    /// in [`Optimizer::state_tensors`] order (filled with zeros when it does not fit, as the first
    /// update starts from zero state); the caller keeps it between updates. Every parameter's
    /// path is [`UpdatePath::Host`].
    pub fn update_host<F: Real>(&mut self, params: &mut [&mut [F]], grads: &[&[F]], state: &mut Vec<Vec<F>>) {
        assert_eq!(params.len(), grads.len(), "one gradient per parameter");
        let c = self.config;
        let per_param = c.kind.state_per_param();
        let fits = state.len() == per_param * params.len()
            && state.iter().enumerate().all(|(i, s)| s.len() == params[i / per_param.max(1)].len());
        if !fits {
            *state = params.iter().flat_map(|p| std::iter::repeat_n(vec![F::ZERO; p.len()], per_param)).collect();
        }
        self.t += 1;
        let (lr, decay) = (F::of(c.lr), F::of(c.weight_decay));
        let decayed = |g: F, w: F| if c.weight_decay != 0.0 { g + w * decay } else { g };
        let adam = c.kind == OptimizerKind::Adam;
        let (bc1, bc2) = if adam { (F::of(1.0 - c.beta1.powi(self.t as i32)), F::of(1.0 - c.beta2.powi(self.t as i32))) } else { (F::ONE, F::ONE) };
        let (b1, b2, one_b1, one_b2, eps) = (F::of(c.beta1), F::of(c.beta2), F::of(1.0 - c.beta1), F::of(1.0 - c.beta2), F::of(c.eps));
        let mu = F::of(c.momentum);
        let mut slots = state.chunks_mut(per_param.max(1));
        for (w, g) in params.iter_mut().zip(grads) {
            match c.kind {
                // w ← w − η (g + λ w)
                OptimizerKind::Sgd => {
                    for j in 0..w.len() {
                        w[j] -= decayed(g[j], w[j]) * lr;
                    }
                }
                // v ← μ v + g + λ w;  w ← w − η v
                OptimizerKind::Momentum => {
                    let v = &mut slots.next().expect("a velocity per parameter")[0];
                    for ((w, &g), v) in w.iter_mut().zip(*g).zip(v.iter_mut()) {
                        *v = *v * mu + decayed(g, *w);
                        *w -= *v * lr;
                    }
                }
                // m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  w ← w − η (m̂/(√v̂ + ε) + λ w)
                OptimizerKind::Adam => {
                    let [m, v] = slots.next().expect("moments per parameter") else { unreachable!("two moments") };
                    for (((w, &g), m), v) in w.iter_mut().zip(*g).zip(m.iter_mut()).zip(v.iter_mut()) {
                        *m = *m * b1 + g * one_b1;
                        *v = *v * b2 + g * g * one_b2;
                        let step = (*m / bc1) / ((*v / bc2).sqrt() + eps);
                        *w -= decayed(step, *w) * lr;
                    }
                }
            }
        }
        if self.paths.len() != params.len() || self.paths.iter().any(|p| *p != UpdatePath::Host) {
            self.paths = vec![UpdatePath::Host; params.len()];
        }
    }

    /// Which kernels ran each parameter's last update: on tensors, Adam's only (SGD and momentum
    /// are always generic there and leave this empty); on the host, every parameter's (`Host`).
    pub fn paths(&self) -> &[UpdatePath] {
        &self.paths
    }

    /// The state tensors (velocities or moments), in parameter order.
    pub fn state_tensors(&self) -> Vec<&T> {
        self.state
            .iter()
            .flat_map(|s| match s {
                State::Empty => vec![],
                State::Velocity(v) => vec![v],
                State::Moments { m, v } => vec![m, v],
            })
            .collect()
    }

    /// The state of parameter `index` before the next update: `[]` (none yet, or SGD), `[v]`
    /// (momentum) or `[m, v]` (Adam).
    pub fn slots(&self, index: usize) -> Vec<&T> {
        match self.state.get(index) {
            None | Some(State::Empty) => vec![],
            Some(State::Velocity(v)) => vec![v],
            Some(State::Moments { m, v }) => vec![m, v],
        }
    }

    /// Restores a state read back earlier for `n_params` parameters: Adam's step count `t` and the
    /// tensors in `state_tensors` order. Returns false, leaving a fresh state, when they do not
    /// fit this optimizer (another kind chosen since, or a state from before the first update).
    pub fn restore_state(&mut self, t: u64, tensors: Vec<T>, n_params: usize) -> bool {
        let per_param = self.config.kind.state_per_param();
        if per_param == 0 || tensors.len() != per_param * n_params {
            self.state.clear();
            self.t = 0;
            return false;
        }
        let mut it = tensors.into_iter();
        let mut next = move || it.next().expect("counted above");
        self.state = (0..n_params)
            .map(|_| if per_param == 1 { State::Velocity(next()) } else { State::Moments { m: next(), v: next() } })
            .collect();
        self.t = t;
        true
    }

    /// Replaces the state tensors with copies (e.g. on another device) in `state_tensors` order.
    /// An empty list resets the state (and Adam's step count, so bias correction starts over).
    pub fn replace_state_tensors(&mut self, tensors: Vec<T>) {
        if tensors.is_empty() {
            self.state.clear();
            self.t = 0;
            return;
        }
        let mut it = tensors.into_iter();
        for s in &mut self.state {
            *s = match s {
                State::Empty => State::Empty,
                State::Velocity(_) => State::Velocity(it.next().expect("one tensor per velocity")),
                State::Moments { .. } => {
                    State::Moments { m: it.next().expect("m"), v: it.next().expect("v") }
                }
            };
        }
    }
}
