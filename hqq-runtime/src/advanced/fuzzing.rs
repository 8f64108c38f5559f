//! Entry points for the fuzz targets and their bounded tests
//! (`fuzz/fuzz_targets/reassembly.rs`, `tests/fuzz_reassembly.rs`;
//! `fuzz/fuzz_targets/decompression.rs`, `tests/fuzz_decompression.rs`;
//! `fuzz/fuzz_targets/decryption.rs`, `tests/fuzz_decryption.rs`):
//! the reassembler with its budget, the compressed-message decoder and the
//! sealed-message opener, which the link keeps private. Not part of the API; hidden from the docs.

use std::time::Instant;

use crate::advanced::budget::{Budget, ReceiveBudget};
use crate::advanced::reassembly::{
    Assembled, MessageKey, Reassembler, ReassemblyError, ReassemblyLimits,
};
use crate::payload_view::PayloadView;
use crate::protocol::ConnCopy;

/// What [`ReassemblerProbe::accept`] made of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    /// The message needs more chunks.
    Partial,
    /// The message is complete.
    Complete {
        /// Which message.
        key: MessageKey,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// The message was aborted.
    Aborted(MessageKey),
}

/// The link's reassembler and receive budget, driven directly.
#[derive(Debug)]
pub struct ReassemblerProbe {
    reassembler: Reassembler,
    budget: Budget,
}

impl ReassemblerProbe {
    /// A reassembler with `limits` charging to `budget`.
    pub fn new(limits: ReassemblyLimits, budget: ReceiveBudget) -> Self {
        ReassemblerProbe {
            reassembler: Reassembler::new(limits),
            budget: Budget::new(budget),
        }
    }

    /// Takes a decoded chunk and its payload. A completed message's budget
    /// is given back at once (as if the application took it).
    pub fn accept(
        &mut self,
        chunk: &ConnCopy,
        payload: PayloadView<'_>,
    ) -> Result<Probed, ReassemblyError> {
        let assembled =
            self.reassembler
                .accept(chunk, payload, &mut self.budget, Instant::now())?;
        Ok(match assembled {
            Assembled::Partial => Probed::Partial,
            Assembled::Aborted(key) => Probed::Aborted(key),
            Assembled::Complete(message) => {
                self.budget.release(message.account(), message.charged, 1);
                Probed::Complete {
                    key: message.key,
                    data: message.data,
                }
            }
        })
    }

    /// Drops the messages in progress on `connection`.
    pub fn drop_connection(&mut self, connection: u64) {
        self.reassembler
            .drop_connection(connection, &mut self.budget);
    }

    /// Messages in progress.
    pub fn in_progress(&self) -> usize {
        self.reassembler.in_progress_count()
    }

    /// Bytes and items held of the budget.
    pub fn held(&self) -> (u64, usize) {
        (self.budget.bytes(), self.budget.entries())
    }
}

/// Compresses `data` with LZ4 as a compressed message's frames; `None` if
/// they would not be smaller.
pub fn compress_lz4(data: &[u8]) -> Option<Vec<u8>> {
    crate::advanced::compression::compress(crate::advanced::Codec::Lz4, data)
}

/// Decompresses `data` as a compressed message with chunk flags `flags`,
/// pushed `split` bytes at a time (as chunks would arrive), producing at
/// most `max` bytes.
pub fn decompress(
    flags: crate::protocol::FrameFlags,
    data: &[u8],
    split: usize,
    max: u64,
) -> Result<Vec<u8>, crate::advanced::DecompressError> {
    let mut decoder = crate::advanced::compression::FrameDecoder::new(flags, max);
    let mut out = Vec::new();
    let mut unlimited = |_| Ok::<(), crate::advanced::DecompressError>(());
    for piece in data.chunks(split.max(1)) {
        decoder.push(piece, &mut out, &mut unlimited)?;
    }
    decoder.finish()?;
    Ok(out)
}

/// What a sealed message of the fuzz entry points is bound to: message
/// `message` on connection 0, a plain message, `total` bytes.
fn binding(message: u64, total: u64) -> crate::advanced::encryption::Binding {
    crate::advanced::encryption::Binding {
        connection: 0,
        message,
        flags: crate::protocol::FrameFlags::ENCRYPTED,
        method_or_status: 0,
        total,
    }
}

/// Seals `data` as message `message` with `cipher` and `key` (the
/// sealer's first sequence number).
pub fn seal(cipher: crate::protocol::Cipher, key: &[u8; 32], message: u64, data: &[u8]) -> Vec<u8> {
    use crate::advanced::encryption::{sealed_len, Sealer};
    use std::io::Read;

    // Both ciphers take any 32-byte key.
    let Ok(sealer) = Sealer::new(cipher, key) else {
        return Vec::new();
    };
    let total = sealed_len(data.len() as u64).unwrap_or(u64::MAX);
    let mut source = data;
    let mut out = Vec::new();
    // Reading from a slice of the announced length does not fail.
    let _ = sealer
        .seal(&binding(message, total), &mut source, data.len() as u64)
        .read_to_end(&mut out);
    out
}

/// Opens `sealed` as message `message` with `cipher` and `key`, whole (in
/// place) and pushed `split` bytes at a time as a streamed message; the
/// two must agree (else this panics). Returns the plain bytes.
pub fn open(
    cipher: crate::protocol::Cipher,
    key: &[u8; 32],
    message: u64,
    sealed: &[u8],
    split: usize,
) -> Result<Vec<u8>, crate::advanced::OpenError> {
    use crate::advanced::encryption::{MessageOpener, OpenInPlace, Opener};

    let binding = binding(message, sealed.len() as u64);
    let mut whole = sealed.to_vec();
    let (Ok(mut whole_opener), Ok(mut opener)) =
        (Opener::new(cipher, key), Opener::new(cipher, key))
    else {
        return Err(crate::advanced::OpenError::NotNegotiated);
    };
    let whole = whole_opener
        .open_whole(&binding, &mut whole)
        .map(|_nanos| whole);
    let streamed = MessageOpener::new(binding).and_then(|mut streamed| {
        let mut out = Vec::new();
        for piece in sealed.chunks(split.max(1)) {
            streamed.push(&mut opener, piece, &mut out)?;
        }
        Ok(out)
    });
    let Ok(mut assembling_opener) = Opener::new(cipher, key) else {
        return Err(crate::advanced::OpenError::NotNegotiated);
    };
    let assembled = OpenInPlace::new(binding).and_then(|mut opening| {
        let mut data = Vec::new();
        for piece in sealed.chunks(split.max(1)) {
            data.extend_from_slice(piece);
            opening.open_ready(&mut assembling_opener, &mut data)?;
        }
        opening.finish(&mut assembling_opener, &mut data)?;
        Ok(data)
    });
    for other in [&streamed, &assembled] {
        assert_eq!(
            whole.is_ok(),
            other.is_ok(),
            "whole, streamed and assembled opening disagree"
        );
        if let (Ok(a), Ok(b)) = (&whole, other) {
            assert_eq!(a, b, "whole, streamed and assembled opening disagree");
        }
    }
    whole
}
