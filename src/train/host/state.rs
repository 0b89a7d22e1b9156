//! The playground trainer's training state on the host path: the parameters, the optimizer's
//! state and update count, the steps and samples done, the batch order with its cursor, and where
//! the batch and dropout streams stand. It is all a host step changes, so a trainer of the same
//! config given this state goes on exactly as the one it came from — bit for bit, since both run
//! the same plan. The page's Web Worker trains the playground this way (`ui::worker`): the state
//! crosses to it and back as one byte buffer ([`PlayState::to_bytes`]), a few kilobytes at most.
//!
//! The data splits are not in it: both sides generate them from the config's seed.

use super::super::Trainer;
use crate::engine::{Rng, RngPosition};
use crate::train::state_bytes::{Reader, StateError, put_f32s, put_header, put_list, put_stream, put_u32s, put_u64};

/// What a playground trainer's host steps change (see the module's comment).
#[derive(Clone, Debug, PartialEq)]
pub struct PlayState {
    /// Steps done.
    pub step: u64,
    /// Training samples seen (the epoch shown is this over the training points).
    pub samples: u64,
    /// The parameters' values, in `Mlp::names` order.
    pub params: Vec<Vec<f32>>,
    /// The optimizer's update count (Adam's t).
    pub optimizer_t: u64,
    /// Its velocities or moments, in `Optimizer::state_tensors` order (none before the first
    /// update, or with plain SGD).
    pub optimizer: Vec<Vec<f32>>,
    /// This pass's order of the training points.
    pub order: Vec<u32>,
    /// The next batch's first place in `order` (its length: shuffle first).
    pub cursor: u64,
    /// The batch order's and dropout's random streams.
    pub streams: [RngPosition; 2],
}

impl Trainer {
    /// The training state on the host path (`None` where the trainer does not take it: a GPU, f64,
    /// burn's generic kernels).
    pub fn play_state(&mut self) -> Option<PlayState> {
        if !self.host_ready() {
            return None;
        }
        let host = self.host.as_ref()?;
        let n = self.order.len();
        Some(PlayState {
            step: self.step,
            samples: self.samples,
            params: host.params.iter().map(|&id| host.plan.value(id).to_vec()).collect(),
            optimizer_t: self.optimizer.t,
            optimizer: host.state.clone(),
            order: self.order.iter().map(|&i| i as u32).collect(),
            cursor: self.cursor.min(n) as u64,
            streams: [self.batch_rng.position(), self.dropout_rng.position()],
        })
    }

    /// Takes in a state of a trainer of the same config (on the host path); refused, changing
    /// nothing, when it does not fit.
    pub fn restore_play_state(&mut self, state: PlayState) -> Result<(), StateError> {
        let mismatch = |what: String| Err(StateError::Mismatch(what));
        if !self.host_ready() {
            return mismatch("this trainer does not take the host path".into());
        }
        let host = self.host.as_mut().expect("host_ready");
        let lens: Vec<usize> = host.params.iter().map(|&id| host.plan.value(id).len()).collect();
        if state.params.len() != lens.len() || state.params.iter().zip(&lens).any(|(p, &n)| p.len() != n) {
            return mismatch("its parameters have other shapes".into());
        }
        let per_param = self.optimizer.config.kind.state_per_param();
        let optimizer_fits = state.optimizer.is_empty()
            || (per_param > 0 && state.optimizer.len() == per_param * lens.len() && state.optimizer.iter().enumerate().all(|(i, s)| s.len() == lens[i / per_param]));
        if !optimizer_fits {
            return mismatch("its optimizer state has other shapes".into());
        }
        let n = self.order.len();
        if state.order.len() != n || state.order.iter().any(|&i| i as usize >= n) || state.cursor > n as u64 {
            return mismatch(format!("its batch order is not one of {n} training points"));
        }
        for (&id, values) in host.params.iter().zip(&state.params) {
            host.plan.leaf_mut(id).copy_from_slice(values);
        }
        host.state = state.optimizer;
        // `model` and `optimizer` are written from the host when next read.
        host.ahead = true;
        self.optimizer.t = state.optimizer_t;
        self.step = state.step;
        self.samples = state.samples;
        self.order = state.order.into_iter().map(|i| i as usize).collect();
        self.cursor = state.cursor as usize;
        let [batches, dropout] = state.streams;
        self.batch_rng = Rng::at(&batches);
        self.dropout_rng = Rng::at(&dropout);
        self.path = crate::train::StepPath::Host;
        Ok(())
    }
}

/// The format's first bytes, then its version.
const MAGIC: &[u8; 4] = b"GLPS";
const VERSION: u32 = 1;

impl PlayState {
    /// The state as one byte buffer (`train::state_bytes`' form; read by [`PlayState::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let floats: usize = self.params.iter().chain(&self.optimizer).map(Vec::len).sum();
        let mut out = Vec::with_capacity(256 + 8 * (self.params.len() + self.optimizer.len()) + 4 * (floats + self.order.len()));
        put_header(&mut out, MAGIC, VERSION);
        for v in [self.step, self.samples, self.optimizer_t, self.cursor] {
            put_u64(&mut out, v);
        }
        for list in [&self.params, &self.optimizer] {
            put_list(&mut out, list, |out, values| put_f32s(out, values));
        }
        put_u32s(&mut out, &self.order);
        for p in &self.streams {
            put_stream(&mut out, p);
        }
        out
    }

    /// Reads [`PlayState::to_bytes`]'s form; anything else (cut short, trailing bytes, another
    /// version) is refused with what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        let mut r = Reader::new(bytes, MAGIC, VERSION)?;
        let [step, samples, optimizer_t, cursor] = r.u64s()?;
        let params = r.list(8, Reader::f32s)?;
        let optimizer = r.list(8, Reader::f32s)?;
        let order = r.u32s()?;
        let streams = [r.stream()?, r.stream()?];
        r.end()?;
        Ok(Self { step, samples, params, optimizer_t, optimizer, order, cursor, streams })
    }
}
