//! Compressed messages (feature Compression, chunk flag Compressed).
//!
//! A compressed message is a sequence of frames, `raw: u32 LE, stored: u32
//! LE, stored bytes` (spec/PROTOCOL.md, FrameFlags): each frame stands for
//! at most [`FRAME_RAW_MAX`] bytes of the message, compressed with the
//! message's codec or stored as they are when they do not shrink. The
//! sender sends the message raw (no Compressed flag) when the frames are not
//! smaller than the data, so compression never expands a message.
//!
//! The receiver's `FrameDecoder` is push-style: it takes bytes as they
//! arrive (a streamed chunk or a whole assembled message, always a copy
//! this process owns, never the segment) and checks every frame's `raw`
//! against the message size limit and the receive budget before it
//! allocates (and charges each frame to the budget just before it is
//! produced, so a push charges exactly what it produced), so a small frame announcing or producing gigabytes is a
//! typed error and memory stays bounded by those limits.

use crate::protocol::FrameFlags;

/// Bytes of the message one frame stands for, at most.
pub const FRAME_RAW_MAX: usize = 64 * 1024;

/// Input bytes after which [`compress`] stops if they barely shrank.
const GIVE_UP_AFTER: usize = 2 * FRAME_RAW_MAX;

/// Bytes of a frame header (`raw: u32 LE, stored: u32 LE`).
const FRAME_HEADER: usize = 8;

/// A compression codec (which one a message uses is its Zstd flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// LZ4 blocks (`lz4_flex`, pure Rust): fast, the default.
    Lz4,
    /// Zstandard at `level` (1..=22; cargo feature `zstd`).
    #[cfg(feature = "zstd")]
    Zstd {
        /// Compression level (higher is smaller and slower).
        level: i32,
    },
}

impl Codec {
    /// The chunk flags a message compressed with this codec carries.
    pub const fn flags(self) -> FrameFlags {
        match self {
            Codec::Lz4 => FrameFlags::COMPRESSED,
            #[cfg(feature = "zstd")]
            Codec::Zstd { .. } => FrameFlags::COMPRESSED.union(FrameFlags::ZSTD),
        }
    }
}

/// How this side compresses what it sends once Compression is negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Compression {
    /// The codec of every compressed message.
    pub codec: Codec,
    /// Messages smaller than this many bytes are sent raw.
    pub threshold: u64,
}

impl Compression {
    /// `codec` for messages of at least `threshold` bytes.
    pub const fn new(codec: Codec, threshold: u64) -> Self {
        Compression { codec, threshold }
    }
}

/// Why a compressed message could not be decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// A frame header is out of range (`raw` 0 or above [`FRAME_RAW_MAX`],
    /// or `stored` above `raw`).
    #[error("bad compressed frame header (raw {raw}, stored {stored})")]
    BadFrame {
        /// Announced decompressed size.
        raw: u32,
        /// Announced stored size.
        stored: u32,
    },
    /// The decompressed message would exceed the message size limit.
    #[error("the decompressed message would hold {size} bytes, above the limit of {max}")]
    TooLarge {
        /// Decompressed bytes so far plus the next frame's.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A frame's compressed bytes are not valid for the codec, or do not
    /// decompress to exactly its `raw` bytes.
    #[error("corrupt compressed frame")]
    Corrupt,
    /// The message ended inside a frame.
    #[error("the compressed message ends inside a frame")]
    Truncated,
    /// A compressed message arrived, but Compression was not negotiated.
    #[error("a compressed message, but Compression was not negotiated")]
    NotNegotiated,
    /// The message names a codec this build does not have.
    #[error("the message's codec is not built in (cargo feature `zstd`)")]
    UnsupportedCodec,
}

/// Compresses `data` with `codec` as frames; `None` if they would not be
/// smaller than `data`, or if its first 128 KiB saved less than 1/16 (the
/// message is then sent raw).
pub(crate) fn compress(codec: Codec, data: &[u8]) -> Option<Vec<u8>> {
    if data.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 2 + FRAME_HEADER);
    for (index, piece) in data.chunks(FRAME_RAW_MAX).enumerate() {
        let start = out.len();
        out.resize(start + FRAME_HEADER + max_compressed(codec, piece.len()), 0);
        let room = out.get_mut(start + FRAME_HEADER..)?;
        let stored = match compress_piece(codec, piece, room) {
            Some(n) if n < piece.len() => n,
            _ => {
                out.truncate(start + FRAME_HEADER);
                out.extend_from_slice(piece);
                piece.len()
            }
        };
        out.truncate(start + FRAME_HEADER + stored);
        // Pieces are at most FRAME_RAW_MAX bytes, so both fit a u32.
        let header = out.get_mut(start..start + FRAME_HEADER)?;
        header[..4].copy_from_slice(&(piece.len() as u32).to_le_bytes());
        header[4..].copy_from_slice(&(stored as u32).to_le_bytes());
        if out.len() >= data.len() {
            return None;
        }
        // Incompressible data is given up on after two frames (saved under
        // 1/16 so far), so trying costs it little.
        let consumed = index * FRAME_RAW_MAX + piece.len();
        if consumed >= GIVE_UP_AFTER && out.len() * 16 > consumed * 15 {
            return None;
        }
    }
    Some(out)
}

fn max_compressed(codec: Codec, len: usize) -> usize {
    match codec {
        Codec::Lz4 => lz4_flex::block::get_maximum_output_size(len),
        #[cfg(feature = "zstd")]
        Codec::Zstd { .. } => zstd::zstd_safe::compress_bound(len),
    }
}

fn compress_piece(codec: Codec, piece: &[u8], room: &mut [u8]) -> Option<usize> {
    match codec {
        Codec::Lz4 => lz4_flex::block::compress_into(piece, room).ok(),
        #[cfg(feature = "zstd")]
        Codec::Zstd { level } => zstd::bulk::compress_to_buffer(piece, room, level).ok(),
    }
}

/// Which codec a compressed message's chunk flags name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireCodec {
    Lz4,
    Zstd,
}

/// Decompresses one message's frames as its bytes arrive (see the module
/// doc); holds at most one frame's stored bytes between pushes.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    codec: WireCodec,
    max: u64,
    produced: u64,
    header: [u8; FRAME_HEADER],
    header_len: usize,
    raw: usize,
    stored: usize,
    pending: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder for a message with chunk flags `flags` (Compressed set),
    /// producing at most `max` bytes.
    pub(crate) fn new(flags: FrameFlags, max: u64) -> Self {
        let codec = if flags.contains(FrameFlags::ZSTD) {
            WireCodec::Zstd
        } else {
            WireCodec::Lz4
        };
        FrameDecoder {
            codec,
            max,
            produced: 0,
            header: [0; FRAME_HEADER],
            header_len: 0,
            raw: 0,
            stored: 0,
            pending: Vec::new(),
        }
    }

    /// Decompresses what `input` completes into `out`. `reserve(n)` is
    /// called before `n` more bytes are allocated in `out` (to charge a
    /// budget); its error stops the decoder.
    pub(crate) fn push<E: From<DecompressError>>(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        reserve: &mut impl FnMut(u64) -> Result<(), E>,
    ) -> Result<(), E> {
        while !input.is_empty() {
            if self.header_len < FRAME_HEADER {
                let take = (FRAME_HEADER - self.header_len).min(input.len());
                let (head, rest) = input.split_at(take);
                self.header[self.header_len..self.header_len + take].copy_from_slice(head);
                self.header_len += take;
                input = rest;
                if self.header_len == FRAME_HEADER {
                    self.start_frame()?;
                }
                continue;
            }
            if self.pending.is_empty() && input.len() >= self.stored {
                let (frame, rest) = input.split_at(self.stored);
                self.finish_frame(frame, out, reserve)?;
                input = rest;
                continue;
            }
            let take = (self.stored - self.pending.len()).min(input.len());
            let (part, rest) = input.split_at(take);
            self.pending.extend_from_slice(part);
            input = rest;
            if self.pending.len() == self.stored {
                let frame = std::mem::take(&mut self.pending);
                let done = self.finish_frame(&frame, out, reserve);
                self.pending = frame;
                self.pending.clear();
                done?;
            }
        }
        Ok(())
    }

    /// Checks that the message did not end inside a frame.
    pub(crate) fn finish(&self) -> Result<(), DecompressError> {
        if self.header_len == 0 {
            Ok(())
        } else {
            Err(DecompressError::Truncated)
        }
    }

    /// Bytes produced so far.
    pub(crate) fn produced(&self) -> u64 {
        self.produced
    }

    fn start_frame(&mut self) -> Result<(), DecompressError> {
        let [r0, r1, r2, r3, s0, s1, s2, s3] = self.header;
        let raw = u32::from_le_bytes([r0, r1, r2, r3]);
        let stored = u32::from_le_bytes([s0, s1, s2, s3]);
        let bad = DecompressError::BadFrame { raw, stored };
        let (raw_len, stored_len) = (raw as usize, stored as usize);
        if raw == 0 || raw_len > FRAME_RAW_MAX || stored > raw {
            return Err(bad);
        }
        let size = self.produced + u64::from(raw);
        if size > self.max {
            return Err(DecompressError::TooLarge {
                size,
                max: self.max,
            });
        }
        if self.codec == WireCodec::Zstd && stored < raw && cfg!(not(feature = "zstd")) {
            return Err(DecompressError::UnsupportedCodec);
        }
        self.raw = raw_len;
        self.stored = stored_len;
        Ok(())
    }

    /// Produces the current frame from its stored bytes `frame`, calling
    /// `reserve` first (so what `push` reserves is what it produced).
    fn finish_frame<E: From<DecompressError>>(
        &mut self,
        frame: &[u8],
        out: &mut Vec<u8>,
        reserve: &mut impl FnMut(u64) -> Result<(), E>,
    ) -> Result<(), E> {
        reserve(self.raw as u64)?;
        let start = out.len();
        if frame.len() == self.raw {
            out.extend_from_slice(frame);
        } else {
            out.try_reserve(self.raw)
                .map_err(|_| DecompressError::TooLarge {
                    size: self.produced + self.raw as u64,
                    max: self.max,
                })?;
            out.resize(start + self.raw, 0);
            let room = out.get_mut(start..).unwrap_or_default();
            let made = self.decompress(frame, room);
            if made != Some(self.raw) {
                out.truncate(start);
                return Err(DecompressError::Corrupt.into());
            }
        }
        self.produced += self.raw as u64;
        self.header_len = 0;
        Ok(())
    }

    fn decompress(&self, frame: &[u8], room: &mut [u8]) -> Option<usize> {
        match self.codec {
            WireCodec::Lz4 => lz4_flex::block::decompress_into(frame, room).ok(),
            #[cfg(feature = "zstd")]
            WireCodec::Zstd => zstd::bulk::decompress_to_buffer(frame, room).ok(),
            #[cfg(not(feature = "zstd"))]
            WireCodec::Zstd => None,
        }
    }
}

/// Decompresses a whole compressed message `data` (a copy this process
/// owns) with chunk flags `flags`, at most `max` bytes, calling `reserve`
/// before each allocation.
pub(crate) fn decompress_message<E: From<DecompressError>>(
    flags: FrameFlags,
    data: &[u8],
    max: u64,
    reserve: &mut impl FnMut(u64) -> Result<(), E>,
) -> Result<Vec<u8>, E> {
    let mut decoder = FrameDecoder::new(flags, max);
    let mut out = Vec::new();
    decoder.push(data, &mut out, reserve)?;
    decoder.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut i = 0u64;
        while out.len() < len {
            let line = format!("{{\"id\":{i},\"name\":\"item-{}\",\"ok\":true}},", i % 97);
            out.extend_from_slice(line.as_bytes());
            i += 1;
        }
        out.truncate(len);
        out
    }

    fn random(len: usize) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn unlimited(_: u64) -> Result<(), DecompressError> {
        Ok(())
    }

    fn decode(data: &[u8], max: u64) -> Result<Vec<u8>, DecompressError> {
        decompress_message(Codec::Lz4.flags(), data, max, &mut unlimited)
    }

    #[test]
    fn text_round_trips_smaller_in_any_split() {
        let data = text(300_000);
        let wire = compress(Codec::Lz4, &data).expect("text shrinks");
        assert!(
            wire.len() * 3 < data.len(),
            "{} of {}",
            wire.len(),
            data.len()
        );
        assert_eq!(decode(&wire, 1 << 20).unwrap(), data);
        for split in [1usize, 7, 4096, 65_536] {
            let mut decoder = FrameDecoder::new(Codec::Lz4.flags(), 1 << 20);
            let mut out = Vec::new();
            for part in wire.chunks(split) {
                decoder.push(part, &mut out, &mut unlimited).unwrap();
            }
            decoder.finish().unwrap();
            assert_eq!(out, data, "split {split}");
            assert_eq!(decoder.produced(), data.len() as u64);
        }
    }

    #[test]
    fn data_that_does_not_shrink_is_not_compressed() {
        // Given up on after two frames, also when the rest would shrink.
        let mut head_random = random(2 * FRAME_RAW_MAX);
        head_random.extend(text(8 * FRAME_RAW_MAX));
        assert_eq!(compress(Codec::Lz4, &head_random), None);
        assert_eq!(compress(Codec::Lz4, &random(200_000)), None);
        assert_eq!(compress(Codec::Lz4, b"ab"), None);
        assert_eq!(compress(Codec::Lz4, b""), None);
    }

    #[test]
    fn mixed_data_stores_incompressible_frames() {
        let mut data = random(FRAME_RAW_MAX);
        data.extend(text(3 * FRAME_RAW_MAX));
        let wire = compress(Codec::Lz4, &data).expect("shrinks overall");
        let stored = u32::from_le_bytes(wire[4..8].try_into().unwrap());
        assert_eq!(stored as usize, FRAME_RAW_MAX, "first frame stored raw");
        assert_eq!(decode(&wire, u64::MAX).unwrap(), data);
    }

    #[test]
    fn a_bomb_is_refused_before_allocating() {
        // One frame of 64 KiB of zeros, repeated: a tiny message that would
        // decompress to gigabytes.
        let frame = compress(Codec::Lz4, &vec![0u8; FRAME_RAW_MAX]).unwrap();
        let mut bomb = Vec::new();
        for _ in 0..(1 << 14) {
            bomb.extend_from_slice(&frame);
        }
        assert!(bomb.len() < 8 << 20);
        let mut reserved = 0u64;
        let mut budget = |n: u64| {
            reserved += n;
            if reserved > 4 << 20 {
                Err(DecompressError::TooLarge {
                    size: reserved,
                    max: 4 << 20,
                })
            } else {
                Ok(())
            }
        };
        let got = decompress_message(Codec::Lz4.flags(), &bomb, u64::MAX, &mut budget);
        assert!(matches!(got, Err(DecompressError::TooLarge { .. })));
        assert_eq!(
            decode(&bomb, 1 << 20),
            Err(DecompressError::TooLarge {
                size: (1 << 20) + FRAME_RAW_MAX as u64,
                max: 1 << 20
            })
        );
        // A header announcing more than a frame may hold.
        let mut big = Vec::new();
        big.extend_from_slice(&u32::MAX.to_le_bytes());
        big.extend_from_slice(&16u32.to_le_bytes());
        big.extend_from_slice(&[0; 16]);
        assert!(matches!(
            decode(&big, u64::MAX),
            Err(DecompressError::BadFrame { .. })
        ));
    }

    #[test]
    fn a_frame_producing_more_than_it_announces_is_corrupt() {
        let mut frame = compress(Codec::Lz4, &vec![7u8; FRAME_RAW_MAX]).unwrap();
        frame[..4].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(decode(&frame, u64::MAX), Err(DecompressError::Corrupt));
    }

    #[test]
    fn garbage_and_truncation_are_typed_errors() {
        let wire = compress(Codec::Lz4, &text(100_000)).unwrap();
        for cut in [1usize, 7, 8, 9, wire.len() / 2, wire.len() - 1] {
            let got = decode(&wire[..cut], u64::MAX);
            assert!(
                matches!(
                    got,
                    Err(DecompressError::Truncated | DecompressError::Corrupt)
                ),
                "cut {cut}: {got:?}"
            );
        }
        let mut x = 1u64;
        for round in 0..200 {
            let mut garbage = wire.clone();
            for _ in 0..=round % 5 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = (x >> 33) as usize % garbage.len();
                garbage[at] ^= (x >> 24) as u8 | 1;
            }
            // Any outcome but a panic, bounded by the limit.
            if let Ok(out) = decode(&garbage, 200_000) {
                assert!(out.len() <= 200_000);
            }
        }
    }

    #[test]
    fn zstd_without_the_feature_or_with_it() {
        let mut frame = Vec::new();
        frame.extend_from_slice(&16u32.to_le_bytes());
        frame.extend_from_slice(&4u32.to_le_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        let flags = FrameFlags::COMPRESSED | FrameFlags::ZSTD;
        let got = decompress_message(flags, &frame, u64::MAX, &mut unlimited);
        let expected = if cfg!(feature = "zstd") {
            DecompressError::Corrupt
        } else {
            DecompressError::UnsupportedCodec
        };
        assert_eq!(got, Err(expected));
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_round_trips() {
        let data = text(300_000);
        let codec = Codec::Zstd { level: 3 };
        let wire = compress(codec, &data).expect("text shrinks");
        let got = decompress_message(codec.flags(), &wire, u64::MAX, &mut unlimited);
        assert_eq!(got.unwrap(), data);
    }
}
