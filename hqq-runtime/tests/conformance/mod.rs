//! Conformance tests of the in-memory layer, written once over a memory
//! region `(NonNull<u8>, len)` so they run on heap memory and on shared
//! segments alike. Every function wants a fresh, zeroed, page-aligned
//! region of at least [`REGION_LEN`] bytes.

#![allow(dead_code)] // Each test target uses a subset.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hqq_runtime::layout::Layout;
use hqq_runtime::link_memory::{LinkMemory, LinkMemoryOpenError};
use hqq_runtime::ring::{RingRecvError, RingRecvWaitError, RingSendError, RingSendWaitError};
use hqq_runtime::superblock::{SuperblockField, SuperblockWaitError};
use hqq_runtime::{Packet, Role};

/// Bytes every conformance region must have (an 8 x 128 layout fits).
pub const REGION_LEN: usize = 64 * 1024;

/// Zeroed, page-aligned heap memory standing in for a segment.
pub struct HeapRegion {
    ptr: NonNull<u8>,
    layout: std::alloc::Layout,
}

impl HeapRegion {
    /// `len` zero bytes aligned to 4096.
    pub fn new(len: usize) -> HeapRegion {
        let layout = std::alloc::Layout::from_size_align(len, 4096).unwrap();
        // SAFETY: len > 0.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        HeapRegion {
            ptr: NonNull::new(ptr).expect("allocation failed"),
            layout,
        }
    }

    /// Start of the region.
    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length of the region.
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// A copy of the region's bytes (read with atomics, word by word).
    pub fn snapshot(&self) -> Vec<u8> {
        (0..self.len() / 8)
            .flat_map(|i| word(self.ptr, i * 8).load(Ordering::SeqCst).to_le_bytes())
            .collect()
    }
}

impl Drop for HeapRegion {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// The u64 word at byte `offset` of a region, as an atomic: how a peer (or
/// an attacker) pokes the segment.
pub fn word<'a>(region: NonNull<u8>, offset: usize) -> &'a AtomicU64 {
    assert_eq!(offset % 8, 0);
    // SAFETY: callers pass offsets inside their region, which outlives the
    // use; the memory is only accessed atomically.
    unsafe { AtomicU64::from_ptr(region.as_ptr().add(offset).cast()) }
}

/// Runs `f` on another thread and fails the test if it takes longer than
/// `limit` (instead of hanging CI).
pub fn with_watchdog<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            handle.join().unwrap();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(handle.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: test exceeded {limit:?}"),
    }
}

/// A region pointer that can cross threads (the tests own the memory).
#[derive(Clone, Copy)]
pub struct Region(pub NonNull<u8>, pub usize);
// SAFETY: the region is shared memory accessed atomically / per protocol.
unsafe impl Send for Region {}
// SAFETY: as for `Send`.
unsafe impl Sync for Region {}

/// Opens `region` with `layout`.
pub fn open(
    region: Region,
    layout: Layout,
    wait: Duration,
) -> Result<LinkMemory, LinkMemoryOpenError> {
    // SAFETY: the test owns the region for longer than the LinkMemory, and
    // touches it otherwise only through atomics.
    unsafe { LinkMemory::open(region.0, region.1, layout, Instant::now() + wait) }
}

fn copy_packet(copy_id: u64, index: usize, size: u64) -> Packet {
    Packet::new(0xFF, [copy_id, index as u64, size, 0, 0, 0, 0])
}

/// Primary and secondary open the same region from two threads and
/// exchange payloads in both directions.
pub fn primary_and_secondary_exchange(region: Region) {
    let layout = Layout::new(4, 64).unwrap();
    let primary = open(region, layout, Duration::from_secs(5)).unwrap();
    assert_eq!(primary.role(), Role::Primary);
    let rounds = 200u64;
    std::thread::scope(|s| {
        s.spawn(|| {
            let secondary = open(region, layout, Duration::from_secs(5)).unwrap();
            assert_eq!(secondary.role(), Role::Secondary);
            assert!(secondary.extension().is_some());
            let deadline = Instant::now() + Duration::from_secs(20);
            for i in 0..rounds {
                let claim = secondary.rx().claim_recv_timeout(deadline).unwrap();
                let p = claim.packet();
                assert_eq!(p.operand(1), claim.index() as u64);
                let mut buf = [0u8; 64];
                let n = claim.read_payload(p.operand(2), &mut buf).unwrap();
                assert_eq!(&buf[..n], format!("ping {i}").as_bytes());
                drop(claim);
                let mut reply = secondary.tx().claim_send_timeout(deadline).unwrap();
                let text = format!("pong {i}");
                reply.write_payload(text.as_bytes()).unwrap();
                let index = reply.index();
                reply.commit(copy_packet(i + 1, index, text.len() as u64));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        for i in 0..rounds {
            let mut claim = primary.tx().claim_send_timeout(deadline).unwrap();
            let text = format!("ping {i}");
            claim.write_payload(text.as_bytes()).unwrap();
            let index = claim.index();
            claim.commit(copy_packet(i + 1, index, text.len() as u64));
            let reply = primary.rx().claim_recv_timeout(deadline).unwrap();
            let size = reply.packet().operand(2) as usize;
            assert_eq!(
                reply.payload().get(..size).unwrap(),
                format!("pong {i}").as_bytes()
            );
        }
    });
}

/// Several openers race; exactly one becomes primary, all others attach.
pub fn concurrent_open_elects_one_primary(region: Region) {
    let layout = Layout::new(8, 128).unwrap();
    let roles: Vec<Role> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(move || open(region, layout, Duration::from_secs(5)).unwrap().role()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(roles.iter().filter(|r| **r == Role::Primary).count(), 1);
}

/// A secondary with another configuration gets a typed error.
pub fn secondary_rejects_mismatched_config(region: Region) {
    let wait = Duration::from_secs(1);
    open(region, Layout::new(4, 64).unwrap(), wait).unwrap();
    let err = open(region, Layout::new(8, 64).unwrap(), wait).unwrap_err();
    assert_eq!(
        err,
        LinkMemoryOpenError::Superblock(SuperblockWaitError::ConfigMismatch {
            field: SuperblockField::Count,
            ours: 8,
            theirs: 4
        })
    );
    let err = open(region, Layout::new(4, 128).unwrap(), wait).unwrap_err();
    assert!(matches!(
        err,
        LinkMemoryOpenError::Superblock(SuperblockWaitError::ConfigMismatch {
            field: SuperblockField::Size,
            ..
        })
    ));
    word(region.0, 56).store(12345, Ordering::SeqCst);
    let err = open(region, Layout::new(4, 64).unwrap(), wait).unwrap_err();
    assert!(matches!(
        err,
        LinkMemoryOpenError::Superblock(SuperblockWaitError::ConfigMismatch {
            field: SuperblockField::LayoutSize,
            theirs: 12345,
            ..
        })
    ));
    word(region.0, 16).store(2, Ordering::SeqCst);
    let err = open(region, Layout::new(4, 64).unwrap(), wait).unwrap_err();
    assert_eq!(
        err,
        LinkMemoryOpenError::Superblock(SuperblockWaitError::VersionMismatch {
            major: 2,
            minor: 0
        })
    );
    word(region.0, 0).store(0x5a5a, Ordering::SeqCst);
    let err = open(region, Layout::new(4, 64).unwrap(), wait).unwrap_err();
    assert_eq!(
        err,
        LinkMemoryOpenError::Superblock(SuperblockWaitError::WrongMagic(0x5a5a))
    );
}

/// A segment stuck in `initializing` (a primary that died) times out.
pub fn secondary_times_out_on_stuck_primary(region: Region) {
    word(region.0, 8).store(1, Ordering::SeqCst);
    let started = Instant::now();
    let err = open(
        region,
        Layout::new(4, 64).unwrap(),
        Duration::from_millis(50),
    )
    .unwrap_err();
    assert_eq!(
        err,
        LinkMemoryOpenError::Superblock(SuperblockWaitError::ReadyTimeout { state: 1 })
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
}

/// Region checks done before touching memory.
pub fn region_is_checked(region: Region) {
    let layout = Layout::new(4, 64).unwrap();
    let short = Region(region.0, layout.total_size() - 1);
    assert!(matches!(
        open(short, layout, Duration::ZERO),
        Err(LinkMemoryOpenError::RegionTooSmall { .. })
    ));
    // SAFETY: one page into the region is still inside it.
    let skewed = Region(unsafe { region.0.add(8) }, region.1 - 8);
    assert_eq!(
        open(skewed, layout, Duration::ZERO).unwrap_err(),
        LinkMemoryOpenError::Misaligned
    );
}

/// Deterministic garbage (xorshift), biased towards near-valid values.
pub struct Garbage(pub u64);

impl Garbage {
    /// The next raw value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value that is often close to something valid.
    pub fn value(&mut self) -> u64 {
        match self.next() % 5 {
            0 => self.next(),
            1 => self.next() % 8,
            2 => u64::MAX - self.next() % 8,
            3 => 0x4851_515f_5354_4c31,
            _ => 0xc9d8_c1d4_3f09_6701,
        }
    }
}

/// Garbage superblocks: opening fails with an error (or, if `state`
/// happens to be 0, wins the election), never panics or hangs.
pub fn garbage_superblock_is_an_error(region: Region) {
    let layout = Layout::new(4, 64).unwrap();
    let mut garbage = Garbage(0x2545_f491_4f6c_dd1d);
    for _ in 0..200 {
        for offset in (0..64).step_by(8) {
            word(region.0, offset).store(garbage.value(), Ordering::SeqCst);
        }
        let state = garbage.next() % 4;
        word(region.0, 8).store(
            if state == 3 { garbage.next() } else { state },
            Ordering::SeqCst,
        );
        let state = word(region.0, 8).load(Ordering::SeqCst);
        match open(region, layout, Duration::from_millis(2)) {
            Ok(memory) => {
                assert!(state == 0 || state == 2, "opened with state {state}");
                if state == 0 {
                    assert_eq!(memory.role(), Role::Primary);
                }
            }
            Err(LinkMemoryOpenError::Superblock(e)) => {
                assert_ne!(state, 0, "{e}");
            }
            Err(LinkMemoryOpenError::RingAttach(_)) => assert_eq!(state, 2),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}

/// Random bytes written into a live segment (superblock, ring headers,
/// sequence numbers, packets, buffers) while both sides keep operating:
/// every operation returns a value or a typed error in bounded time.
pub fn corrupted_live_segment_reports_errors(region: Region) {
    let layout = Layout::new(4, 64).unwrap();
    let primary = open(region, layout, Duration::from_secs(1)).unwrap();
    let secondary = open(region, layout, Duration::from_secs(1)).unwrap();
    let mut garbage = Garbage(0xdead_beef_cafe_f00d);
    let mut targets: Vec<usize> = (0..64).step_by(8).collect();
    for d in [
        hqq_runtime::Direction::PrimaryToSecondary,
        hqq_runtime::Direction::SecondaryToPrimary,
    ] {
        let ring = layout.ring_offset(d);
        targets.extend([0, 8, 16, 24, 128].map(|o| ring + o));
        for slot in 0..4 {
            targets.extend((0..9).map(|w| ring + 256 + 72 * slot + 8 * w));
        }
        targets.extend((0..8).map(|w| layout.buffers_offset(d) + 8 * w));
    }
    let (mut corrupt, mut delivered) = (0, 0);
    for round in 0..2000 {
        for _ in 0..(garbage.next() % 3) {
            let target = targets[(garbage.next() % targets.len() as u64) as usize];
            word(region.0, target).store(garbage.value(), Ordering::SeqCst);
        }
        let (sender, receiver) = if round % 2 == 0 {
            (&primary, &secondary)
        } else {
            (&secondary, &primary)
        };
        let deadline = Instant::now() + Duration::from_micros(300);
        match sender.tx().claim_send_timeout(deadline) {
            Ok(mut claim) => {
                claim.write_payload(b"payload").unwrap();
                let index = claim.index();
                claim.commit(copy_packet(1, index, 7));
            }
            Err(RingSendWaitError::Corrupt) => corrupt += 1,
            Err(RingSendWaitError::TimedOut) => {}
        }
        match receiver.rx().try_claim_recv() {
            Ok(claim) => {
                delivered += 1;
                let p = claim.packet();
                let mut out = [0u8; 64];
                match claim.read_payload(p.operand(2), &mut out) {
                    Ok(n) => assert!(n <= 64),
                    Err(e) => assert!(p.operand(2) > 64, "{e}"),
                }
            }
            Err(RingRecvError::Corrupt) => corrupt += 1,
            Err(RingRecvError::Empty | RingRecvError::Contended) => {}
        }
        match receiver
            .rx()
            .claim_recv_timeout(Instant::now() + Duration::from_micros(100))
        {
            Ok(_) | Err(RingRecvWaitError::TimedOut | RingRecvWaitError::Corrupt) => {}
        }
        match sender.tx().try_claim_send() {
            Ok(claim) => drop(claim),
            Err(RingSendError::Full | RingSendError::Contended | RingSendError::Corrupt) => {}
        }
    }
    // Both outcomes must have happened for the test to mean something.
    assert!(corrupt > 0, "no corruption was ever detected");
    assert!(delivered > 0, "nothing was ever delivered");
}
