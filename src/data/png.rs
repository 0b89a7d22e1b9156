//! A grayscale PNG writer for sample grids (`gradlab generate --out grid.png`): 8-bit gray,
//! no interlacing, each row filtered with "none", zlib-compressed by flate2.

use std::io::Write as _;

/// `images` (each `side × side`, values in [0, 1], ink high) tiled `columns` wide on a black
/// ground with a `gap`-pixel border, as a PNG file.
pub fn grid_png(images: &[f32], side: usize, columns: usize, gap: usize) -> Vec<u8> {
    let n = images.len() / (side * side);
    let rows = n.div_ceil(columns.max(1)).max(1);
    let (width, height) = (columns * (side + gap) + gap, rows * (side + gap) + gap);
    let mut pixels = vec![0u8; width * height];
    for (k, image) in images.chunks_exact(side * side).enumerate() {
        let (top, left) = (gap + (k / columns) * (side + gap), gap + (k % columns) * (side + gap));
        for (r, row) in image.chunks_exact(side).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                pixels[(top + r) * width + left + c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    gray_png(&pixels, width, height)
}

/// An 8-bit grayscale PNG of `pixels` (`width × height`, row-major).
pub fn gray_png(pixels: &[u8], width: usize, height: usize) -> Vec<u8> {
    assert_eq!(pixels.len(), width * height, "one byte a pixel");
    let mut raw = Vec::with_capacity((width + 1) * height);
    for row in pixels.chunks_exact(width) {
        raw.push(0); // filter: none
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).expect("writing to memory");
    let idat = z.finish().expect("writing to memory");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8 bits, grayscale, deflate, adaptive filtering, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &idat[..]), (b"IEND", &[][..])] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    out
}
