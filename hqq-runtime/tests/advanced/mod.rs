//! Support for the Advanced link tests: link ends over a shared segment
//! (the Standard link's rings and buffers, through `LinkMemory`).

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, PacketTransport, TransportError};
use hqq_runtime::{Layout, LinkMemory, Packet, Segment, SegmentOptions};

/// One end of a link: its `LinkMemory` and the segment it lives in.
pub struct SegmentEnd {
    // Declared first: dropped before the segment it points into.
    memory: LinkMemory,
    segment: Arc<Segment>,
}

impl SegmentEnd {
    /// Opens an end on `segment` (the first becomes primary).
    pub fn open(segment: &Arc<Segment>, layout: Layout) -> SegmentEnd {
        let region = NonNull::new(segment.as_ptr()).expect("mapped segment");
        // SAFETY: the segment is mapped for its whole length and outlives
        // the LinkMemory (field order); the region is only accessed through
        // LinkMemory and raw snapshots; a fresh segment is zero-filled.
        let memory = unsafe {
            LinkMemory::open(
                region,
                segment.len(),
                layout,
                Instant::now() + Duration::from_secs(5),
            )
        }
        .expect("open link memory");
        SegmentEnd {
            memory,
            segment: Arc::clone(segment),
        }
    }

    /// The link memory, for sending raw (possibly bad) packets.
    pub fn memory(&self) -> &LinkMemory {
        &self.memory
    }
}

impl PacketTransport for SegmentEnd {
    fn buffer_size(&self) -> usize {
        self.memory.buffer_size()
    }
    fn slots(&self) -> u64 {
        self.memory.slots()
    }
    fn send_packet(
        &self,
        deadline: Option<Instant>,
        fill: &mut dyn FnMut(usize, &mut [u8]) -> Packet,
    ) -> Result<(), TransportError> {
        self.memory.send_packet(deadline, fill)
    }
    fn recv_packet(
        &self,
        deadline: Option<Instant>,
        read: &mut dyn FnMut(Packet, &[u8]),
    ) -> Result<(), TransportError> {
        self.memory.recv_packet(deadline, read)
    }
}

/// An anonymous segment for `layout`.
pub fn anonymous(layout: Layout) -> Arc<Segment> {
    Arc::new(Segment::anonymous(layout.total_size()).expect("anonymous segment"))
}

/// A named segment for `layout`, created (and removed on drop) by this process.
pub fn create_named(name: &str, layout: Layout) -> Arc<Segment> {
    Arc::new(
        Segment::create(name, layout.total_size(), &SegmentOptions::default()).expect("create"),
    )
}

/// Two Advanced link ends (primary, secondary) on one anonymous segment.
pub fn pair(slots: u64, buffer: u64, config: AdvancedConfig) -> (AdvancedLink, AdvancedLink) {
    let layout = Layout::new(slots, buffer).unwrap();
    let segment = anonymous(layout);
    let primary = AdvancedLink::new(SegmentEnd::open(&segment, layout), config);
    let secondary = AdvancedLink::new(SegmentEnd::open(&segment, layout), config);
    (primary, secondary)
}

/// Two negotiated ends (the secondary accepts on a scoped thread).
pub fn negotiated_pair(
    slots: u64,
    buffer: u64,
    config: AdvancedConfig,
) -> (AdvancedLink, AdvancedLink) {
    let (primary, secondary) = pair(slots, buffer, config);
    std::thread::scope(|s| {
        let acceptor = s.spawn(|| secondary.wait_for_negotiation().unwrap());
        primary.negotiate(config.offer).unwrap();
        acceptor.join().unwrap();
    });
    (primary, secondary)
}

/// Runs `f` on a thread and fails the test if it takes longer than `limit`.
pub fn with_watchdog<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(limit) {
        Ok(()) => handle.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("watchdog: test ran over {limit:?}")
        }
    }
}
