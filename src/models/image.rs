//! Image classifiers on the tape, with PyTorch's parameter names and layouts, so that a weight
//! file gradlab exports loads into the equivalent PyTorch module with
//! `load_state_dict(strict=True)` and a PyTorch file loads here.
//!
//! Two architectures cover the essays' models and their variants:
//! - [`Arch::Mlp`]: flatten → `fc1` (ReLU) → dropout → `fc2` (essay 000's Keras MLP);
//! - [`Arch::Cnn`]: `conv1` [→ `bn1`] → ReLU → max-pool 2 → flatten → `fc1` → ReLU [→ dropout] → `fc2`
//!   (essay 002's `SimpleFCN`, with the padding its erratum needs).
//!
//! # Shapes
//! Input `[batch, 1, 28, 28]` (pixels / 255), logits `[batch, 10]`. `fcK.weight` is
//! `[out, in]`, `conv1.weight` `[out channels, in channels, k, k]`, biases `[out]`, and batch
//! norm keeps the buffers `bn1.running_mean`, `bn1.running_var` `[c]` and
//! `bn1.num_batches_tracked` (a count) as PyTorch does.

use burn::tensor::Device;

use crate::engine::{Leaf, NodeId, Op, Precision, Rng, Role, Saved, Shape, Stats, Stream, T, Tag, Tape, tensor_f64};

/// Image side, classes and channels of the datasets this serves (MNIST, Fashion-MNIST).
pub const SIDE: usize = 28;
/// Classes of the datasets.
pub const CLASSES: usize = 10;

/// Batch norm's ε and running-average momentum (PyTorch's defaults).
pub const BN_EPS: f32 = 1e-5;
/// See [`BN_EPS`].
pub const BN_MOMENTUM: f64 = 0.1;

/// Which network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arch {
    /// Flatten → `fc1` (`hidden` units, ReLU) → dropout → `fc2`.
    Mlp {
        /// Units of the hidden layer.
        hidden: usize,
        /// Dropout rate after it while training.
        dropout: f32,
    },
    /// `conv1` (`channels` filters of `kernel × kernel`, stride 1, `padding`) [→ `bn1`] → ReLU →
    /// max-pool 2×2 → flatten → `fc1` (`hidden` units) → ReLU [→ dropout] → `fc2`.
    Cnn {
        /// Filters of `conv1`.
        channels: usize,
        /// Kernel side.
        kernel: usize,
        /// Zero padding on each side.
        padding: usize,
        /// Units of `fc1`.
        hidden: usize,
        /// Batch norm after the convolution.
        batch_norm: bool,
        /// Dropout rate after `fc1` while training (the essay's net has none: 0).
        dropout: f32,
    },
}

/// How the weights start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Keras' defaults: Glorot-uniform weights, zero biases.
    Keras,
    /// PyTorch's defaults: weights and biases uniform in `±1/√fan_in`.
    Torch,
}

/// Whether a forward pass trains (dropout, batch statistics) or evaluates.
pub enum Phase<'a> {
    /// Training: dropout masks from this stream, batch norm on the batch's statistics.
    Train(&'a mut Rng),
    /// Evaluation: no dropout, batch norm on the running statistics.
    Eval,
}

/// The nodes one forward pass recorded that the page and the stepper show.
#[derive(Clone, Debug)]
pub struct ImageNodes {
    /// The parameter leaves, in [`ImageModel::names`] order.
    pub params: Vec<NodeId>,
    /// `[batch, 10]` logits.
    pub logits: NodeId,
    /// The convolution's output (feature maps, before the activation), for a CNN.
    pub conv: Option<NodeId>,
    /// The training batch norm, whose batch statistics update the running averages.
    pub batch_norm: Option<NodeId>,
}

/// A network's parameters and buffers.
#[derive(Clone, Debug)]
pub struct ImageModel {
    /// The architecture.
    pub arch: Arch,
    /// Parameters, in [`ImageModel::names`] order.
    pub params: Vec<T>,
    /// Batch norm's running mean and variance (empty without batch norm).
    pub buffers: Vec<T>,
    /// Batch norm's count of training batches (PyTorch's `num_batches_tracked`).
    pub batches_tracked: u64,
}

impl Arch {
    /// Parameter names, PyTorch's.
    pub fn names(&self) -> Vec<&'static str> {
        self.tags().iter().map(|t| t.name.expect("image-model parameters are named")).collect()
    }

    /// Each parameter's role, layer (the convolution is layer 1, then the dense layers) and
    /// PyTorch name, in [`Arch::names`] order.
    pub fn tags(&self) -> Vec<Tag> {
        let (w, b) = (Role::Weight, Role::Bias);
        let dense = |first: usize, prefix: [&'static str; 4]| {
            vec![Tag::named(w, first, prefix[0]), Tag::named(b, first, prefix[1]), Tag::named(w, first + 1, prefix[2]), Tag::named(b, first + 1, prefix[3])]
        };
        let fc = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];
        match self {
            Arch::Mlp { .. } => dense(1, fc),
            Arch::Cnn { batch_norm, .. } => {
                let mut tags = vec![Tag::named(w, 1, "conv1.weight"), Tag::named(b, 1, "conv1.bias")];
                if *batch_norm {
                    tags.extend([Tag::named(b, 1, "bn1.weight"), Tag::named(b, 1, "bn1.bias")]);
                }
                tags.extend(dense(2, fc));
                tags
            }
        }
    }

    /// Parameter shapes, in [`Arch::names`] order.
    pub fn shapes(&self) -> Vec<Shape> {
        match *self {
            Arch::Mlp { hidden, .. } => {
                vec![Shape::from([hidden, SIDE * SIDE]), Shape::from([hidden]), Shape::from([CLASSES, hidden]), Shape::from([CLASSES])]
            }
            Arch::Cnn { channels, kernel, hidden, batch_norm, .. } => {
                let mut shapes = vec![Shape::from([channels, 1, kernel, kernel]), Shape::from([channels])];
                if batch_norm {
                    shapes.extend([Shape::from([channels]), Shape::from([channels])]);
                }
                shapes.extend([
                    Shape::from([hidden, self.flat_features()]),
                    Shape::from([hidden]),
                    Shape::from([CLASSES, hidden]),
                    Shape::from([CLASSES]),
                ]);
                shapes
            }
        }
    }

    /// Side of the convolution's output (`28` for a 5×5 kernel with padding 2).
    pub fn conv_side(&self) -> usize {
        match *self {
            Arch::Mlp { .. } => SIDE,
            Arch::Cnn { kernel, padding, .. } => (SIDE + 2 * padding).saturating_sub(kernel) + 1,
        }
    }

    /// Inputs of `fc1`: `channels · (side/2)²` for a CNN, 784 for the MLP.
    pub fn flat_features(&self) -> usize {
        match *self {
            Arch::Mlp { .. } => SIDE * SIDE,
            Arch::Cnn { channels, .. } => channels * (self.conv_side() / 2).pow(2),
        }
    }

    /// Multiply-adds of one image's forward pass (×2 for FLOPs; a training step is ≈ 3 forwards,
    /// less the first layer's input gradient).
    pub fn forward_macs(&self) -> u64 {
        let linear: u64 = self.shapes().iter().filter(|s| s.rank() == 2).map(|s| s.numel() as u64).sum();
        match *self {
            Arch::Mlp { .. } => linear,
            Arch::Cnn { channels, kernel, .. } => linear + (channels * kernel * kernel * self.conv_side().pow(2)) as u64,
        }
    }

    /// FLOPs of one training sample: ≈ 3 forward passes of multiply-adds (forward, input and
    /// weight gradients), less the first layer's input gradient, which is never computed.
    pub fn train_flops_per_sample(&self) -> f64 {
        let first_layer = match *self {
            Arch::Mlp { hidden, .. } => (hidden * SIDE * SIDE) as f64,
            Arch::Cnn { channels, kernel, .. } => (channels * kernel * kernel * self.conv_side().pow(2)) as f64,
        };
        2.0 * (3.0 * self.forward_macs() as f64 - first_layer)
    }
}

impl ImageModel {
    /// A network with freshly drawn weights from the seed's init stream.
    pub fn init(arch: Arch, init: Init, seed: u64, device: &Device, precision: Precision) -> Self {
        Self::from_values(arch, &Self::initial_values(arch, init, seed), device, precision)
    }

    /// The values [`ImageModel::init`] uploads.
    pub fn initial_values(arch: Arch, init: Init, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Rng::new(seed, Stream::Init);
        let names = arch.names();
        let shapes = arch.shapes();
        let mut values = Vec::new();
        for (i, (name, shape)) in names.iter().zip(&shapes).enumerate() {
            let n = shape.numel();
            let v = if name.starts_with("bn") {
                // γ = 1, β = 0, as PyTorch and Keras start batch norm.
                vec![if name.ends_with("weight") { 1.0 } else { 0.0 }; n]
            } else {
                // A bias draws with its weight's fan-in (PyTorch) or is zero (Keras).
                let weight = if name.ends_with("bias") { &shapes[i - 1] } else { shape };
                let fan_in: usize = weight.dims()[1..].iter().product();
                let fan_out = weight.dims()[0] * weight.dims()[2..].iter().product::<usize>();
                let limit = match (init, name.ends_with("bias")) {
                    (Init::Keras, true) => 0.0,
                    (Init::Keras, false) => libm::sqrt(6.0 / (fan_in + fan_out) as f64),
                    (Init::Torch, _) => 1.0 / libm::sqrt(fan_in as f64),
                };
                (0..n).map(|_| if limit == 0.0 { 0.0 } else { rng.range(-limit, limit) }).collect()
            };
            values.push(v);
        }
        values
    }

    /// A network with these parameter values (in [`Arch::names`] order); running statistics
    /// start at mean 0, variance 1.
    pub fn from_values(arch: Arch, values: &[Vec<f64>], device: &Device, precision: Precision) -> Self {
        let shapes = arch.shapes();
        assert_eq!(values.len(), shapes.len(), "one value list per parameter");
        let params = values.iter().zip(&shapes).map(|(v, s)| tensor_f64(v, *s, device, precision)).collect();
        let buffers = match arch {
            Arch::Cnn { channels, batch_norm: true, .. } => {
                vec![tensor_f64(&vec![0.0; channels], [channels], device, precision), tensor_f64(&vec![1.0; channels], [channels], device, precision)]
            }
            _ => Vec::new(),
        };
        Self { arch, params, buffers, batches_tracked: 0 }
    }

    /// Parameter names, in `params` order.
    pub fn names(&self) -> Vec<&'static str> {
        self.arch.names()
    }

    /// Records the forward pass of `x` (`[batch, 1, 28, 28]`) on `tape`.
    pub fn forward(&self, tape: &mut Tape, x: NodeId, mut phase: Phase<'_>) -> ImageNodes {
        let shapes = self.arch.shapes();
        let params: Vec<NodeId> = self
            .params
            .iter()
            .zip(self.arch.tags())
            .zip(&shapes)
            .map(|((p, tag), shape)| tape.leaf(Leaf::Param, tag, p.clone(), *shape))
            .collect();
        let batch = tape.shape(x).dims()[0];
        let mut conv = None;
        let mut batch_norm = None;
        let (h, fc) = match self.arch {
            Arch::Mlp { dropout, .. } => {
                let flat = tape.apply(Op::Reshape { to: Shape::from([batch, SIDE * SIDE]) }, &[x], Tag::named(Role::Stage, 0, "flatten"));
                let h = tape.apply(Op::Linear, &[flat, params[0], params[1]], Tag::named(Role::PreActivation, 1, "fc1"));
                let mut h = tape.apply(Op::Relu, &[h], Tag::named(Role::Activation, 1, "relu1"));
                if let (Phase::Train(rng), true) = (&mut phase, dropout > 0.0) {
                    h = super::dropout_node(tape, h, dropout as f64, rng, (Tag::named(Role::Mask, 1, "mask1"), Tag::named(Role::Dropped, 1, "dropout1")));
                }
                (h, 2)
            }
            Arch::Cnn { padding, batch_norm: with_bn, dropout, .. } => {
                let c = tape.apply(Op::Conv2d { stride: 1, padding: padding as u8 }, &[x, params[0], params[1]], Tag::named(Role::PreActivation, 1, "conv1"));
                conv = Some(c);
                let mut h = c;
                if with_bn {
                    h = match phase {
                        Phase::Train(_) => {
                            let bn = tape.apply(Op::BatchNorm2d { eps: BN_EPS, stats: Stats::Batch }, &[c, params[2], params[3]], BN1);
                            batch_norm = Some(bn);
                            bn
                        }
                        Phase::Eval => {
                            let channels = [self.buffers[0].dims()[3]];
                            let mean = tape.leaf(Leaf::Constant, Tag::named(Role::Buffer, 1, "bn1.running_mean"), self.buffers[0].clone(), channels);
                            let var = tape.leaf(Leaf::Constant, Tag::named(Role::Buffer, 1, "bn1.running_var"), self.buffers[1].clone(), channels);
                            tape.apply(Op::BatchNorm2d { eps: BN_EPS, stats: Stats::Running }, &[c, params[2], params[3], mean, var], BN1)
                        }
                    };
                }
                let h = tape.apply(Op::Relu, &[h], Tag::named(Role::Activation, 1, "relu1"));
                let h = tape.apply(Op::MaxPool2d { kernel: 2, stride: 2 }, &[h], Tag::named(Role::Stage, 1, "pool1"));
                let flat = tape.apply(Op::Reshape { to: Shape::from([batch, self.arch.flat_features()]) }, &[h], Tag::named(Role::Stage, 1, "flatten"));
                let first_fc = if with_bn { 4 } else { 2 };
                let h = tape.apply(Op::Linear, &[flat, params[first_fc], params[first_fc + 1]], Tag::named(Role::PreActivation, 2, "fc1"));
                let mut h = tape.apply(Op::Relu, &[h], Tag::named(Role::Activation, 2, "relu2"));
                if let (Phase::Train(rng), true) = (&mut phase, dropout > 0.0) {
                    h = super::dropout_node(tape, h, dropout as f64, rng, (Tag::named(Role::Mask, 2, "mask2"), Tag::named(Role::Dropped, 2, "dropout2")));
                }
                (h, first_fc + 2)
            }
        };
        let last = self.arch.tags().last().map_or(0, |t| t.layer as usize);
        let logits = tape.apply(Op::Linear, &[h, params[fc], params[fc + 1]], Tag::named(Role::Output, last, "fc2"));
        ImageNodes { params, logits, conv, batch_norm }
    }

    /// After a training forward: moves the running statistics towards the batch's (PyTorch's
    /// rule: `running ← (1 − m)·running + m·batch`, with the unbiased batch variance).
    pub fn update_running_stats(&mut self, tape: &Tape, nodes: &ImageNodes) {
        let Some(bn) = nodes.batch_norm else { return };
        let Saved::Moments { mean, var } = tape.saved(bn) else { return };
        let [n, c, h, w] = tape.value(tape.node(bn).inputs[0]).dims();
        let m = (n * h * w) as f64;
        let unbiased = var.clone().mul_scalar(m / (m - 1.0).max(1.0));
        let blend = |running: &T, batch: T| running.clone().mul_scalar(1.0 - BN_MOMENTUM).add(batch.reshape([1, 1, 1, c]).mul_scalar(BN_MOMENTUM));
        self.buffers = vec![blend(&self.buffers[0], mean.clone()), blend(&self.buffers[1], unbiased)];
        self.batches_tracked += 1;
    }
}

/// The batch norm after the convolution, in training and evaluation.
const BN1: Tag = Tag { role: Role::Stage, layer: 1, name: Some("bn1") };

