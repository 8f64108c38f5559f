//! The single-core ceilings of the Advanced link's per-byte work: sealing
//! 1 MiB as an encrypted link frames it, and LZ4-compressing or
//! decompressing 1 MiB of the bench text as a compressing link blocks it,
//! each in one process with no transport.
//!
//! A link that seals (or compresses) every message cannot go faster than
//! its sender seals (compresses) on one core, however the two sides
//! overlap their work: the rows say whether a target relative to the plain
//! link is within reach on this machine at all.

use std::time::{Duration, Instant};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};

use super::advanced::Content;
use super::error::BenchError;
use super::measure::Stream;

/// Bytes per sealed frame and per compressed block (what the link uses).
const PIECE: usize = 64 * 1024;

/// One of the link's two AEADs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aead {
    /// AES-256-GCM (what two sides with AES instructions agree on).
    Aes256Gcm,
    /// ChaCha20-Poly1305.
    ChaCha20Poly1305,
}

/// A [`Stream`] whose "messages" are sealed in place, 64 KiB frames with
/// 40 bytes of associated data each, as the encrypted link seals them.
pub struct SealCeiling {
    key: LessSafeKey,
    message: Vec<u8>,
    seq: u64,
}

impl std::fmt::Debug for SealCeiling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealCeiling")
            .field("algorithm", self.key.algorithm())
            .finish_non_exhaustive()
    }
}

impl SealCeiling {
    /// A ceiling for `aead` with a fixed (public) key.
    pub fn new(aead: Aead) -> Result<SealCeiling, BenchError> {
        let algorithm = match aead {
            Aead::Aes256Gcm => &ring::aead::AES_256_GCM,
            Aead::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
        };
        let key = UnboundKey::new(algorithm, &[0x42; 32]).map_err(|_| BenchError::Protocol {
            role: "seal ceiling",
            detail: "the AEAD refused a 32-byte key".into(),
        })?;
        Ok(SealCeiling {
            key: LessSafeKey::new(key),
            message: Vec::new(),
            seq: 0,
        })
    }
}

impl Stream for SealCeiling {
    fn stream(&mut self, size: usize, count: u64) -> Result<Duration, BenchError> {
        self.message.resize(size, 0x5A);
        let aad = [7u8; 40];
        let started = Instant::now();
        for _ in 0..count {
            self.seq += 1;
            for (i, frame) in self.message.chunks_mut(PIECE).enumerate() {
                let mut nonce = [0u8; 12];
                nonce[..8].copy_from_slice(&self.seq.to_le_bytes());
                nonce[8..].copy_from_slice(&(i as u32).to_le_bytes());
                let tag = self
                    .key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&aad),
                        frame,
                    )
                    .map_err(|_| BenchError::Protocol {
                        role: "seal ceiling",
                        detail: "a frame did not seal".into(),
                    })?;
                let _ = std::hint::black_box(tag);
            }
        }
        Ok(started.elapsed())
    }
}

/// Which half of LZ4 a [`Lz4Ceiling`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lz4Step {
    /// Compressing the text.
    Compress,
    /// Decompressing it again.
    Decompress,
}

/// A [`Stream`] whose "messages" are the bench text compressed (or
/// decompressed) in 64 KiB blocks with `lz4_flex`, as the link does.
#[derive(Debug)]
pub struct Lz4Ceiling {
    step: Lz4Step,
    text: Vec<u8>,
    blocks: Vec<Vec<u8>>,
    out: Vec<u8>,
}

impl Lz4Ceiling {
    /// A ceiling for `step`.
    pub fn new(step: Lz4Step) -> Lz4Ceiling {
        Lz4Ceiling {
            step,
            text: Vec::new(),
            blocks: Vec::new(),
            out: vec![0; lz4_flex::block::get_maximum_output_size(PIECE)],
        }
    }

    fn prepare(&mut self, size: usize) {
        if self.text.len() != size {
            self.text = Content::Text.bytes(size);
            self.blocks = self
                .text
                .chunks(PIECE)
                .map(lz4_flex::block::compress)
                .collect();
        }
    }
}

impl Stream for Lz4Ceiling {
    fn stream(&mut self, size: usize, count: u64) -> Result<Duration, BenchError> {
        self.prepare(size);
        let failed = |detail: &str| BenchError::Protocol {
            role: "LZ4 ceiling",
            detail: detail.into(),
        };
        let started = Instant::now();
        for _ in 0..count {
            match self.step {
                Lz4Step::Compress => {
                    for block in self.text.chunks(PIECE) {
                        let n = lz4_flex::block::compress_into(block, &mut self.out)
                            .map_err(|_| failed("a block did not compress"))?;
                        std::hint::black_box(n);
                    }
                }
                Lz4Step::Decompress => {
                    for block in &self.blocks {
                        let n = lz4_flex::block::decompress_into(block, &mut self.out)
                            .map_err(|_| failed("a block did not decompress"))?;
                        std::hint::black_box(n);
                    }
                }
            }
        }
        Ok(started.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_changes_the_message_and_lz4_round_trips() {
        let mut seal = SealCeiling::new(Aead::Aes256Gcm).expect("key");
        seal.stream(100_000, 1).expect("seals");
        assert!(seal.message.iter().any(|&b| b != 0x5A));
        let mut chacha = SealCeiling::new(Aead::ChaCha20Poly1305).expect("key");
        assert!(chacha.stream(10, 2).is_ok());

        let mut lz4 = Lz4Ceiling::new(Lz4Step::Decompress);
        lz4.stream(200_000, 1).expect("decompresses");
        let restored: Vec<u8> = lz4
            .blocks
            .iter()
            .flat_map(|b| lz4_flex::block::decompress(b, PIECE).expect("block"))
            .collect();
        assert_eq!(restored, lz4.text);
        let mut compress = Lz4Ceiling::new(Lz4Step::Compress);
        assert!(compress.stream(200_000, 1).is_ok());
    }
}
