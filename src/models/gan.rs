//! The essay's GAN (essay 001) on the tape: a generator and a discriminator, each a stack of
//! PyTorch `Linear` layers (weights `[out, in]`, named `g.fc1.weight`, `d.fc1.bias`, …), and the
//! two halves of a training step, corrected or as the essay wrote them ([`Recipe`]).
//!
//! The discriminator's last layer gives a logit; the sigmoid the essay puts after it is folded into
//! the loss ([`Op::BceWithLogits`]: the same function, computed stably). In the discriminator's
//! step the fakes pass through [`Op::StopGradient`], so nothing flows back into the generator; in
//! the generator's step the discriminator's weights enter the tape as constants, so only the
//! generator gets gradients. Each half is a tape of its own: one optimizer per network.

use burn::tensor::Device;

use crate::engine::{Leaf, Mode, NodeId, Op, Precision, Rng, Role, Shape, Stream, T, Tag, Tape, tensor_f64};

/// What follows a linear layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// `x if x > 0 else slope·x`.
    LeakyRelu(f32),
    /// `tanh x`.
    Tanh,
    /// `1/(1 + e^−x)`.
    Sigmoid,
    /// Nothing (the discriminator's logit).
    None,
}

impl Act {
    /// The factor that keeps a signal's variance through a layer of this activation (PyTorch's
    /// `calculate_gain`): √(2 / (1 + slope²)) for leaky ReLU, 5/3 for tanh, 1 otherwise.
    pub fn gain(&self) -> f64 {
        match *self {
            Act::LeakyRelu(slope) => (2.0 / (1.0 + slope as f64 * slope as f64)).sqrt(),
            Act::Tanh => 5.0 / 3.0,
            Act::Sigmoid | Act::None => 1.0,
        }
    }
}

/// How a GAN's weights are first drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Init {
    /// PyTorch's `Linear` default, the essay's: weight and bias uniform in ±1/√in. Each layer
    /// shrinks the signal's deviation about 2.5-fold, so the essay's five-layer generator starts
    /// as a near-constant function of z: its pixels vary by ≈ 0.004 from one z to another, and
    /// every z gets the same gradient (the seed of its mode collapse).
    #[default]
    PyTorch,
    /// Kaiming-style (He et al. 2015): weights uniform in ±gain·√(3/in) with the activation's
    /// gain, biases 0: each layer keeps its input's deviation, so G(z) depends on z from the start.
    Scaled,
}

impl Init {
    /// Both.
    pub const ALL: [Init; 2] = [Init::PyTorch, Init::Scaled];

    /// Its key in links and on the command line.
    pub fn key(&self) -> &'static str {
        match self {
            Init::PyTorch => "pytorch",
            Init::Scaled => "scaled",
        }
    }
}

/// One layer: inputs, outputs and the activation after it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layer {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// The activation after it.
    pub act: Act,
}

/// The GAN presets of the issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GanPreset {
    /// The essay's networks: G 100 → 256 → 512 → 1024 → 3000 → 784, D 784 → 1024 → 512 → 256 → 1.
    Essay,
    /// A small pair that learns digits in minutes on a laptop's CPU: G 64 → 256 → 784, D 784 → 256 → 1.
    Small,
}

const LEAK: Act = Act::LeakyRelu(0.2);

impl GanPreset {
    /// Both, in menu order.
    pub const ALL: [GanPreset; 2] = [GanPreset::Small, GanPreset::Essay];

    /// Its key (`gan-essay`, `gan-small`).
    pub fn key(&self) -> &'static str {
        match self {
            GanPreset::Essay => "gan-essay",
            GanPreset::Small => "gan-small",
        }
    }

    /// The latent size (z's length).
    pub fn latent(&self) -> usize {
        self.generator()[0].inputs
    }

    /// The generator's layers (the last gives pixels in [0, 1]).
    pub fn generator(&self) -> Vec<Layer> {
        let l = |inputs, outputs, act| Layer { inputs, outputs, act };
        match self {
            GanPreset::Essay => vec![l(100, 256, LEAK), l(256, 512, LEAK), l(512, 1024, LEAK), l(1024, 3000, Act::Tanh), l(3000, 784, Act::Sigmoid)],
            GanPreset::Small => vec![l(64, 256, LEAK), l(256, 784, Act::Sigmoid)],
        }
    }

    /// FLOPs of one training step (a D half and a G half), per sample: two per multiply-add. With
    /// g and d the networks' multiply-adds and g₀, d₀ their first layers' (whose input gradient
    /// nobody needs: z, the images and a detached G(z) take none):
    /// - corrected: D's half runs G forward (g; nothing flows back through the stop-gradient), then
    ///   D forward, weight and input gradients on a real and a fake batch (2 · (3d − d₀)); G's half
    ///   runs G and D forward (g + d), D's input gradients only (its weights are constants: d), G's
    ///   weight and input gradients (2g − g₀). In all 4g − g₀ + 8d − 2d₀.
    /// - as written: D's half is the same but on noise, and G(z) is not detached, so the gradient
    ///   also reaches G (3g − g₀ + 6d − d₀); G's half is G fitted to the batch with MSE (3g − g₀).
    pub fn train_flops_per_sample(&self, recipe: Recipe) -> f64 {
        let macs = |layers: &[Layer]| layers.iter().map(|l| l.inputs * l.outputs).sum::<usize>() as f64;
        let (gl, dl) = (self.generator(), self.discriminator());
        let (g, d, g0, d0) = (macs(&gl), macs(&dl), macs(&gl[..1]), macs(&dl[..1]));
        2.0 * match recipe {
            Recipe::Corrected => 4.0 * g - g0 + 8.0 * d - 2.0 * d0,
            Recipe::AsWritten => 6.0 * g - 2.0 * g0 + 6.0 * d - d0,
        }
    }

    /// The discriminator's layers (the last gives a logit).
    pub fn discriminator(&self) -> Vec<Layer> {
        let l = |inputs, outputs, act| Layer { inputs, outputs, act };
        match self {
            GanPreset::Essay => vec![l(784, 1024, LEAK), l(1024, 512, LEAK), l(512, 256, LEAK), l(256, 1, Act::None)],
            GanPreset::Small => vec![l(784, 256, LEAK), l(256, 1, Act::None)],
        }
    }
}

/// A stack of linear layers and its parameters (`[weight, bias]` per layer, PyTorch's layout).
#[derive(Clone, Debug)]
pub struct Stack {
    /// `g` or `d`: the first part of every parameter's name.
    pub prefix: &'static str,
    /// The layers.
    pub layers: Vec<Layer>,
    /// Weights `[out, in]` and biases `[out]`, layer by layer.
    pub params: Vec<T>,
}

/// Parameter names of up to 8 layers (`'static`, for the tape's tags).
const NAMES: [[&str; 16]; 2] = [
    [
        "g.fc1.weight", "g.fc1.bias", "g.fc2.weight", "g.fc2.bias", "g.fc3.weight", "g.fc3.bias", "g.fc4.weight", "g.fc4.bias",
        "g.fc5.weight", "g.fc5.bias", "g.fc6.weight", "g.fc6.bias", "g.fc7.weight", "g.fc7.bias", "g.fc8.weight", "g.fc8.bias",
    ],
    [
        "d.fc1.weight", "d.fc1.bias", "d.fc2.weight", "d.fc2.bias", "d.fc3.weight", "d.fc3.bias", "d.fc4.weight", "d.fc4.bias",
        "d.fc5.weight", "d.fc5.bias", "d.fc6.weight", "d.fc6.bias", "d.fc7.weight", "d.fc7.bias", "d.fc8.weight", "d.fc8.bias",
    ],
];

impl Stack {
    /// Fresh parameters from the seed's init stream (the generator first, then the discriminator:
    /// give each its own `rng` position by drawing them in that order), as `init` says.
    pub fn init(prefix: &'static str, layers: Vec<Layer>, rng: &mut Rng, init: Init, device: &Device, precision: Precision) -> Self {
        assert!(layers.len() <= 8 && (prefix == "g" || prefix == "d"), "at most 8 layers, prefix g or d");
        let mut params = Vec::new();
        for l in &layers {
            let (w, b): (Vec<f64>, Vec<f64>) = match init {
                Init::PyTorch => {
                    let bound = 1.0 / (l.inputs as f64).sqrt();
                    let w = (0..l.inputs * l.outputs).map(|_| rng.range(-bound, bound)).collect();
                    (w, (0..l.outputs).map(|_| rng.range(-bound, bound)).collect())
                }
                Init::Scaled => {
                    let bound = l.act.gain() * (3.0 / l.inputs as f64).sqrt();
                    ((0..l.inputs * l.outputs).map(|_| rng.range(-bound, bound)).collect(), vec![0.0; l.outputs])
                }
            };
            params.push(tensor_f64(&w, [l.outputs, l.inputs], device, precision));
            params.push(tensor_f64(&b, [l.outputs], device, precision));
        }
        Self { prefix, layers, params }
    }

    /// Parameter names, in `params` order.
    pub fn names(&self) -> &'static [&'static str] {
        let table = if self.prefix == "g" { &NAMES[0] } else { &NAMES[1] };
        &table[..2 * self.layers.len()]
    }

    /// How many numbers it learns.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| (l.inputs + 1) * l.outputs).sum()
    }

    /// Records the stack on `x` (`[batch, inputs]`). `trainable`: its parameters are the tape's
    /// parameters (they get gradients); otherwise constants (a frozen network). Returns the
    /// output node and the parameter leaves.
    pub fn forward(&self, tape: &mut Tape, x: NodeId, trainable: bool) -> (NodeId, Vec<NodeId>) {
        let leaves = self.leaves(tape, trainable);
        (self.apply(tape, x, &leaves), leaves)
    }

    /// Puts the parameters on the tape: as parameters, or as constants.
    pub fn leaves(&self, tape: &mut Tape, trainable: bool) -> Vec<NodeId> {
        let kind = if trainable { Leaf::Param } else { Leaf::Constant };
        let names = self.names();
        let mut leaves = Vec::new();
        for (k, l) in self.layers.iter().enumerate() {
            leaves.push(tape.leaf(kind, Tag::named(Role::Weight, k + 1, names[2 * k]), self.params[2 * k].clone(), [l.outputs, l.inputs]));
            leaves.push(tape.leaf(kind, Tag::named(Role::Bias, k + 1, names[2 * k + 1]), self.params[2 * k + 1].clone(), [l.outputs]));
        }
        leaves
    }

    /// The layers on `x`, with parameters already on the tape (used twice, their gradients add up).
    pub fn apply(&self, tape: &mut Tape, x: NodeId, leaves: &[NodeId]) -> NodeId {
        self.apply_dropping(tape, x, leaves, 0.0, None)
    }

    /// [`Stack::apply`] with inverted dropout at `rate` after every hidden layer's activation
    /// (PyTorch's `nn.Dropout` in training mode), masks drawn from `masks`; `rate` 0 or no `masks`:
    /// none.
    pub fn apply_dropping(&self, tape: &mut Tape, x: NodeId, leaves: &[NodeId], rate: f32, masks: Option<&mut Rng>) -> NodeId {
        self.apply_with_features(tape, x, leaves, rate, masks).1
    }

    /// [`Stack::apply_dropping`], also returning what enters the last layer: the stack's features
    /// (the input itself for a one-layer stack).
    pub fn apply_with_features(&self, tape: &mut Tape, x: NodeId, leaves: &[NodeId], rate: f32, mut masks: Option<&mut Rng>) -> (NodeId, NodeId) {
        let mut h = x;
        let mut features = x;
        let hidden = self.layers.len().saturating_sub(1);
        for (k, layer) in self.layers.iter().enumerate() {
            if k == hidden {
                features = h;
            }
            h = tape.apply(Op::Linear, &[h, leaves[2 * k], leaves[2 * k + 1]], Tag::layer(Role::PreActivation, k + 1));
            let op = match layer.act {
                Act::LeakyRelu(slope) => Some(Op::LeakyRelu { slope }),
                Act::Tanh => Some(Op::Tanh),
                Act::Sigmoid => Some(Op::Sigmoid),
                Act::None => None,
            };
            if let Some(op) = op {
                h = tape.apply(op, &[h], Tag::layer(Role::Activation, k + 1));
            }
            if let (Some(rng), true) = (masks.as_deref_mut(), rate > 0.0 && k < hidden) {
                let tags = (Tag::named(Role::Mask, k + 1, DROP_NAMES[k].0), Tag::named(Role::Dropped, k + 1, DROP_NAMES[k].1));
                h = super::dropout_node(tape, h, rate as f64, rng, tags);
            }
        }
        (features, h)
    }
}

/// The discriminator's dropout masks and outputs, by hidden layer.
const DROP_NAMES: [(&str, &str); 7] = [
    ("d.mask1", "d.dropout1"),
    ("d.mask2", "d.dropout2"),
    ("d.mask3", "d.dropout3"),
    ("d.mask4", "d.dropout4"),
    ("d.mask5", "d.dropout5"),
    ("d.mask6", "d.dropout6"),
    ("d.mask7", "d.dropout7"),
];

/// How the discriminator is held back while it trains; the essay has neither (both 0). Two usual
/// remedies for a discriminator that wins too fast (its verdict on fakes near 0, the generator
/// collapsing onto a few digits): dropout after each of its hidden layers in both halves (PyTorch's
/// training mode), and one-sided label smoothing (Salimans et al. 2016: its target for a real
/// image is `1 − smoothing`, for a fake still 0). A third blurs what D sees: instance noise
/// (Sønderby et al. 2016; Arjovsky & Bottou 2017), Gaussian noise of deviation σ added to every
/// image D judges, real and generated, in both halves. A generator's sigmoid never reaches MNIST's
/// exact-zero background, so without noise D can tell every fake by its background alone; with
/// noise the two distributions overlap and D's verdict keeps telling G something about digits.
/// None of the three changes a parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Restraint {
    /// Dropout rate after D's hidden layers, `[0, 1)`.
    pub dropout: f32,
    /// D's target for real images is `1 − smoothing`.
    pub smoothing: f32,
    /// σ of the instance noise added to every image D sees (0: none).
    pub noise: f32,
    /// Feature matching (Salimans et al. 2016), the generator's side: λ of the term
    /// `λ·½·mean_j (mean_batch f_j(x) − mean_batch f_j(G(z)))²` added to G's loss, where f is
    /// what enters D's last layer. It asks G's batch to look like a real batch on average, so a
    /// generator that gives every z the same digit pays for it (0: none).
    pub matching: f32,
}

/// A generator and a discriminator.
#[derive(Clone, Debug)]
pub struct Gan {
    /// The preset they were made from.
    pub preset: GanPreset,
    /// z → image (pixels in [0, 1]).
    pub generator: Stack,
    /// image → logit of "real".
    pub discriminator: Stack,
}

/// How a step trains the pair: the essay's loop as printed, or corrected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Recipe {
    /// D on real digits vs `G(z)` detached; G with the non-saturating loss `−log D(G(z))`.
    #[default]
    Corrected,
    /// The essay's loop as printed: D's "real" batch is Gaussian noise (`torch.randn`), the fakes
    /// are not detached (D's backward runs on into G; `g_optimizer.zero_grad()` then throws those
    /// gradients away), and G is fitted to the real batch with MSE from one fixed batch of z (the
    /// essay never defines `z`: we draw it once, at the start).
    AsWritten,
}

impl Recipe {
    /// Both, in menu order.
    pub const ALL: [Recipe; 2] = [Recipe::Corrected, Recipe::AsWritten];

    /// Its key in links and on the command line.
    pub fn key(&self) -> &'static str {
        match self {
            Recipe::Corrected => "corrected",
            Recipe::AsWritten => "essay",
        }
    }
}

/// The essay's loop, bug by bug: what it printed, what that does, and the fix (the page's errata).
pub const ERRATA: [(&str, &str, &str); 4] = [
    (
        "real = torch.randn(batch, 784): the discriminator's \"real\" batch is Gaussian noise",
        "D learns to tell noise from G's images; it never sees a digit, so nothing it could teach G is about digits",
        "the real batch is a batch of MNIST training images",
    ),
    (
        "g_loss = mse(G(z), images): the generator is fitted to the real batch",
        "each z is pulled towards the average of the digits it is paired with: G learns the mean digit, a blur, not a distribution; D plays no part in G's training",
        "G's loss comes from D: −log D(G(z)), the non-saturating loss",
    ),
    (
        "z is used but never defined",
        "the loop does not run as printed; we draw one batch of z at the start and keep it (any fixed batch behaves the same way)",
        "a fresh batch z ~ N(0, I) for every step",
    ),
    (
        "d_loss uses fake = G(z) without .detach()",
        "D's backward runs on through G and leaves gradients in G's parameters (the stepper shows them), which g_optimizer.zero_grad() then throws away: wasted work, and wrong updates in any loop that forgets that zero_grad",
        "D(G(z).detach()): the discriminator's step sends no gradient into the generator",
    ),
];

/// One half-step recorded on its tape: the loss node and the trained network's parameter leaves.
pub struct HalfStep {
    /// The tape (forward recorded; call `backward(loss)`).
    pub tape: Tape,
    /// The loss.
    pub loss: NodeId,
    /// The leaves of the network this half trains, in its `params` order.
    pub params: Vec<NodeId>,
    /// The leaves of the other network: constants or behind a stop-gradient (no gradient), except
    /// in the essay's discriminator step, whose backward reaches the generator.
    pub frozen: Vec<NodeId>,
    /// The discriminator's logits this half computed: `[on real, on fake]` in D's half, `[on
    /// fake]` in G's corrected half, none in the essay's G half.
    pub logits: Vec<NodeId>,
}

impl Gan {
    /// Both networks of a preset, drawn from the seed's init stream (generator first) as PyTorch's
    /// `Linear` draws them.
    pub fn init(preset: GanPreset, seed: u64, device: &Device, precision: Precision) -> Self {
        Self::init_with(preset, seed, Init::PyTorch, device, precision)
    }

    /// The same, drawn as `init` says.
    pub fn init_with(preset: GanPreset, seed: u64, init: Init, device: &Device, precision: Precision) -> Self {
        let mut rng = Rng::new(seed, Stream::Init);
        let generator = Stack::init("g", preset.generator(), &mut rng, init, device, precision);
        let discriminator = Stack::init("d", preset.discriminator(), &mut rng, init, device, precision);
        Self { preset, generator, discriminator }
    }

    /// The discriminator's half: `BCE(D(real), 1) + BCE(D(G(z)), 0)`, with `G(z)` behind a
    /// stop-gradient (the essay's loop left it attached). `real` is `[batch, 784]` in [0, 1],
    /// `z` `[batch, latent]`; `mode`: trace for the stepper, train to train.
    pub fn discriminator_step(&self, real: T, z: T, mode: Mode) -> HalfStep {
        self.discriminator_half(real, z, mode, Recipe::Corrected, Restraint::default(), &mut Rng::new(0, Stream::Dropout))
    }

    /// The discriminator's half of either recipe: corrected as [`Gan::discriminator_step`]; as
    /// written, `real` is the essay's noise batch and `G(z)` is not detached (the generator's
    /// leaves get gradients). `restraint` holds D back (dropout masks drawn from `masks`).
    pub fn discriminator_half(&self, real: T, z: T, mode: Mode, recipe: Recipe, restraint: Restraint, masks: &mut Rng) -> HalfStep {
        let batch = real.dims()[2];
        let mut tape = Tape::with_mode(mode);
        let zn = tape.leaf(Leaf::Input, Tag::named(Role::Input, 0, "z"), z, [batch, self.preset.latent()]);
        let (mut fake, frozen) = self.generator.forward(&mut tape, zn, true);
        if recipe == Recipe::Corrected {
            fake = tape.apply(Op::StopGradient, &[fake], Tag::named(Role::Stage, 0, "G(z), detached"));
        }
        let real_name = if recipe == Recipe::Corrected { "real" } else { "\"real\" = randn" };
        let mut xn = tape.leaf(Leaf::Input, Tag::named(Role::Input, 0, real_name), real, [batch, 784]);
        if restraint.noise > 0.0 {
            xn = self.blurred(&mut tape, xn, restraint.noise, masks, ["noise on real", "real + noise"]);
            fake = self.blurred(&mut tape, fake, restraint.noise, masks, ["noise on G(z)", "G(z) + noise"]);
        }
        let params = self.discriminator.leaves(&mut tape, true);
        let real_logit = self.discriminator.apply_dropping(&mut tape, xn, &params, restraint.dropout, Some(&mut *masks));
        let fake_logit = self.discriminator.apply_dropping(&mut tape, fake, &params, restraint.dropout, Some(masks));
        let ones = if restraint.smoothing > 0.0 {
            self.constant(&mut tape, 1.0 - restraint.smoothing as f64, batch, "1 − smoothing")
        } else {
            self.constant(&mut tape, 1.0, batch, "ones")
        };
        let zeros = self.constant(&mut tape, 0.0, batch, "zeros");
        let on_real = tape.apply(Op::BceWithLogits, &[real_logit, ones], Tag::named(Role::Loss, 0, "loss on real"));
        let on_fake = tape.apply(Op::BceWithLogits, &[fake_logit, zeros], Tag::named(Role::Loss, 0, "loss on fake"));
        let loss = tape.apply(Op::Add, &[on_real, on_fake], Tag::of(Role::Loss));
        HalfStep { tape, loss, params, frozen, logits: vec![real_logit, fake_logit] }
    }

    /// The generator's half, with the non-saturating loss `BCE(D(G(z)), 1) = −log D(G(z))`; the
    /// discriminator's weights are constants here.
    pub fn generator_step(&self, z: T, mode: Mode) -> HalfStep {
        self.generator_half(z, None, mode, Restraint::default(), &mut Rng::new(0, Stream::Dropout))
    }

    /// [`Gan::generator_step`] with D's dropout (masks from `masks`) as in its own half: in
    /// PyTorch's training mode D drops units in the generator's step too. Label smoothing is D's
    /// target only: G's stays 1.
    ///
    /// With feature matching (`restraint.matching > 0`) `real` is a batch of real images
    /// (`[rows, 784]`): D's features of it, averaged over the batch, are the target of G's.
    pub fn generator_half(&self, z: T, real: Option<T>, mode: Mode, restraint: Restraint, masks: &mut Rng) -> HalfStep {
        let batch = z.dims()[2];
        let mut tape = Tape::with_mode(mode);
        let zn = tape.leaf(Leaf::Input, Tag::named(Role::Input, 0, "z"), z, [batch, self.preset.latent()]);
        let (mut fake, params) = self.generator.forward(&mut tape, zn, true);
        if restraint.noise > 0.0 {
            fake = self.blurred(&mut tape, fake, restraint.noise, masks, ["noise on G(z)", "G(z) + noise"]);
        }
        let frozen = self.discriminator.leaves(&mut tape, false);
        let (features, logit) = self.discriminator.apply_with_features(&mut tape, fake, &frozen, restraint.dropout, Some(&mut *masks));
        let ones = self.constant(&mut tape, 1.0, batch, "ones");
        let real = real.filter(|_| restraint.matching > 0.0);
        let Some(real) = real else {
            let loss = tape.apply(Op::BceWithLogits, &[logit, ones], Tag::of(Role::Loss));
            return HalfStep { tape, loss, params, frozen, logits: vec![logit] };
        };
        let adversarial = tape.apply(Op::BceWithLogits, &[logit, ones], Tag::named(Role::Loss, 0, "−log D(G(z))"));
        let rows = real.dims()[2];
        let mut xn = tape.leaf(Leaf::Input, Tag::named(Role::Input, 0, "real"), real, [rows, 784]);
        if restraint.noise > 0.0 {
            xn = self.blurred(&mut tape, xn, restraint.noise, masks, ["noise on real", "real + noise"]);
        }
        let (real_features, _) = self.discriminator.apply_with_features(&mut tape, xn, &frozen, restraint.dropout, Some(masks));
        let fake_mean = self.batch_mean(&mut tape, features, batch, "mean f(G(z))");
        let real_mean = self.batch_mean(&mut tape, real_features, rows, "mean f(x)");
        let gap = tape.apply(Op::Mse, &[fake_mean, real_mean], Tag::named(Role::Loss, 0, "feature gap"));
        let lambda = self.scalar(&mut tape, restraint.matching as f64, "λ");
        let matched = tape.apply(Op::Mul, &[gap, lambda], Tag::named(Role::Loss, 0, "λ·feature gap"));
        let loss = tape.apply(Op::Add, &[adversarial, matched], Tag::of(Role::Loss));
        HalfStep { tape, loss, params, frozen, logits: vec![logit] }
    }

    /// The mean of `x` (`[rows, k]`) over its rows, `[1, k]`: a row of `1/rows` times `x`.
    fn batch_mean(&self, tape: &mut Tape, x: NodeId, rows: usize, name: &'static str) -> NodeId {
        let row = self.tensor(&vec![1.0 / rows as f64; rows], [1, rows]);
        let row = tape.leaf(Leaf::Constant, Tag::named(Role::Target, 0, "1/batch"), row, [1, rows]);
        tape.apply(Op::MatMul, &[row, x], Tag::named(Role::Stage, 0, name))
    }

    /// The essay's generator half as written: `G(z)` fitted to the real batch with PyTorch's
    /// `MSELoss`, `mean((G(z) − x)²)` (twice the engine's ½-mean MSE); the discriminator takes no
    /// part (its leaves are not on the tape: `frozen` is empty).
    pub fn essay_generator_step(&self, z: T, real: T, mode: Mode) -> HalfStep {
        let batch = z.dims()[2];
        let mut tape = Tape::with_mode(mode);
        let zn = tape.leaf(Leaf::Input, Tag::named(Role::Input, 0, "z (fixed)"), z, [batch, self.preset.latent()]);
        let (fake, params) = self.generator.forward(&mut tape, zn, true);
        let xn = tape.leaf(Leaf::Constant, Tag::named(Role::Target, 0, "real"), real, [batch, 784]);
        let half = tape.apply(Op::Mse, &[fake, xn], Tag::named(Role::Loss, 0, "½·mean((G(z) − x)²)"));
        let two = self.scalar(&mut tape, 2.0, "2");
        let loss = tape.apply(Op::Mul, &[half, two], Tag::of(Role::Loss));
        HalfStep { tape, loss, params, frozen: Vec::new(), logits: Vec::new() }
    }

    /// The generator's images for `z` (`[rows, latent]`): `[rows, 784]`, pixels in [0, 1].
    pub fn generate(&self, z: T) -> T {
        let rows = z.dims()[2];
        let mut tape = Tape::with_mode(Mode::Train);
        let zn = tape.leaf(Leaf::Input, "z", z, [rows, self.preset.latent()]);
        let (out, _) = self.generator.forward(&mut tape, zn, false);
        tape.value(out).clone()
    }

    /// `x + σ·ε`, ε ~ N(0, I) drawn from `rng` (the dropout stream: drawn only when σ > 0, so a run
    /// without noise draws what it always drew): the noise is a leaf of its own, so the stepper
    /// shows it and the gradient passes through the sum to `x` unchanged.
    fn blurred(&self, tape: &mut Tape, x: NodeId, sigma: f32, rng: &mut Rng, names: [&'static str; 2]) -> NodeId {
        let shape = tape.shape(x);
        let values: Vec<f64> = (0..shape.numel()).map(|_| sigma as f64 * rng.normal()).collect();
        let noise = self.tensor(&values, shape);
        let noise = tape.leaf(Leaf::Input, Tag::named(Role::Input, 0, names[0]), noise, shape);
        tape.apply(Op::Add, &[x, noise], Tag::named(Role::Stage, 0, names[1]))
    }

    fn constant(&self, tape: &mut Tape, value: f64, batch: usize, name: &'static str) -> NodeId {
        let t = self.tensor(&vec![value; batch], [batch, 1]);
        tape.leaf(Leaf::Constant, Tag::named(Role::Target, 0, name), t, [batch, 1])
    }

    /// A constant scalar leaf.
    fn scalar(&self, tape: &mut Tape, value: f64, name: &'static str) -> NodeId {
        let t = self.tensor(&[value], Shape::scalar());
        tape.leaf(Leaf::Constant, Tag::named(Role::Target, 0, name), t, Shape::scalar())
    }

    /// `values` as a tensor of `shape` on the networks' device, in their precision.
    fn tensor(&self, values: &[f64], shape: impl Into<Shape>) -> T {
        let like = &self.discriminator.params[0];
        tensor_f64(values, shape, &like.device(), super::precision_of(like))
    }
}
