//! The deterministic byte pattern served by `/bytes/N` and `/slow/N`.
//!
//! Byte `i` of every such body is [`byte_at`]`(i)`, so a test can compute the
//! expected body of any length without downloading a reference copy. The
//! pattern starts with `0x00` (a proxy that treats bodies as C strings
//! truncates it at once) and does not repeat with a short period.

use std::io::{self, Read};

/// Largest body `/bytes/N` and `/slow/N` will produce: 1 GiB.
pub const MAX_PATTERN_LEN: u64 = 1 << 30;

/// Byte number `i` (counting from zero) of the `/bytes/N` and `/slow/N` bodies:
/// `((i * 7 + i / 251) % 256) as u8`.
///
/// `byte_at(0)` is `0x00`, and every byte value occurs in each run of 256
/// consecutive bytes up to the next multiple of 251 offset.
#[must_use]
#[allow(
    clippy::cast_possible_truncation,
    reason = "the pattern is defined modulo 256; after `% 256` the value fits in a u8"
)]
pub fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(7).wrapping_add(i / 251) % 256) as u8
}

/// The first `n` bytes of the pattern, as a vector (for tests).
///
/// The server itself never materialises the pattern: it streams it through
/// [`PatternReader`].
#[must_use]
pub fn pattern_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    let mut reader = PatternReader::new(n as u64);
    // Filling a slice from the generator cannot fail.
    let mut filled = 0;
    while filled < n {
        let got = reader.fill(&mut out[filled..]);
        if got == 0 {
            break;
        }
        filled += got;
    }
    out
}

/// A [`Read`] implementation that generates the pattern on the fly, so that
/// bodies up to [`MAX_PATTERN_LEN`] cost no memory.
///
/// It yields exactly `len` bytes (byte `k` of the stream is
/// [`byte_at`]`(k)`) and then end-of-file.
#[derive(Debug, Clone)]
pub struct PatternReader {
    /// Index of the next byte to produce.
    pos: u64,
    /// Total number of bytes to produce.
    len: u64,
    /// `byte_at(pos)`, maintained incrementally.
    value: u8,
    /// `pos % 251`, maintained incrementally.
    rem: u16,
}

impl PatternReader {
    /// A reader producing the first `len` bytes of the pattern.
    #[must_use]
    pub fn new(len: u64) -> Self {
        Self {
            pos: 0,
            len,
            value: byte_at(0),
            rem: 0,
        }
    }

    /// Bytes still to be produced.
    #[must_use]
    pub fn remaining(&self) -> u64 {
        self.len - self.pos
    }

    /// Fills as much of `buf` as the remaining length allows; returns the
    /// number of bytes written (0 at the end).
    fn fill(&mut self, buf: &mut [u8]) -> usize {
        let n = usize::try_from(self.remaining()).map_or(buf.len(), |r| r.min(buf.len()));
        for slot in &mut buf[..n] {
            *slot = self.value;
            // Advance to pos + 1: value grows by 7, plus 1 more whenever
            // (pos + 1) / 251 increases.
            self.value = self.value.wrapping_add(7);
            self.rem += 1;
            if self.rem == 251 {
                self.rem = 0;
                self.value = self.value.wrapping_add(1);
            }
        }
        self.pos += n as u64;
        n
    }
}

impl Read for PatternReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.fill(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_matches_byte_at() {
        let n = 251 * 300 + 17;
        let bytes = pattern_bytes(n);
        assert_eq!(bytes.len(), n);
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(*b, byte_at(i as u64), "byte {i}");
        }
    }

    #[test]
    fn pattern_has_nul_and_all_values() {
        let bytes = pattern_bytes(4096);
        assert_eq!(bytes[0], 0);
        let mut seen = [false; 256];
        for b in &bytes {
            seen[usize::from(*b)] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn reader_reports_eof_and_small_reads() {
        let mut r = PatternReader::new(10);
        let mut buf = [0u8; 4];
        let mut all = Vec::new();
        loop {
            let n = r.read(&mut buf).expect("generator read");
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        assert_eq!(all, pattern_bytes(10));
        assert_eq!(r.remaining(), 0);
    }
}
