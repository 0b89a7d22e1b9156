//! Helpers shared by the test modules.

use gradlab::backend;
use gradlab::engine::Rng;

/// The GPU backend (natively: wgpu on Vulkan, lavapipe on a machine without a GPU).
pub fn gpu() -> Option<burn::tensor::Device> {
    match backend::native_gpu() {
        Ok(d) => Some(d),
        Err(e) if std::env::var("GRADLAB_SKIP_GPU").is_ok() => {
            eprintln!("skipping GPU test: {e}");
            None
        }
        Err(e) => panic!("no GPU backend ({e}); install mesa-vulkan-drivers (./x setup) or set GRADLAB_SKIP_GPU=1"),
    }
}

/// Cases per fuzz test: 100k, or `GRADLAB_FUZZ_CASES` (1M by hand).
pub fn fuzz_cases() -> usize {
    std::env::var("GRADLAB_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

/// Mutates `good` like the link fuzzer does: byte flips, truncation, insertions of bytes that
/// matter to the format, deletions, and repeated chunks.
pub fn mutate(rng: &mut Rng, good: &[u8], specials: &[u8]) -> Vec<u8> {
    let mut bytes = good.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] = rng.below(256) as u8;
            }
            1 if !bytes.is_empty() => bytes.truncate(rng.below(bytes.len())),
            2 => {
                let i = rng.below(bytes.len() + 1);
                bytes.insert(i, pick(rng, specials));
            }
            3 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes.remove(i);
            }
            4 if bytes.len() > 2 => {
                let (a, b) = (rng.below(bytes.len()), rng.below(bytes.len()));
                let (a, b) = (a.min(b), a.max(b));
                let chunk = bytes[a..b].to_vec();
                let at = rng.below(bytes.len());
                bytes.splice(at..at, chunk);
            }
            _ if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            _ => {}
        }
    }
    bytes
}

/// One of `all`, uniformly.
pub fn pick<X: Copy>(rng: &mut Rng, all: &[X]) -> X {
    all[rng.below(all.len())]
}

/// The MNIST bundle ./x builds, or `None` outside ./x test (said on stderr).
pub fn mnist() -> Option<gradlab::data::images::ImageData> {
    use gradlab::data::images::{ImageDataset, Verify, parse_bundle};
    let Ok(dir) = std::env::var("GRADLAB_DATA") else {
        eprintln!("GRADLAB_DATA is not set: run through ./x test (it builds target/data and sets it)");
        return None;
    };
    let path = std::path::Path::new(&dir).join(ImageDataset::Mnist.file_name());
    let gz = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(parse_bundle(&gz, Verify::Sums(&ImageDataset::Mnist.sums())).expect("the MNIST bundle"))
}

/// A trainer state's bytes `good`, damaged — cut short, extended, another version, and 3,000 random
/// mutations (`seed`) — are refused by `read` with a reason, never a panic or a huge allocation;
/// what still reads (a flipped value byte) goes to `take`, which must not panic either.
pub fn damaged_states_are_refused<S, E: std::fmt::Display>(good: &[u8], read: impl Fn(&[u8]) -> Result<S, E>, mut take: impl FnMut(S), seed: u64) {
    let refusal = |bytes: &[u8]| read(bytes).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(read(good).is_ok());
    assert!(refusal(&good[..good.len() - 1]).contains("cut short"));
    let mut longer = good.to_vec();
    longer.push(0);
    assert!(refusal(&longer).contains("after its end"));
    let mut other = good.to_vec();
    other[4] = 9;
    assert!(refusal(&other).contains("version 9"));
    assert!(refusal(b"").contains("cut short") && refusal(b"GLXX\x01\0\0\0").contains("mark"));
    let mut rng = Rng::new(seed, gradlab::engine::Stream::Data);
    let mut refused = 0;
    for _ in 0..3_000 {
        let bytes = mutate(&mut rng, good, &[0, 1, 0xff, 0x7f]);
        match read(&bytes) {
            Err(e) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
            Ok(state) => take(state),
        }
    }
    assert!(refused > 1_000, "most damage is seen: {refused} of 3000");
}
