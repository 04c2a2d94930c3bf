//! `sha256:<hex>` digests, and a writer that computes one while it copies.

use std::fmt;
use std::io::{self, Write};

use sha2::{Digest as _, Sha256};

/// A content digest. Only sha256 is produced; others are refused where parsed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<64 hex>`; `None` for anything else (so a hostile name is never a path).
    pub fn parse(s: &str) -> Option<Digest> {
        let hex = s.strip_prefix("sha256:")?;
        let ok = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Digest(s.to_string()))
    }

    pub fn from_hex(hex: &str) -> Option<Digest> {
        Digest::parse(&format!("sha256:{hex}"))
    }

    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The 12-character short ID Docker prints.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid digest {s:?}")))
    }
}

/// Passes writes through to `inner` while hashing them and counting bytes.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), written: 0 }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.written
    }

    /// Hashes bytes that `inner` already holds (a download resumed where it stopped).
    pub fn absorb(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
    }

    pub fn finish(self) -> (W, Digest, u64) {
        let digest = Digest(format!("sha256:{}", hex::encode(self.hasher.finalize())));
        (self.inner, digest, self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: io::Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new(), read: 0 }
    }

    pub fn finish(self) -> (Digest, u64) {
        (Digest(format!("sha256:{}", hex::encode(self.hasher.finalize()))), self.read)
    }
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256_hex() {
        let d = Digest::of_bytes(b"");
        assert_eq!(d.as_str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert!(Digest::parse(d.as_str()).is_some());
        assert!(Digest::parse("sha256:../../etc").is_none());
        assert!(Digest::parse("md5:abc").is_none());
        assert_eq!(d.short(), "e3b0c44298fc");
    }
}
