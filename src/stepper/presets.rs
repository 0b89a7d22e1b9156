//! The stepper's presets: small networks with every number given, as data. One table, one
//! code path ([`Preset::record`]): an MLP with one hidden activation, an output activation and
//! the ½·mean-squared-error loss, on a fixed batch.

use burn::tensor::Device;

use crate::engine::{Leaf, NodeId, Op, OptimizerKind, Precision, Role, T, Tag, Tape, tensor_f64};
use crate::models::{Activation, Mlp};

/// What a worked example printed, and what is right.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Erratum {
    /// The quantity.
    pub what: &'static str,
    /// What the essay printed.
    pub printed: &'static str,
    /// The correct value, and why.
    pub right: &'static str,
}

/// A preset: a network, its parameters, one batch, the loss and the optimizer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preset {
    /// Short name, used in links (`preset=essay-relu`).
    pub key: &'static str,
    /// Title shown in the page.
    pub title: &'static str,
    /// What it is and the choices made where the source was silent.
    pub about: &'static str,
    /// Units per layer, inputs first.
    pub sizes: &'static [usize],
    /// Activation of every hidden layer.
    pub hidden: Activation,
    /// Activation of the output unit(s) (`Linear`: none).
    pub output: Activation,
    /// The batch, row-major `[rows, sizes[0]]`.
    pub x: &'static [f64],
    /// The targets, row-major `[rows, outputs]`.
    pub y: &'static [f64],
    /// `l1.w, l1.b, l2.w, …` row-major; `lK.w[i][j]` is the weight from unit i to unit j.
    pub params: &'static [&'static [f64]],
    /// The update rule.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// What the source printed wrong (empty for our own presets).
    pub errata: &'static [Erratum],
}

/// Every preset.
pub static PRESETS: &[Preset] = &[
    Preset {
        key: "xor-2-2-1",
        title: "XOR, 2-2-1 sigmoid network, MSE",
        about: "The classic: the four XOR points as one batch, two sigmoid hidden units, a sigmoid \
                output, loss ½·mean((ŷ − y)²) over the 4 rows, plain SGD with η = 0.5. Starting weights \
                are the textbook worked example's (0.15, 0.20, 0.25, 0.30, biases 0.35; output 0.40, 0.45, \
                bias 0.60).",
        sizes: &[2, 2, 1],
        hidden: Activation::Sigmoid,
        output: Activation::Sigmoid,
        x: &[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        y: &[0.0, 1.0, 1.0, 0.0],
        params: &[&[0.15, 0.25, 0.20, 0.30], &[0.35, 0.35], &[0.40, 0.45], &[0.60]],
        optimizer: OptimizerKind::Sgd,
        lr: 0.5,
        errata: &[],
    },
    Preset {
        key: "essay-relu",
        title: "The ReLU essay's worked example",
        about: "Input x = (1, 2); hidden unit 1 computes z₁ = w₁₁x₁ + w₁₂x₂ + b₁ with w₁₁ = 0.1, w₁₂ = 0.2, \
                b₁ = 0.5; unit 2 z₂ = w₂₁x₁ + w₂₂x₂ + b₂ with w₂₁ = 0.3, w₂₂ = 0.4, b₂ = 0.6; ReLU; target \
                y = 1; loss ½(ŷ − y)²; SGD, η = 0.01. The essay does not give the output layer; we use one \
                linear unit ŷ = v₁h₁ + v₂h₂ + c with v₁ = v₂ = 0.5 and c = 0 (l2.w, l2.b). In gradlab's \
                layout l1.w[i][j] is the weight from input i to unit j, so w₁₂ (x₂ → unit 1) is l1.w.1.0 \
                and w₂₁ (x₁ → unit 2) is l1.w.0.1.",
        sizes: &[2, 2, 1],
        hidden: Activation::Relu,
        output: Activation::Linear,
        x: &[1.0, 2.0],
        y: &[1.0],
        params: &[&[0.1, 0.3, 0.2, 0.4], &[0.5, 0.6], &[0.5, 0.5], &[0.0]],
        optimizer: OptimizerKind::Sgd,
        lr: 0.01,
        errata: &[
            Erratum {
                what: "z₁ = 0.1·1 + 0.2·2 + 0.5",
                printed: "1.1",
                right: "1.0 (0.1 + 0.4 + 0.5); the essay's later numbers that use z₁ change with it",
            },
        ],
    },
    Preset {
        key: "essay-sigmoid",
        title: "The sigmoid essay's multilayer perceptron",
        about: "2 inputs, a hidden layer of 3, 1 output; every weight and bias 1; input x = (1, 0); \
                sigmoid on the hidden and output layers; loss ½(ŷ − y)². The essay gives no target: we \
                use y = 0. SGD, η = 0.1 (also not given).",
        sizes: &[2, 3, 1],
        hidden: Activation::Sigmoid,
        output: Activation::Sigmoid,
        x: &[1.0, 0.0],
        y: &[0.0],
        params: &[&[1.0; 6], &[1.0; 3], &[1.0; 3], &[1.0]],
        optimizer: OptimizerKind::Sgd,
        lr: 0.1,
        errata: &[
            Erratum {
                what: "hidden z = 1·1 + 1·0 + 1",
                printed: "4",
                right: "2 (the input x₂ = 0 contributes nothing)",
            },
            Erratum { what: "hidden σ(z)", printed: "1", right: "σ(2) = 1/(1 + e⁻²) ≈ 0.880797" },
            Erratum {
                what: "output z = 1·a₁ + 1·a₂ + 1·a₃ + 1",
                printed: "4",
                right: "3·0.880797 + 1 ≈ 3.642391",
            },
            Erratum { what: "output σ(z)", printed: "1", right: "σ(3.642391) ≈ 0.974479" },
            Erratum {
                what: "gradients such as −2(a₂ − a₃)",
                printed: "−2(a₂ − a₃)",
                right: "the chain rule: ∂L/∂ŷ = ŷ − y ≈ 0.974479; ∂L/∂z_out = (ŷ − y)·ŷ(1 − ŷ) ≈ 0.024235; \
                        ∂L/∂(each hidden weight from x₁) = ∂L/∂z_out · 1 · σ′(2) ≈ 0.002545. With \
                        L = (ŷ − y)² instead of ½(ŷ − y)² every gradient doubles; the sign and the σ′ \
                        factors are not optional",
            },
        ],
    },
];

/// The preset with this key.
pub fn preset(key: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.key == key)
}

impl Preset {
    /// Rows of the batch.
    pub fn rows(&self) -> usize {
        self.x.len() / self.sizes[0]
    }

    /// The starting parameters as tensors.
    pub fn initial_params(&self, device: &Device, precision: Precision) -> Vec<T> {
        let shapes = crate::models::param_shapes(self.sizes);
        self.params.iter().zip(shapes).map(|(v, s)| tensor_f64(v, s, device, precision)).collect()
    }

    /// Records the forward pass and loss of the batch with the given parameters. Returns the
    /// tape, the loss node and the parameter nodes (in `l1.w, l1.b, …` order).
    pub fn record(&self, params: &[T]) -> (Tape, NodeId, Vec<NodeId>) {
        let device = params[0].device();
        let precision = crate::models::precision_of(&params[0]);
        let rows = self.rows();
        let outputs = *self.sizes.last().expect("sizes");
        let mlp = Mlp {
            sizes: self.sizes.to_vec(),
            activations: vec![self.hidden; self.sizes.len() - 2],
            params: params.to_vec(),
        };
        let mut tape = Tape::new();
        let x = tape.leaf(Leaf::Input, Tag::of(Role::Input), tensor_f64(self.x, [rows, self.sizes[0]], &device, precision), [rows, self.sizes[0]]);
        let y = tape.leaf(Leaf::Constant, Tag::of(Role::Target), tensor_f64(self.y, [rows, outputs], &device, precision), [rows, outputs]);
        let nodes = mlp.forward(&mut tape, x, None);
        let prediction = match self.output {
            Activation::Linear => nodes.output,
            act => tape.apply(act.op(), &[nodes.output], Tag::of(Role::Output)),
        };
        let loss = tape.apply(Op::Mse, &[prediction, y], Tag::of(Role::Loss));
        (tape, loss, nodes.params)
    }
}
