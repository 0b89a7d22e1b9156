//! A table of the user's, carried in the link itself (`tab.csv`), so that a link made with a
//! small CSV opens the same experiment on another machine without the file.
//!
//! The CSV's bytes, exactly as read, are zlib-compressed (RFC 1950: deflate with an Adler-32
//! checksum, so a cut or altered link is refused instead of read as a different table) and
//! written in base64url without padding. A table whose packed form is longer than
//! [`MAX_PACKED`] characters stays out of the link (the link then asks for the file): links of
//! tens of kilobytes still open in every browser, but much longer ones stop fitting in chat
//! messages and address bars. Unpacking stops at [`MAX_UNPACKED`] bytes, so a small link cannot
//! unfold into a huge table.

use std::io::Write;

/// The most characters a packed table may take in a link (24 KiB: a CSV of ~60–150 kB, as
/// deflate finds it).
pub const MAX_PACKED: usize = 24 * 1024;

/// The most bytes a packed table may unpack to.
pub const MAX_UNPACKED: usize = 4 << 20;

/// Packs a CSV for a link, compressing it here (the page uses the browser's own zlib,
/// `CompressionStream`, and [`pack_zlib`]: the same format, without a compressor in the wasm).
/// `Err` says why it cannot ride in a link.
pub fn pack(csv: &[u8]) -> Result<String, String> {
    fits(csv.len())?;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(csv).expect("writing to memory");
    pack_zlib(&z.finish().expect("writing to memory"))
}

/// Whether a CSV of `len` bytes may ride in a link at all (before compressing it).
pub fn fits(len: usize) -> Result<(), String> {
    if len > MAX_UNPACKED {
        return Err(format!("it is {:.1} MB; a table in a link may unpack to {} MB at most", len as f64 / 1e6, MAX_UNPACKED >> 20));
    }
    Ok(())
}

/// A zlib stream (RFC 1950) in a link's form; `Err` when it is longer than [`MAX_PACKED`].
pub fn pack_zlib(zlib: &[u8]) -> Result<String, String> {
    let packed = super::weights::base64(zlib);
    if packed.len() > MAX_PACKED {
        return Err(format!("it packs to {} characters; a link carries {MAX_PACKED} at most", packed.len()));
    }
    Ok(packed)
}

/// Unpacks [`pack`]'s text into the CSV's bytes; `Err` says why it cannot (not base64url, cut
/// short, altered, or larger than [`MAX_UNPACKED`]).
pub fn unpack(text: &str) -> Result<Vec<u8>, String> {
    if text.len() > MAX_PACKED {
        return Err(format!("the table is {} characters, more than the {MAX_PACKED} a link may carry", text.len()));
    }
    let bytes = super::weights::unbase64(text).map_err(|e| match e {
        super::weights::WeightsError::Corrupt(why) => format!("the table is not readable: {why}"),
        other => format!("the table is not readable: {other}"),
    })?;
    let damaged = || "the table is damaged: the link may have been cut short or altered".to_string();
    // The stream must end where the text ends (a cut link reads as a shorter table otherwise);
    // it unpacks a piece at a time, so the limit holds to the byte.
    let mut z = flate2::Decompress::new(true);
    let mut csv = Vec::new();
    let mut piece = vec![0u8; 64 << 10];
    loop {
        let (used, made) = (z.total_in(), z.total_out());
        let status = z.decompress(&bytes[used as usize..], &mut piece, flate2::FlushDecompress::None).map_err(|_| damaged())?;
        let n = (z.total_out() - made) as usize;
        if csv.len() + n > MAX_UNPACKED {
            return Err(format!("the table unpacks to more than {} MB", MAX_UNPACKED >> 20));
        }
        csv.extend_from_slice(&piece[..n]);
        match status {
            flate2::Status::StreamEnd if z.total_in() as usize == bytes.len() => return Ok(csv),
            flate2::Status::StreamEnd => return Err(damaged()),
            _ if z.total_in() == used && n == 0 => return Err(damaged()),
            _ => {}
        }
    }
}
