//! The byte form in which a trainer's state crosses to the page's Web Worker and back (`ui::worker`):
//! a four-byte mark and a version, then little-endian numbers. Shared by the image trainer's
//! `TrainerState` and the playground's `PlayState`.
//!
//! Key decision: the bytes come from another thread and are treated as untrusted: every count is
//! checked against the bytes left before anything is allocated, and every read is bounded, so
//! damaged bytes are refused with what is wrong — never a panic, never a huge allocation.

use thiserror::Error;

use crate::engine::RngPosition;

/// Why a state cannot be taken in.
#[derive(Debug, Error, PartialEq)]
pub enum StateError {
    /// The bytes are not a state (cut short, or another format).
    #[error("not a training state: {0}")]
    Malformed(String),
    /// A state of another model or data set.
    #[error("the training state does not fit this trainer: {0}")]
    Mismatch(String),
}

/// Appends the format's mark and version.
pub(crate) fn put_header(out: &mut Vec<u8>, magic: &[u8; 4], version: u32) {
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends `values` after their count.
pub(crate) fn put_f32s(out: &mut Vec<u8>, values: &[f32]) {
    put_u64(out, values.len() as u64);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends `values` after their count.
pub(crate) fn put_u32s(out: &mut Vec<u8>, values: &[u32]) {
    put_u64(out, values.len() as u64);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends `items` after their count, each by `put`.
pub(crate) fn put_list<T>(out: &mut Vec<u8>, items: &[T], put: impl Fn(&mut Vec<u8>, &T)) {
    put_u64(out, items.len() as u64);
    for item in items {
        put(out, item);
    }
}

/// Appends a random stream's position.
pub(crate) fn put_stream(out: &mut Vec<u8>, p: &RngPosition) {
    out.extend_from_slice(&p.seed);
    put_u64(out, p.stream);
    out.extend_from_slice(&p.word.to_le_bytes());
}

/// Reads a byte buffer front to back, refusing to run past its end.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes` past their mark and version, which must be `magic` and `version`.
    pub(crate) fn new(bytes: &'a [u8], magic: &[u8; 4], version: u32) -> Result<Self, StateError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != magic {
            return Err(StateError::Malformed("it does not start with the state's mark".into()));
        }
        let found = u32::from_le_bytes(r.array()?);
        if found != version {
            return Err(StateError::Malformed(format!("version {found}, expected {version}")));
        }
        Ok(r)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], StateError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| StateError::Malformed(format!("cut short at byte {} of {}", self.bytes.len(), self.at.saturating_add(n))))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], StateError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `N` numbers in a row ([`put_u64`]'s form each).
    pub(crate) fn u64s<const N: usize>(&mut self) -> Result<[u64; N], StateError> {
        let mut out = [0; N];
        for v in &mut out {
            *v = self.u64()?;
        }
        Ok(out)
    }

    /// [`put_list`]'s form: a count, checked against the bytes left for items of at least `least`
    /// bytes each, then the items, each by `read`.
    pub(crate) fn list<T>(&mut self, least: usize, mut read: impl FnMut(&mut Self) -> Result<T, StateError>) -> Result<Vec<T>, StateError> {
        let n = self.count(least)?;
        (0..n).map(|_| read(self)).collect()
    }

    /// A count of items of at least `least` bytes each, checked against the bytes left (so a
    /// corrupt count cannot ask for a huge allocation).
    pub(crate) fn count(&mut self, least: usize) -> Result<usize, StateError> {
        let n = self.u64()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n.saturating_mul(least as u64) > left {
            return Err(StateError::Malformed(format!("{n} items cannot fit in the {left} bytes left")));
        }
        Ok(n as usize)
    }

    /// `n` floats (their count already read).
    pub(crate) fn f32s_of(&mut self, n: usize) -> Result<Vec<f32>, StateError> {
        let raw = self.take(n.checked_mul(4).ok_or_else(|| StateError::Malformed("a tensor too large".into()))?)?;
        Ok(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
    }

    /// [`put_f32s`]'s form.
    pub(crate) fn f32s(&mut self) -> Result<Vec<f32>, StateError> {
        let n = self.count(4)?;
        self.f32s_of(n)
    }

    /// [`put_u32s`]'s form.
    pub(crate) fn u32s(&mut self) -> Result<Vec<u32>, StateError> {
        let n = self.count(4)?;
        (0..n).map(|_| self.array().map(u32::from_le_bytes)).collect()
    }

    /// [`put_stream`]'s form.
    pub(crate) fn stream(&mut self) -> Result<RngPosition, StateError> {
        Ok(RngPosition { seed: self.array()?, stream: self.u64()?, word: u128::from_le_bytes(self.array()?) })
    }

    /// Checks that nothing is left.
    pub(crate) fn end(&self) -> Result<(), StateError> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            left => Err(StateError::Malformed(format!("{left} bytes after its end"))),
        }
    }
}
