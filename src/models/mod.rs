//! Models built on the tape: the playground's and the stepper's multilayer perceptron (here), and
//! the image classifiers with PyTorch's names ([`image`]).
//!
//! Parameters are named by path — `l1.w` (`[inputs, outputs]`), `l1.b` (`[1, outputs]`), layers
//! counted from 1 — and those names are what the UI, share links and weight files use.

pub mod gan;
pub mod image;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::engine::{Leaf, NodeId, Op, Precision, Rng, Role, Stream, T, Tag, Tape, tensor_f64};

/// Activation of a hidden layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x)
    Relu,
    /// max(0.01·x, x)
    LeakyRelu,
    /// tanh x
    Tanh,
    /// 1/(1+e^(−x))
    Sigmoid,
    /// x
    Linear,
}

impl Activation {
    /// Every activation, in display order.
    pub const ALL: [Activation; 5] =
        [Activation::Relu, Activation::LeakyRelu, Activation::Tanh, Activation::Sigmoid, Activation::Linear];

    /// The URL/CLI key.
    pub fn key(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leakyrelu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Linear => "linear",
        }
    }

    /// Parses a key.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key() == key)
    }

    /// The tape op that computes it.
    pub fn op(&self) -> Op {
        match self {
            Activation::Relu => Op::Relu,
            Activation::LeakyRelu => Op::LeakyRelu { slope: 0.01 },
            Activation::Tanh => Op::Tanh,
            Activation::Sigmoid => Op::Sigmoid,
            Activation::Linear => Op::Identity,
        }
    }
}

/// Dropout applied after every hidden activation while training.
pub struct Dropout<'a> {
    /// Probability of dropping a unit, in `[0, 1)`.
    pub rate: f64,
    /// The experiment's dropout stream.
    pub rng: &'a mut Rng,
}

/// The nodes one forward pass of an [`Mlp`] recorded.
#[derive(Clone, Debug)]
pub struct MlpNodes {
    /// The parameter leaves, in [`Mlp::names`] order.
    pub params: Vec<NodeId>,
    /// The output of every hidden layer (after activation and dropout), first layer first.
    pub hidden: Vec<NodeId>,
    /// The output layer's pre-activation (logits, or the regression output).
    pub output: NodeId,
}

/// A fully connected network: `sizes[0]` inputs, hidden layers, `sizes.last()` outputs.
#[derive(Clone, Debug)]
pub struct Mlp {
    /// Units per layer, inputs first.
    pub sizes: Vec<usize>,
    /// Activation of each hidden layer (`sizes.len() − 2` of them).
    pub activations: Vec<Activation>,
    /// `[l1.w, l1.b, l2.w, l2.b, …]`.
    pub params: Vec<T>,
}

impl Mlp {
    /// Glorot-uniform weights and zero biases, drawn from the seed's init stream.
    ///
    /// # Shapes
    /// `lK.w`: `[sizes[K−1], sizes[K]]`, `lK.b`: `[1, sizes[K]]`.
    pub fn init(sizes: &[usize], activations: &[Activation], seed: u64, device: &Device, precision: Precision) -> Self {
        Self::from_values(sizes, activations, &Self::initial_values(sizes, seed), device, precision)
    }

    /// A network with the given parameter values (in [`Mlp::names`] order, each of its shape).
    pub fn from_values(sizes: &[usize], activations: &[Activation], values: &[Vec<f64>], device: &Device, precision: Precision) -> Self {
        assert_eq!(activations.len(), sizes.len().saturating_sub(2), "one activation per hidden layer");
        let params = values.iter().zip(param_shapes(sizes)).map(|(v, shape)| tensor_f64(v, shape, device, precision)).collect();
        Self { sizes: sizes.to_vec(), activations: activations.to_vec(), params }
    }

    /// The values [`Mlp::init`] uploads, on the host: what a trainer can fall back on before
    /// anything was read from its device.
    pub fn initial_values(sizes: &[usize], seed: u64) -> Vec<Vec<f64>> {
        assert!(sizes.len() >= 2, "a network needs inputs and outputs");
        let mut rng = Rng::new(seed, Stream::Init);
        let mut params = Vec::new();
        for pair in sizes.windows(2) {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let limit = libm::sqrt(6.0 / (fan_in + fan_out) as f64);
            params.push((0..fan_in * fan_out).map(|_| rng.range(-limit, limit)).collect());
            params.push(vec![0.0; fan_out]);
        }
        params
    }

    /// Parameter paths, in `params` order.
    pub fn names(&self) -> Vec<String> {
        param_names(&self.sizes)
    }

    /// Shapes of the parameters, in `params` order.
    pub fn shapes(&self) -> Vec<[usize; 2]> {
        param_shapes(&self.sizes)
    }

    /// Records the forward pass of `x` (`[batch, sizes[0]]`) on `tape`.
    pub fn forward(&self, tape: &mut Tape, x: NodeId, mut dropout: Option<Dropout<'_>>) -> MlpNodes {
        let params: Vec<NodeId> = self
            .params
            .iter()
            .zip(self.shapes())
            .enumerate()
            .map(|(i, (p, s))| tape.leaf(Leaf::Param, Tag::layer(if i % 2 == 0 { Role::Weight } else { Role::Bias }, i / 2 + 1), p.clone(), s))
            .collect();
        let layers = self.sizes.len() - 1;
        let mut h = x;
        let mut hidden = Vec::new();
        for l in 0..layers {
            // Named `a` (not `h1·l2.w`, which reads as a product of names): the stepper shows it as
            // a₂ = h₁·W₂.
            let z = tape.apply(Op::MatMul, &[h, params[2 * l]], Tag::layer(Role::Product, l + 1));
            let z = tape.apply(Op::Add, &[z, params[2 * l + 1]], Tag::layer(Role::PreActivation, l + 1));
            if l + 1 == layers {
                return MlpNodes { params, hidden, output: z };
            }
            h = tape.apply(self.activations[l].op(), &[z], Tag::layer(Role::Activation, l + 1));
            if let Some(d) = dropout.as_mut().filter(|d| d.rate > 0.0) {
                h = dropout_node(tape, h, d.rate, d.rng, (Tag::layer(Role::Mask, l + 1), Tag::layer(Role::Dropped, l + 1)));
            }
            hidden.push(h);
        }
        unreachable!("the loop returns at the output layer")
    }

    /// The weight matrices' indices in `params` (penalties apply to weights, not biases).
    pub fn weight_indices(&self) -> impl Iterator<Item = usize> {
        (0..self.sizes.len() - 1).map(|l| 2 * l)
    }
}

/// Parameter paths of an MLP with these layer sizes: `l1.w`, `l1.b`, `l2.w`, …
pub fn param_names(sizes: &[usize]) -> Vec<String> {
    (1..sizes.len()).flat_map(|l| [format!("l{l}.w"), format!("l{l}.b")]).collect()
}

/// Shapes of those parameters: `lK.w` is `[sizes[K−1], sizes[K]]`, `lK.b` is `[1, sizes[K]]`.
pub fn param_shapes(sizes: &[usize]) -> Vec<[usize; 2]> {
    sizes.windows(2).flat_map(|p| [[p[0], p[1]], [1, p[1]]]).collect()
}

/// Inverted dropout on `h`: a mask leaf (each unit dropped when a draw from `rng` falls below
/// `rate`) and the dropout node, tagged `tags` (mask, output).
pub(crate) fn dropout_node(tape: &mut Tape, h: NodeId, rate: f64, rng: &mut Rng, tags: (Tag, Tag)) -> NodeId {
    let shape = tape.shape(h);
    let keep: Vec<f64> = (0..shape.numel()).map(|_| if rng.uniform() < rate { 0.0 } else { 1.0 }).collect();
    let value = tape.value(h);
    let mask = tape.leaf(Leaf::Constant, tags.0, tensor_f64(&keep, shape, &value.device(), precision_of(value)), shape);
    tape.apply(Op::Dropout { rate: rate as f32 }, &[h, mask], tags.1)
}

/// The precision a tensor was created with.
pub fn precision_of(t: &T) -> Precision {
    if t.dtype() == burn::tensor::DType::F64 { Precision::F64 } else { Precision::F32 }
}
