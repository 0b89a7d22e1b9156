//! The tape: every node of one forward pass, in the order it was computed, and after
//! [`Tape::backward`] every node's upstream gradient and the gradients it passed to its inputs.
//!
//! Nodes are appended in evaluation order, so the reverse of the tape is a valid reverse
//! topological order: backward is one loop over the nodes from the end, one `Op::backward` call
//! each. Nothing is freed during backward, so the step-by-step view can walk every node's numbers
//! afterwards (`Node::value`, `Node::grad`, `Node::input_grads`).

use super::op::{Leaf, Op, T};

/// Index of a node on its tape.
pub type NodeId = usize;

/// One recorded computation.
#[derive(Clone, Debug)]
pub struct Node {
    /// What was computed.
    pub op: Op,
    /// The nodes it read, in the op's argument order.
    pub inputs: Vec<NodeId>,
    /// Its output.
    pub value: T,
    /// A human name: the parameter path (`l1.w`), or what the value means (`h1`, `loss`).
    pub label: String,
    /// Whether any gradient flows to this node (a parameter, or anything computed from one).
    pub requires_grad: bool,
    /// `∂L/∂value` after backward (the upstream gradient, summed over all uses).
    pub grad: Option<T>,
    /// The gradient this node passed to each of its inputs during backward.
    pub input_grads: Vec<Option<T>>,
}

/// A recording of one forward (and, after `backward`, one backward) pass.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    nodes: Vec<Node>,
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a leaf: data, a parameter or a constant.
    pub fn leaf(&mut self, kind: Leaf, label: impl Into<String>, value: T) -> NodeId {
        self.push(Op::Leaf(kind), Vec::new(), value, label.into(), kind == Leaf::Param)
    }

    /// Computes `op` on the given nodes and records it.
    pub fn apply(&mut self, op: Op, inputs: &[NodeId], label: impl Into<String>) -> NodeId {
        assert_eq!(inputs.len(), op.arity(), "{} takes {} inputs", op.name(), op.arity());
        let values: Vec<&T> = inputs.iter().map(|&i| &self.nodes[i].value).collect();
        let value = op.forward(&values);
        let requires_grad = inputs
            .iter()
            .enumerate()
            .any(|(k, &i)| op.differentiable_input(k) && self.nodes[i].requires_grad);
        self.push(op, inputs.to_vec(), value, label.into(), requires_grad)
    }

    fn push(&mut self, op: Op, inputs: Vec<NodeId>, value: T, label: String, requires_grad: bool) -> NodeId {
        self.nodes.push(Node { op, inputs, value, label, requires_grad, grad: None, input_grads: Vec::new() });
        self.nodes.len() - 1
    }

    /// Back-propagates from `loss` (a `[1,1]` node): fills `grad` of every node that requires
    /// one and `input_grads` of every op on the way.
    pub fn backward(&mut self, loss: NodeId) {
        for node in &mut self.nodes {
            node.grad = None;
            node.input_grads.clear();
        }
        let seed = self.nodes[loss].value.ones_like();
        self.nodes[loss].grad = Some(seed);
        for id in (0..=loss).rev() {
            let node = &self.nodes[id];
            let (Some(upstream), true) = (node.grad.clone(), node.requires_grad) else { continue };
            if matches!(node.op, Op::Leaf(_)) {
                continue;
            }
            let inputs: Vec<&T> = node.inputs.iter().map(|&i| &self.nodes[i].value).collect();
            let mut grads = node.op.backward(&inputs, &node.value, &upstream);
            for (k, &input) in node.inputs.clone().iter().enumerate() {
                if !self.nodes[input].requires_grad {
                    grads[k] = None;
                }
                if let Some(g) = &grads[k] {
                    let total = match self.nodes[input].grad.take() {
                        Some(previous) => previous.add(g.clone()),
                        None => g.clone(),
                    };
                    self.nodes[input].grad = Some(total);
                }
            }
            self.nodes[id].input_grads = grads;
        }
    }

    /// All nodes, in evaluation order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The value of a node.
    pub fn value(&self, id: NodeId) -> &T {
        &self.nodes[id].value
    }

    /// The gradient of a node after backward, if one reached it.
    pub fn grad(&self, id: NodeId) -> Option<&T> {
        self.nodes[id].grad.as_ref()
    }

    /// The gradients of the given nodes after backward, zeros for any that no gradient reached
    /// (what an optimizer expects: one gradient per parameter).
    pub fn grads_or_zeros(&self, ids: &[NodeId]) -> Vec<T> {
        ids.iter().map(|&id| self.grad(id).cloned().unwrap_or_else(|| self.value(id).zeros_like())).collect()
    }

    /// The nodes recorded as parameters, with their labels.
    pub fn params(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes.iter().enumerate().filter(|(_, n)| n.op == Op::Leaf(Leaf::Param))
    }
}
