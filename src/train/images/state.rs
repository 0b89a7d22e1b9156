//! An image trainer's training state on the host: the weights, batch norm's statistics, the
//! optimizer's state and step count, the steps done, the batch order and where each of its random
//! streams stands, and the running sums of the epoch's batches. It is what training changes, so a
//! trainer built from the same config and data and given this state goes on exactly as the one it
//! came from — bit for bit, since both run the same code. The page's Web Worker trains this way
//! (`ui::worker`): the state crosses to it and back as one byte buffer ([`TrainerState::to_bytes`]).
//!
//! The data splits are not in it: both sides build them from the same images.

use super::{EpochOrder, EpochSums, ImageTrainer};
use crate::engine::{EngineError, Rng, RngPosition, T, read, tensor_from_vec};
pub use crate::train::state_bytes::StateError;
use crate::train::state_bytes::{Reader, put_header, put_list, put_stream, put_u32s, put_u64};

/// A tensor's values on the host, with its stored (rank-4) dims.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// The stored dims.
    pub dims: [usize; 4],
    /// Row-major values.
    pub values: Vec<f32>,
}

/// What an [`ImageTrainer`]'s training changes (see the module's comment).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerState {
    /// Steps done.
    pub step: u64,
    /// The parameters, in the model's order.
    pub params: Vec<HostTensor>,
    /// Batch norm's running mean and variance (none without batch norm).
    pub buffers: Vec<HostTensor>,
    /// Batch norm's count of training batches.
    pub batches_tracked: u64,
    /// The optimizer's update count (Adam's t).
    pub optimizer_t: u64,
    /// Its velocities or moments (none before the first update, or with plain SGD).
    pub optimizer: Vec<HostTensor>,
    /// This pass's order of the training images, and how far the batches have come.
    pub order: Vec<u32>,
    /// The next batch's first place in `order`.
    pub cursor: u64,
    /// The batch order's, dropout's and augmentation's random streams.
    pub streams: [RngPosition; 3],
    /// Since the epoch means were last taken: the batch losses' sum, the right answers' count,
    /// batches and images.
    pub sums: Option<(HostTensor, HostTensor, u64, u64)>,
}

/// A trainer's state with its tensors still where they are (handles, cheap to take): taken at
/// once from a trainer in use, read back afterwards without holding it.
pub struct PendingState {
    step: u64,
    params: Vec<T>,
    buffers: Vec<T>,
    batches_tracked: u64,
    optimizer_t: u64,
    optimizer: Vec<T>,
    order: Vec<u32>,
    cursor: u64,
    streams: [RngPosition; 3],
    sums: Option<(T, T, u64, u64)>,
}

async fn host(t: &T) -> Result<HostTensor, EngineError> {
    Ok(HostTensor { dims: t.dims(), values: read(t).await? })
}

async fn hosts(tensors: &[T]) -> Result<Vec<HostTensor>, EngineError> {
    let mut out = Vec::with_capacity(tensors.len());
    for t in tensors {
        out.push(host(t).await?);
    }
    Ok(out)
}

impl PendingState {
    /// Reads the tensors back (on the CPU at once).
    pub async fn read(self) -> Result<TrainerState, EngineError> {
        let sums = match &self.sums {
            Some((loss, right, batches, images)) => Some((host(loss).await?, host(right).await?, *batches, *images)),
            None => None,
        };
        Ok(TrainerState {
            step: self.step,
            params: hosts(&self.params).await?,
            buffers: hosts(&self.buffers).await?,
            batches_tracked: self.batches_tracked,
            optimizer_t: self.optimizer_t,
            optimizer: hosts(&self.optimizer).await?,
            order: self.order,
            cursor: self.cursor,
            streams: self.streams,
            sums,
        })
    }
}

impl ImageTrainer {
    /// The training state as it is now, its tensors not yet read back.
    pub fn pending_state(&self) -> PendingState {
        PendingState {
            step: self.step,
            params: self.model.params.clone(),
            buffers: self.model.buffers.clone(),
            batches_tracked: self.model.batches_tracked,
            optimizer_t: self.optimizer.t,
            optimizer: self.optimizer.state_tensors().into_iter().cloned().collect(),
            order: self.order.order.iter().map(|&i| i as u32).collect(),
            cursor: self.order.cursor as u64,
            streams: [self.order.rng.position(), self.dropout_rng.position(), self.augment_rng.position()],
            sums: self.epoch_sums.as_ref().map(|s| (s.loss.clone(), s.right.clone(), s.batches as u64, s.images as u64)),
        }
    }

    /// The training state, read back from the device (on the CPU at once).
    pub async fn state(&self) -> Result<TrainerState, EngineError> {
        self.pending_state().read().await
    }

    /// Takes in a state of a trainer of the same model and training images; refused, changing
    /// nothing, when it does not fit.
    pub fn restore(&mut self, state: TrainerState) -> Result<(), StateError> {
        let mismatch = |what: String| Err(StateError::Mismatch(what));
        let whole = |h: &HostTensor| h.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) == Some(h.values.len());
        let fits = |mine: &[T], theirs: &[HostTensor]| mine.len() == theirs.len() && mine.iter().zip(theirs).all(|(a, b)| a.dims() == b.dims && whole(b));
        if !fits(&self.model.params, &state.params) {
            return mismatch("its parameters have other shapes".into());
        }
        if !fits(&self.model.buffers, &state.buffers) {
            return mismatch("its batch norm statistics have other shapes".into());
        }
        // Velocities (momentum) or moments (Adam): one or two per parameter, each of its shape.
        let per_param = self.optimizer.config.kind.state_per_param();
        let optimizer_fits = state.optimizer.is_empty()
            || (per_param > 0
                && state.optimizer.len() == per_param * self.model.params.len()
                && state.optimizer.iter().enumerate().all(|(i, s)| s.dims == state.params[i / per_param].dims && whole(s)));
        if !optimizer_fits {
            return mismatch("its optimizer state has other shapes".into());
        }
        let n = self.train_len();
        if state.order.len() != n || state.order.iter().any(|&i| i as usize >= n) || usize::try_from(state.cursor).map_or(true, |c| c > n) {
            return mismatch(format!("its batch order is not one of {n} training images"));
        }
        if let Some((loss, right, ..)) = &state.sums {
            if loss.values.len() != 1 || right.values.len() != 1 || !whole(loss) || !whole(right) {
                return mismatch("its epoch sums are not single numbers".into());
            }
        }
        let device = self.device.clone();
        let upload = |h: HostTensor| tensor_from_vec(h.values, h.dims, &device);
        self.model.params = state.params.into_iter().map(upload).collect();
        self.model.buffers = state.buffers.into_iter().map(upload).collect();
        self.model.batches_tracked = state.batches_tracked;
        let tensors: Vec<T> = state.optimizer.into_iter().map(upload).collect();
        if tensors.is_empty() {
            self.optimizer.replace_state_tensors(Vec::new());
        } else {
            let restored = self.optimizer.restore_state(state.optimizer_t, tensors, self.model.params.len());
            debug_assert!(restored, "checked above");
        }
        self.optimizer.t = state.optimizer_t;
        self.step = state.step;
        let [batches, dropout, augment] = state.streams;
        self.order = EpochOrder {
            order: state.order.into_iter().map(|i| i as usize).collect(),
            cursor: state.cursor as usize,
            rng: Rng::at(&batches),
            last: self.order.last,
        };
        self.dropout_rng = Rng::at(&dropout);
        self.augment_rng = Rng::at(&augment);
        self.epoch_sums = state.sums.map(|(loss, right, batches, images)| EpochSums {
            loss: upload(loss),
            right: upload(right),
            batches: batches as usize,
            images: images as usize,
        });
        Ok(())
    }
}

/// The format's first bytes, then its version.
const MAGIC: &[u8; 4] = b"GLTS";
const VERSION: u32 = 1;

impl TrainerState {
    /// The state as one byte buffer (`train::state_bytes`' form; read by [`TrainerState::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let floats = |ts: &[HostTensor]| ts.iter().map(|t| t.values.len()).sum::<usize>();
        let mut out = Vec::with_capacity(256 + 4 * (floats(&self.params) + floats(&self.optimizer) + floats(&self.buffers) + self.order.len()));
        put_header(&mut out, MAGIC, VERSION);
        for v in [self.step, self.batches_tracked, self.optimizer_t, self.cursor] {
            put_u64(&mut out, v);
        }
        for list in [&self.params, &self.buffers, &self.optimizer] {
            put_list(&mut out, list, write_tensor);
        }
        put_u32s(&mut out, &self.order);
        for p in &self.streams {
            put_stream(&mut out, p);
        }
        match &self.sums {
            None => out.push(0),
            Some((loss, right, batches, images)) => {
                out.push(1);
                write_tensor(&mut out, loss);
                write_tensor(&mut out, right);
                put_u64(&mut out, *batches);
                put_u64(&mut out, *images);
            }
        }
        out
    }

    /// Reads [`TrainerState::to_bytes`]'s form; anything else (cut short, trailing bytes, another
    /// version) is refused with what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        let mut r = Reader::new(bytes, MAGIC, VERSION)?;
        let [step, batches_tracked, optimizer_t, cursor] = r.u64s()?;
        // A tensor is at least its four dimensions.
        let params = r.list(4 * 8, read_tensor)?;
        let buffers = r.list(4 * 8, read_tensor)?;
        let optimizer = r.list(4 * 8, read_tensor)?;
        let order = r.u32s()?;
        let streams = [r.stream()?, r.stream()?, r.stream()?];
        let sums = match r.take(1)?[0] {
            0 => None,
            1 => Some((read_tensor(&mut r)?, read_tensor(&mut r)?, r.u64()?, r.u64()?)),
            other => return Err(StateError::Malformed(format!("epoch sums marked {other}"))),
        };
        r.end()?;
        Ok(Self { step, params, buffers, batches_tracked, optimizer_t, optimizer, order, cursor, streams, sums })
    }
}

/// A tensor's dims, then its values (their count is the dims' product).
fn write_tensor(out: &mut Vec<u8>, t: &HostTensor) {
    for d in t.dims {
        put_u64(out, d as u64);
    }
    for v in &t.values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn read_tensor(r: &mut Reader) -> Result<HostTensor, StateError> {
    let mut dims = [0usize; 4];
    for d in &mut dims {
        *d = usize::try_from(r.u64()?).map_err(|_| StateError::Malformed("a dimension too large".into()))?;
    }
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| StateError::Malformed("a tensor too large".into()))?;
    Ok(HostTensor { dims, values: r.f32s_of(n)? })
}
