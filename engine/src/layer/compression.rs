//! Detects a layer's compression from its first bytes and wraps the stream in a decoder.

use std::fmt;
use std::io::{self, BufRead, Cursor, Read};

/// How a layer blob is compressed, as told by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
        })
    }
}

/// The longest magic we look for (xz's).
const MAGIC_LEN: usize = 6;

impl Compression {
    /// Recognizes a stream from its first bytes (which may be fewer than `MAGIC_LEN` at EOF).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else {
            Compression::None
        }
    }
}

/// Detects the compression of `r` by its magic bytes and returns a reader of the decompressed
/// bytes. Works on a stream (stdin, an HTTP body): nothing is seeked, and the bytes used for
/// detection are still delivered to the decoder.
pub fn decompress<'a, R: BufRead + 'a>(mut r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    // Usual case: the buffer already holds enough bytes (or the whole, short, stream), so we
    // only peek.
    let buf = fill_buf_retrying(&mut r)?;
    if buf.len() >= MAGIC_LEN || buf.is_empty() {
        let kind = Compression::detect(buf);
        return Ok((kind, decoder(kind, r)?));
    }
    // A pipe may hand us fewer bytes than a magic: take them out of the reader, read on until
    // we have enough or reach EOF, and put them back in front.
    let mut head = Vec::with_capacity(MAGIC_LEN);
    loop {
        let buf = fill_buf_retrying(&mut r)?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(MAGIC_LEN - head.len());
        head.extend_from_slice(&buf[..n]);
        r.consume(n);
        if head.len() == MAGIC_LEN {
            break;
        }
    }
    let kind = Compression::detect(&head);
    Ok((kind, decoder(kind, Cursor::new(head).chain(r))?))
}

fn fill_buf_retrying<R: BufRead>(r: &mut R) -> io::Result<&[u8]> {
    // Loop only to retry EINTR; the borrow checker wants the successful call outside the loop.
    loop {
        match r.fill_buf() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    r.fill_buf()
}

fn decoder<'a, R: BufRead + 'a>(kind: Compression, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match kind {
        Compression::None => Box::new(r),
        // Multi-member: `pigz` and some registries concatenate gzip members.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        // Multi-stream too, as `pbzip2` and `pixz` write.
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Write};

    /// Hands out at most one byte per read, like a slow pipe.
    struct Trickle<R>(R);
    impl<R: Read> Read for Trickle<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    fn roundtrip(data: &[u8], expect: Compression) {
        // Whole buffer available at once.
        let (kind, mut r) = decompress(data).unwrap();
        assert_eq!(kind, expect);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello layer, hello layer");

        // One byte at a time: detection must still see the magic and lose nothing.
        let (kind, mut r) = decompress(BufReader::new(Trickle(data))).unwrap();
        assert_eq!(kind, expect);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello layer, hello layer");
    }

    #[test]
    fn gzip_multi_member() {
        let mut data = Vec::new();
        for part in [&b"hello layer, "[..], b"hello layer"] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part).unwrap();
            data.extend(enc.finish().unwrap());
        }
        roundtrip(&data, Compression::Gzip);
    }

    #[test]
    fn zstd() {
        let data = zstd::encode_all(&b"hello layer, hello layer"[..], 3).unwrap();
        roundtrip(&data, Compression::Zstd);
    }

    #[test]
    fn uncompressed_and_short() {
        roundtrip(b"hello layer, hello layer", Compression::None);
        let (kind, mut r) = decompress(&b"ab"[..]).unwrap();
        assert_eq!(kind, Compression::None);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab");
        let (kind, _) = decompress(&b""[..]).unwrap();
        assert_eq!(kind, Compression::None);
    }

    #[test]
    fn compressed_layers_apply() {
        let layer = crate::layer::apply::tests::sample_layer();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&layer[..], 3).unwrap();
        for (blob, expect) in [(gz, Compression::Gzip), (zst, Compression::Zstd)] {
            let (kind, r) = decompress(BufReader::new(Trickle(&blob[..]))).unwrap();
            assert_eq!(kind, expect);
            let dest = tempfile::tempdir().unwrap();
            let stats = crate::layer::apply_layer(r, dest.path()).unwrap();
            assert_eq!(stats.entries, 15);
        }
    }

    #[test]
    fn bzip2_and_xz_round_trip() {
        let data = b"berth layer bytes".repeat(1000);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&data).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&data).unwrap();
        for (bytes, expect) in [(bz.finish().unwrap(), Compression::Bzip2), (xz.finish().unwrap(), Compression::Xz)] {
            let (kind, mut r) = decompress(&bytes[..]).unwrap();
            assert_eq!(kind, expect);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }
}
