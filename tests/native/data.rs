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
        let counts = data.train.class_counts();
        match kind {
            // ../shared/TOOLCHAIN.md: the class counts of MNIST's training set.
            ImageDataset::Mnist => assert_eq!(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
            ImageDataset::FashionMnist => assert_eq!(counts, [6000; 10]),
        }
        assert_eq!(data.test.class_counts().iter().sum::<usize>(), 10_000);
    }
}

#[test]
fn bad_bundles_are_refused_with_a_message_naming_the_part() {
    let good = small_parts();
    let d = parse_bundle(&gzip(&good), Verify::StructureOnly).expect("the small bundle is valid");
    assert_eq!((d.train.len(), d.test.len(), d.train.rows, d.train.cols), (3, 2, 5, 4));
    assert_eq!(d.train.labels, [7, 0, 9]);
    assert_eq!(d.test.image(1), &good[16 + 60 + 8 + 3 + 16 + 20..16 + 60 + 8 + 3 + 16 + 40]);

    let refused = |bytes: &[u8]| parse_parts(bytes.to_vec(), Verify::StructureOnly).expect_err("must be refused");
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
    assert!(matches!(parse_bundle(&bomb, Verify::StructureOnly), Err(DataError::UnzipsTooLarge { .. })));
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
            (std::panic::catch_unwind(|| parse_parts(bytes.clone(), Verify::StructureOnly)), bytes)
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

mod transforms {
    use gradlab::data::digits::{Augment, SIDE, digit_from_drawing, transform};
    use gradlab::data::images::{ImageDataset, Verify, parse_bundle};
    use gradlab::engine::{Rng, Stream};

    fn dot(rows: usize, cols: usize, at: (usize, usize), value: u8) -> Vec<u8> {
        let mut img = vec![0; rows * cols];
        img[at.0 * cols + at.1] = value;
        img
    }

    fn find(img: &[u8], cols: usize) -> Vec<(usize, usize, u8)> {
        img.iter().enumerate().filter(|(_, v)| **v > 0).map(|(i, v)| (i / cols, i % cols, *v)).collect()
    }

    #[test]
    fn shifts_move_pixels_exactly_and_rotations_turn_about_the_centre() {
        let img: Vec<u8> = (0..28 * 28).map(|i| (i * 7 % 256) as u8).collect();
        let mut out = vec![0; 28 * 28];
        transform(&img, 28, 28, 0.0, 0.0, 0.0, &mut out);
        assert_eq!(out, img, "no shift, no rotation: the same image");
        transform(&dot(28, 28, (10, 12), 200), 28, 28, 2.0, -1.0, 0.0, &mut out);
        assert_eq!(find(&out, 28), [(12, 11, 200)], "2 rows down, 1 column left");
        // 90° counter-clockwise as displayed: the top middle goes to the left middle, the right
        // middle to the top middle (5 × 5: the centre is a pixel).
        let mut small = vec![0; 25];
        transform(&dot(5, 5, (0, 2), 255), 5, 5, 0.0, 0.0, 90.0, &mut small);
        assert_eq!(find(&small, 5), [(2, 0, 255)]);
        transform(&dot(5, 5, (2, 4), 255), 5, 5, 0.0, 0.0, 90.0, &mut small);
        assert_eq!(find(&small, 5), [(0, 2, 255)]);
        // A small rotation keeps the ink's mass (bilinear weights sum to 1 inside the frame).
        let blob: Vec<u8> = (0..28 * 28).map(|i| if (10..18).contains(&(i / 28)) && (11..17).contains(&(i % 28)) { 180 } else { 0 }).collect();
        transform(&blob, 28, 28, 1.0, 2.0, 9.0, &mut out);
        let (a, b) = (blob.iter().map(|&v| v as f64).sum::<f64>(), out.iter().map(|&v| v as f64).sum::<f64>());
        assert!((a - b).abs() / a < 0.02, "mass {a} → {b}");
    }

    #[test]
    fn augmentation_is_seeded_bounded_and_keeps_the_stream_aligned() {
        let img = dot(28, 28, (14, 14), 250);
        let run = |aug: Augment, seed: u64| {
            let mut rng = Rng::new(seed, Stream::Augment);
            let mut out = vec![0; 28 * 28];
            let outs: Vec<Vec<u8>> = (0..20)
                .map(|_| {
                    aug.apply(&img, 28, 28, &mut rng, &mut out);
                    out.clone()
                })
                .collect();
            (outs, rng.next_u64())
        };
        let (a, after_a) = run(Augment::DIGITS, 3);
        let (b, _) = run(Augment::DIGITS, 3);
        let (c, _) = run(Augment::DIGITS, 4);
        assert_eq!(a, b, "the same seed, the same images");
        assert_ne!(a, c, "another seed, other images");
        let (none, after_none) = run(Augment::NONE, 3);
        assert!(none.iter().all(|o| *o == img), "no augmentation leaves images alone");
        assert_eq!(after_a, after_none, "three draws per image whatever the settings");
        let (shifted, _) = run(Augment { max_shift: 2, max_degrees: 0.0 }, 5);
        let mut moves = std::collections::BTreeSet::new();
        for o in &shifted {
            let [(r, c, v)] = find(o, 28)[..] else { panic!("a shifted dot stays one pixel: {:?}", find(o, 28)) };
            assert_eq!(v, 250);
            assert!(r.abs_diff(14) <= 2 && c.abs_diff(14) <= 2, "moved to ({r}, {c})");
            moves.insert((r, c));
        }
        assert!(moves.len() > 5, "shifts vary: {moves:?}");
    }

    #[test]
    fn a_drawing_becomes_an_mnist_style_digit() {
        assert_eq!(digit_from_drawing(&vec![0; 200 * 200], 200, 200), None, "nothing drawn");
        assert_eq!(digit_from_drawing(&vec![5; 50 * 40], 50, 40), None, "faint noise is not ink");
        // A tall bar anywhere in the drawing: fitted to 20 rows (7 columns), centred by its mass.
        let mut canvas = vec![0u8; 200 * 200];
        for r in 30..150 {
            for c in 70..110 {
                canvas[r * 200 + c] = 255;
            }
        }
        let digit = digit_from_drawing(&canvas, 200, 200).expect("a digit");
        assert_eq!(digit.len(), SIDE * SIDE);
        let ink = find(&digit, SIDE);
        let rows: Vec<usize> = ink.iter().map(|p| p.0).collect();
        let cols: Vec<usize> = ink.iter().map(|p| p.1).collect();
        assert_eq!(rows.iter().max().unwrap() - rows.iter().min().unwrap() + 1, 20);
        assert_eq!(cols.iter().max().unwrap() - cols.iter().min().unwrap() + 1, 7);
        let mass: f64 = ink.iter().map(|p| p.2 as f64).sum();
        // The centre of mass on pixel (14, 14), within the half pixel that whole-pixel placement allows.
        let centre = |f: fn(&(usize, usize, u8)) -> usize| ink.iter().map(|p| p.2 as f64 * f(p) as f64).sum::<f64>() / mass;
        assert!((centre(|p| p.0) - 14.0).abs() <= 0.5 && (centre(|p| p.1) - 14.0).abs() <= 0.5);
        assert!(ink.iter().all(|p| p.2 == 255), "a solid bar stays solid");
    }

    /// MNIST digits drawn large (each pixel a 3 × 3 block, as on a draw pad) come back as
    /// themselves: the preprocessing is MNIST's own (bounding box, fit, centre of mass).
    #[test]
    fn mnist_digits_drawn_large_come_back_as_themselves() {
        let Ok(dir) = std::env::var("GRADLAB_DATA") else {
            eprintln!("GRADLAB_DATA is not set: run through ./x test");
            return;
        };
        let gz = std::fs::read(std::path::Path::new(&dir).join(ImageDataset::Mnist.file_name())).expect("the MNIST bundle");
        let data = parse_bundle(&gz, Verify::Sums(&ImageDataset::Mnist.sums())).expect("MNIST");
        let n = 200;
        let mut total = 0.0;
        for i in 0..n {
            let img = data.test.image(i);
            let big: Vec<u8> = (0..84 * 84).map(|k| img[(k / 84 / 3) * 28 + (k % 84) / 3]).collect();
            let back = digit_from_drawing(&big, 84, 84).expect("ink");
            total += correlation(img, &back);
        }
        let mean = total / n as f64;
        eprintln!("mean correlation of {n} redrawn MNIST digits with the originals: {mean:.3}");
        assert!(mean > 0.99, "mean correlation {mean}");
    }

    fn correlation(a: &[u8], b: &[u8]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().map(|&v| v as f64).sum::<f64>() / n, b.iter().map(|&v| v as f64).sum::<f64>() / n);
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (x as f64 - ma, y as f64 - mb);
            sab += x * y;
            saa += x * x;
            sbb += y * y;
        }
        sab / (saa * sbb).sqrt()
    }
}
