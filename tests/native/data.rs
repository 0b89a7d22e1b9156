//! Image datasets: the MNIST and Fashion-MNIST bundles `./x` builds match the published data
//! (SHA-256 of every part, sizes, class counts); bad bundles are refused with a message that names
//! the part; a seeded mutation fuzzer (100k cases on the unzipped parts and on the gzip stream,
//! `GRADLAB_FUZZ_CASES` for more) finds no panic, and whatever is accepted is well formed.

use std::io::Write;

use gradlab::data::images::{DataError, ImageData, ImageDataset, MAX_BUNDLE_BYTES, MAX_GZIP_BYTES, Verify, parse_bundle, parse_parts};
use gradlab::engine::{Rng, Stream};

use crate::support::{fuzz_cases, mutate};

/// An IDX file of u8 images (`[count, rows, cols]`) or labels (`[count]`).
fn idx(dims: &[u32], body: &[u8]) -> Vec<u8> {
    let magic: u32 = if dims.len() == 3 { 0x0803 } else { 0x0801 };
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(body);
    out
}

/// A small bundle (unzipped): 3 training and 2 test images of 5 × 4 pixels.
fn small_parts() -> Vec<u8> {
    let pixels = |n: usize| (0..n * 20).map(|i| (i * 37 % 256) as u8).collect::<Vec<u8>>();
    [idx(&[3, 5, 4], &pixels(3)), idx(&[3], &[7, 0, 9]), idx(&[2, 5, 4], &pixels(2)), idx(&[2], &[1, 2])].concat()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// What an accepted bundle must be: consistent sizes and labels 0–9.
fn assert_well_formed(d: &ImageData, case: usize) {
    for set in [&d.train, &d.test] {
        assert!(!set.is_empty(), "case {case}: an empty split was accepted");
        assert_eq!(set.pixels.len(), set.len() * set.rows * set.cols, "case {case}: pixels do not fit the images");
        assert!(set.labels.iter().all(|&l| l <= 9), "case {case}: a label outside 0–9 was accepted");
    }
}

#[test]
fn the_bundles_built_by_x_are_the_published_datasets() {
    let Ok(dir) = std::env::var("GRADLAB_DATA") else {
        eprintln!("GRADLAB_DATA is not set: run through ./x test (it builds target/data and sets it)");
        return;
    };
    for kind in ImageDataset::ALL {
        let path = std::path::Path::new(&dir).join(kind.file_name());
        let gz = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let data = parse_bundle(&gz, Verify::Sums(&kind.sums())).unwrap_or_else(|e| panic!("{}: {e}", kind.key()));
        assert_eq!((data.train.len(), data.test.len()), (60_000, 10_000), "{}", kind.key());
        assert_eq!((data.train.rows, data.train.cols), (28, 28));
        let counts = data.train.class_counts(10);
        match kind {
            // ../shared/TOOLCHAIN.md: the class counts of MNIST's training set.
            ImageDataset::Mnist => assert_eq!(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
            ImageDataset::FashionMnist => assert_eq!(counts, [6000; 10]),
        }
        assert_eq!(data.test.class_counts(10).iter().sum::<usize>(), 10_000);
    }
}

#[test]
fn bad_bundles_are_refused_with_a_message_naming_the_part() {
    let good = small_parts();
    let d = parse_bundle(&gzip(&good), Verify::StructureOnly).expect("the small bundle is valid");
    assert_eq!((d.train.len(), d.test.len(), d.train.rows, d.train.cols), (3, 2, 5, 4));
    assert_eq!(d.train.labels, [7, 0, 9]);
    assert_eq!(d.test.image(1), &good[16 + 60 + 8 + 3 + 16 + 20..16 + 60 + 8 + 3 + 16 + 40]);

    let refused = |bytes: &[u8]| parse_parts(bytes, Verify::StructureOnly).expect_err("must be refused");
    // Not the published data: the sums say which part.
    let e = parse_bundle(&gzip(&good), Verify::Sums(&ImageDataset::Mnist.sums())).unwrap_err();
    assert!(matches!(e, DataError::Checksum { part: "train images", .. }), "{e}");
    // Cut short inside the test images.
    let e = refused(&good[..good.len() - 15]);
    assert!(matches!(e, DataError::Truncated { part: "test images", .. }), "{e}");
    assert!(e.to_string().contains("cut short"), "{e}");
    // A gzip stream cut short.
    let gz = gzip(&good);
    assert!(matches!(parse_bundle(&gz[..gz.len() / 2], Verify::StructureOnly), Err(DataError::Gzip(_))));
    assert!(matches!(parse_bundle(b"<!doctype html>not found", Verify::StructureOnly), Err(DataError::Gzip(_))));
    // Labels where images belong.
    let e = refused(&[idx(&[3], &[1, 2, 3]), good.clone()].concat());
    assert!(matches!(e, DataError::Magic { part: "train images", found: 0x0801, .. }), "{e}");
    // A label out of range, and a count mismatch.
    let mut bad_label = good.clone();
    bad_label[16 + 60 + 8 + 1] = 12;
    assert!(matches!(refused(&bad_label), DataError::Label { part: "train labels", index: 1, label: 12 }));
    let mismatch = [idx(&[3, 5, 4], &[0; 60]), idx(&[2], &[1, 2]), idx(&[2, 5, 4], &[0; 40]), idx(&[2], &[1, 2])].concat();
    assert!(matches!(refused(&mismatch), DataError::Count { split: "train", images: 3, labels: 2 }));
    // Trailing bytes; test images of another size.
    assert_eq!(refused(&[good.clone(), vec![0; 5]].concat()), DataError::Trailing(5));
    let other = [idx(&[1, 5, 4], &[0; 20]), idx(&[1], &[1]), idx(&[1, 4, 5], &[0; 20]), idx(&[1], &[1])].concat();
    assert!(matches!(refused(&other), DataError::Shape { part: "test images", .. }));
    // A header that asks for far more than is there is measured, not allocated.
    let huge = idx(&[100_000, 64, 64], &[0; 10]);
    assert!(matches!(refused(&huge), DataError::Truncated { part: "train images", need: 409_600_016, have: 26 }));
    assert!(matches!(refused(&idx(&[5, 4000, 4000], &[])), DataError::Shape { .. }));
    // Too large before unzipping, and a small file that unzips to too much.
    assert!(matches!(parse_bundle(&vec![0; MAX_GZIP_BYTES + 1], Verify::StructureOnly), Err(DataError::TooLarge { .. })));
    let bomb = gzip(&vec![0; MAX_BUNDLE_BYTES + 10]);
    assert!(bomb.len() < 1 << 20);
    assert!(matches!(parse_bundle(&bomb, Verify::StructureOnly), Err(DataError::TooLarge { .. })));
}

#[test]
fn fuzzed_bundles_never_panic() {
    let cases = fuzz_cases();
    let good = small_parts();
    let good_gz = gzip(&good);
    let mut rng = Rng::new(23, Stream::Data);
    let (mut accepted, mut refused) = (0usize, 0usize);
    for case in 0..cases {
        // Half the cases mutate the unzipped parts (the structure checks), half the gzip stream.
        let (result, what) = if case % 2 == 0 {
            let bytes = mutate(&mut rng, &good, &[0, 1, 3, 8, 9, 10, 0xff]);
            (std::panic::catch_unwind(|| parse_parts(&bytes, Verify::StructureOnly)), bytes)
        } else {
            let bytes = mutate(&mut rng, &good_gz, &[0, 0x1f, 0x8b, 8, 0xff]);
            (std::panic::catch_unwind(|| parse_bundle(&bytes, Verify::StructureOnly)), bytes)
        };
        match result.unwrap_or_else(|_| panic!("case {case}: the reader panicked on {what:?}")) {
            Ok(d) => {
                accepted += 1;
                assert_well_formed(&d, case);
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    eprintln!("fuzz: {cases} data files read, {accepted} accepted, {refused} refused with a message, no panic");
    assert!(refused > cases / 2, "the fuzzer mostly makes bad files ({refused} refused)");
}
