//! What a node is in its model, as data: its role, its layer and, where the model has one, its
//! own name.
//!
//! The stepper places a node on the network diagram and reads the layer sizes from these fields;
//! nothing parses a label. Text is made only when something is shown ([`Tag::label`]): a training
//! step builds no strings. A playground network's names follow from role and layer (`l2.w`,
//! `a2`, `z2`, `h2`, `h2′`, `mask2`, `penalty(l2.w)`); an image model names its stages
//! (`conv1.weight`, `pool1`) with `'static` strings of PyTorch's naming.

use std::borrow::Cow;

/// The part a node plays in its model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The batch fed in (`x`).
    Input,
    /// What the model should output (`y`).
    Target,
    /// A layer's weight (`lK.w`, `fcK.weight`, `conv1.weight`).
    Weight,
    /// A layer's bias (`lK.b`) or another trainable per-unit vector (batch norm's γ, β).
    Bias,
    /// A value a layer keeps that is not trained (batch norm's running statistics).
    Buffer,
    /// A dropout mask (`maskK`).
    Mask,
    /// The input times a layer's weights (`aK = hK−1·WK`).
    Product,
    /// A layer's value before its activation (`zK = aK + bK`).
    PreActivation,
    /// A layer's activation (`hK`).
    Activation,
    /// An activation after dropout (`hK′`).
    Dropped,
    /// The network's prediction (`ŷ`).
    Output,
    /// The data loss.
    Loss,
    /// A weight penalty (`penalty(lK.w)`).
    Penalty,
    /// The loss plus the penalties.
    Total,
    /// Any other stage of a model (a convolution, a pooling, a flatten), named by the model.
    Stage,
}

/// A node's role and layer (1-based; 0 for what belongs to no layer), and the model's own name
/// for it where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    /// What it is.
    pub role: Role,
    /// Which layer it belongs to; 0 for inputs, targets and losses.
    pub layer: u8,
    /// The model's name for it; `None` for names that follow from role and layer.
    pub name: Option<&'static str>,
}

impl Tag {
    /// A node of a playground network, named by role and layer.
    pub fn layer(role: Role, layer: usize) -> Tag {
        Tag { role, layer: layer.min(u8::MAX as usize) as u8, name: None }
    }

    /// A node of no layer (`x`, `y`, `ŷ`, `loss`).
    pub fn of(role: Role) -> Tag {
        Tag { role, layer: 0, name: None }
    }

    /// A node the model names itself.
    pub fn named(role: Role, layer: usize, name: &'static str) -> Tag {
        Tag { role, layer: layer.min(u8::MAX as usize) as u8, name: Some(name) }
    }

    /// The text shown for it.
    pub fn label(&self) -> Cow<'static, str> {
        if let Some(name) = self.name {
            return Cow::Borrowed(name);
        }
        let k = self.layer;
        match self.role {
            Role::Input => "x".into(),
            Role::Target => "y".into(),
            Role::Output => "ŷ".into(),
            Role::Loss => "loss".into(),
            Role::Total => "loss + penalty".into(),
            Role::Weight => format!("l{k}.w").into(),
            Role::Bias => format!("l{k}.b").into(),
            Role::Mask => format!("mask{k}").into(),
            Role::Product => format!("a{k}").into(),
            Role::PreActivation => format!("z{k}").into(),
            Role::Activation => format!("h{k}").into(),
            Role::Dropped => format!("h{k}′").into(),
            Role::Penalty => format!("penalty(l{k}.w)").into(),
            Role::Buffer => format!("buffer{k}").into(),
            Role::Stage => format!("stage{k}").into(),
        }
    }
}

/// A bare name is a stage of no layer: for small graphs built by hand (tests, examples).
impl From<&'static str> for Tag {
    fn from(name: &'static str) -> Tag {
        Tag::named(Role::Stage, 0, name)
    }
}
