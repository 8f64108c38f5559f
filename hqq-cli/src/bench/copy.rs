//! The copy ceiling: a bare `memcpy` loop in one process, the speed limit
//! of a transport that copies each message in (sender) and out (receiver).

use std::time::{Duration, Instant};

use super::error::BenchError;
use super::measure::Stream;

/// Bytes the copies cycle through: about what a ring of 256 4 KiB buffers
/// touches, so the source is in the cache hierarchy but not all in L1.
pub const WORKING_SET: usize = 1 << 20;

/// A [`Stream`] whose "messages" are `memcpy`s from consecutive offsets of
/// a [`WORKING_SET`]-byte buffer into one message-sized buffer.
#[derive(Debug)]
pub struct CopyCeiling {
    source: Vec<u8>,
    dest: Vec<u8>,
}

impl CopyCeiling {
    /// The buffers, filled so that no page is left unmapped.
    pub fn new() -> CopyCeiling {
        CopyCeiling {
            source: (0..WORKING_SET).map(|i| i as u8).collect(),
            dest: Vec::new(),
        }
    }
}

impl Default for CopyCeiling {
    fn default() -> Self {
        Self::new()
    }
}

impl Stream for CopyCeiling {
    fn stream(&mut self, size: usize, count: u64) -> Result<Duration, BenchError> {
        let size = size.clamp(1, WORKING_SET);
        self.dest.resize(size, 0);
        let slots = WORKING_SET / size;
        let started = Instant::now();
        for i in 0..count {
            let offset = (i as usize % slots) * size;
            let source = std::hint::black_box(&self.source[offset..offset + size]);
            self.dest.copy_from_slice(source);
            std::hint::black_box(&mut self.dest);
        }
        Ok(started.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_working_set_in_order() {
        let mut copy = CopyCeiling::new();
        copy.stream(100, 3).expect("copies");
        assert_eq!(
            copy.dest[..2],
            [200, 201],
            "the third copy is from offset 200"
        );
        assert!(copy.stream(WORKING_SET * 2, 1).is_ok());
    }
}
