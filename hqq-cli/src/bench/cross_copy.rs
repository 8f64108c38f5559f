//! A bare hand-off between the two CPUs: one thread copies each message
//! from a working set into one of 256 buffers, a thread on the peer
//! CPU copies it out, and two shared counters hand the buffers back and
//! forth. The copies are the Standard link's own (`memcpy` in,
//! [`PayloadView::copy_to_slice`] out); there is no ring, packet, check or
//! segment. It is not a ceiling: both counters cross between the cores on
//! every message, where the link's per-slot sequence words spread that
//! traffic over many lines, and so does each buffer's (never contended)
//! lock, which both sides take once per message, two to a cache line. It shows what copying in on one core and out
//! on another costs without a protocol, which a copy within one core
//! ([`super::copy`]) does not (there the source is already in the copying
//! core's caches).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hqq_runtime::PayloadView;

use super::copy::WORKING_SET;
use super::error::BenchError;
use super::measure::Stream;

/// Buffers in flight: as many as the link rows' ring slots would carry
/// at 4 KiB in 1 MiB.
const SLOTS: usize = 256;

/// The largest message the buffers hold.
const SLOT_BYTES: usize = 4096;

/// How long either side waits for the other before the row fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// Role name in errors.
const ROLE: &str = "cross-core copy";

/// The buffers and the two hand-off counters.
#[derive(Debug)]
pub struct CrossCoreCopy {
    source: Vec<u8>,
    /// Each slot's buffer; a lock that is never contended (the counters
    /// decide whose turn it is), so the copy itself is plain `memcpy`.
    slots: Vec<Mutex<Vec<u8>>>,
    /// Messages written so far.
    written: CachePadded<AtomicU64>,
    /// Messages read so far.
    read: CachePadded<AtomicU64>,
}

impl CrossCoreCopy {
    /// The buffers, filled so that no page is left unmapped.
    pub fn new() -> CrossCoreCopy {
        CrossCoreCopy {
            source: (0..WORKING_SET).map(|i| i as u8).collect(),
            slots: (0..SLOTS)
                .map(|_| Mutex::new(vec![1; SLOT_BYTES]))
                .collect(),
            written: CachePadded::new(AtomicU64::new(0)),
            read: CachePadded::new(AtomicU64::new(0)),
        }
    }
}

impl Default for CrossCoreCopy {
    fn default() -> Self {
        Self::new()
    }
}

/// Spins until `ready()` or [`PATIENCE`] passes.
fn spin_until(ready: impl Fn() -> bool) -> Result<(), BenchError> {
    let start = Instant::now();
    let mut spins = 0u32;
    while !ready() {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % 1024 == 0 && start.elapsed() > PATIENCE {
            return Err(BenchError::PeerStalled {
                role: ROLE,
                waited: PATIENCE,
            });
        }
    }
    Ok(())
}

impl CrossCoreCopy {
    /// The buffer of message `i` (its lock is never contended; a poisoned
    /// one only means the other side panicked, which the scope reports).
    fn slot(&self, i: u64) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.slots[i as usize % SLOTS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The reading side: copies `count` messages of `size` bytes out.
    fn read_messages(&self, size: usize, count: u64) -> Result<(), BenchError> {
        if let Some(cpu) = super::pin::peer_cpu() {
            // `pin_client` checked that this process may use the CPU.
            let _ = super::pin::pin_current_thread(cpu);
        }
        let mut dest = vec![0; size];
        for i in 0..count {
            // Acquire: pairs with the writer's Release store.
            spin_until(|| self.written.load(Ordering::Acquire) > i)?;
            let slot = self.slot(i);
            PayloadView::from_slice(&slot[..size]).copy_to_slice(&mut dest);
            std::hint::black_box(&mut dest);
            drop(slot);
            // Release: hands the slot back after the copy.
            self.read.store(i + 1, Ordering::Release);
        }
        Ok(())
    }

    /// The writing side: copies `count` messages of `size` bytes in.
    fn write_messages(&self, size: usize, count: u64) -> Result<(), BenchError> {
        let offsets = WORKING_SET / size;
        for i in 0..count {
            // Acquire: pairs with the reader's Release store.
            spin_until(|| i - self.read.load(Ordering::Acquire) < SLOTS as u64)?;
            let offset = (i as usize % offsets) * size;
            let mut slot = self.slot(i);
            slot[..size].copy_from_slice(&self.source[offset..offset + size]);
            drop(slot);
            // Release: publishes the copy.
            self.written.store(i + 1, Ordering::Release);
        }
        spin_until(|| self.read.load(Ordering::Acquire) == count)
    }
}

impl Stream for CrossCoreCopy {
    fn stream(&mut self, size: usize, count: u64) -> Result<Duration, BenchError> {
        let size = size.clamp(1, SLOT_BYTES);
        self.written.store(0, Ordering::Relaxed);
        self.read.store(0, Ordering::Relaxed);
        let this = &*self;
        std::thread::scope(|scope| {
            let reader = std::thread::Builder::new()
                .name("hqq-bench-copy-reader".to_owned())
                .spawn_scoped(scope, move || this.read_messages(size, count))
                .map_err(|source| BenchError::Io {
                    role: ROLE,
                    operation: "spawn thread",
                    source,
                })?;
            let started = Instant::now();
            let written = this.write_messages(size, count);
            let elapsed = started.elapsed();
            let read = reader.join().unwrap_or(Err(BenchError::PeerStalled {
                role: ROLE,
                waited: Duration::ZERO,
            }));
            written.and(read).map(|()| elapsed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_goes_through_and_the_last_one_is_what_was_written() {
        let mut copy = CrossCoreCopy::new();
        let elapsed = copy.stream(100, SLOTS as u64 * 3 + 7).expect("streams");
        assert!(elapsed > Duration::ZERO);
        assert_eq!(copy.read.load(Ordering::Relaxed), SLOTS as u64 * 3 + 7);
        let last = SLOTS as u64 * 3 + 6;
        let offset = (last as usize % (WORKING_SET / 100)) * 100;
        assert_eq!(copy.slot(last)[..100], copy.source[offset..offset + 100]);
        assert!(copy.stream(4096, 10).is_ok(), "a second run starts afresh");
    }
}
