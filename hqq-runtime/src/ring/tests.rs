//! Unit tests of the ring on heap memory (they also run under Miri, with
//! smaller sizes).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// Zeroed, 4096-aligned heap memory standing in for a segment.
struct Heap {
    ptr: NonNull<u8>,
    layout: std::alloc::Layout,
}

impl Heap {
    fn new(len: usize) -> Heap {
        let layout = std::alloc::Layout::from_size_align(len, 4096).unwrap();
        // SAFETY: len > 0 in every test.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        Heap {
            ptr: NonNull::new(ptr).unwrap(),
            layout,
        }
    }

    fn at(&self, offset: usize) -> NonNull<u8> {
        assert!(offset < self.layout.size());
        // SAFETY: in bounds (asserted).
        unsafe { self.ptr.add(offset) }
    }

    /// The u64 word at byte `offset`, as an atomic (how a peer would poke it).
    fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset % 8 == 0 && offset + 8 <= self.layout.size());
        // SAFETY: in bounds, aligned, and only accessed atomically.
        unsafe { AtomicU64::from_ptr(self.at(offset).as_ptr().cast()) }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

const SIZE: u64 = 64;
const BUFFERS: usize = 8192;

/// A ring of `count` slots at offset 0 and its buffers at `BUFFERS`.
fn ring(heap: &Heap, count: u64) -> Ring {
    // SAFETY: the heap holds the ring and `count * SIZE` buffer bytes, and
    // outlives the ring in every test.
    unsafe { Ring::init(heap.at(0), count, heap.at(BUFFERS), SIZE) }.unwrap()
}

fn heap() -> Heap {
    Heap::new(BUFFERS + 16 * SIZE as usize)
}

fn seq_offset(index: usize) -> usize {
    256 + 72 * index + 64
}

fn packet(a: u64, b: u64) -> Packet {
    Packet::new(0xFF, [a, b, 0, 0, 0, 0, 0])
}

#[test]
fn init_writes_wire_header() {
    let heap = heap();
    let _ring = ring(&heap, 4);
    assert_eq!(heap.word(0).load(Ordering::Relaxed), RING_MAGIC);
    assert_eq!(heap.word(8).load(Ordering::Relaxed), 4);
    assert_eq!(heap.word(16).load(Ordering::Relaxed), 2);
    assert_eq!(heap.word(24).load(Ordering::Relaxed), 0);
    assert_eq!(heap.word(128).load(Ordering::Relaxed), 0);
    for i in 0..4 {
        assert_eq!(heap.word(seq_offset(i)).load(Ordering::Relaxed), i as u64);
    }
}

#[test]
fn smoke() {
    let heap = heap();
    let ring = ring(&heap, 4);
    let mut claim = ring.try_claim_send().unwrap();
    assert_eq!(claim.index(), 0);
    claim.write_payload(b"hello").unwrap();
    claim.commit(packet(1, 5));
    let claim = ring.try_claim_recv().unwrap();
    assert_eq!(claim.index(), 0);
    assert_eq!(claim.packet(), packet(1, 5));
    assert_eq!(claim.payload().get(..5).unwrap(), b"hello");
    let mut out = [0u8; 8];
    assert_eq!(claim.read_payload(5, &mut out), Ok(5));
    assert_eq!(&out[..5], b"hello");
    claim.release();
    assert_eq!(heap.word(seq_offset(0)).load(Ordering::Relaxed), 4);
    assert_eq!(ring.try_claim_recv().unwrap_err(), RingRecvError::Empty);
}

#[test]
fn full_then_empty() {
    let heap = heap();
    let ring = ring(&heap, 4);
    for i in 0..4 {
        ring.try_claim_send().unwrap().commit(packet(i, 0));
    }
    assert_eq!(ring.try_claim_send().unwrap_err(), RingSendError::Full);
    for i in 0..4 {
        assert_eq!(ring.try_claim_recv().unwrap().packet(), packet(i, 0));
    }
    assert_eq!(ring.try_claim_recv().unwrap_err(), RingRecvError::Empty);
}

#[test]
fn packet_receives_come_in_order_and_hand_the_slot_back_at_once() {
    let heap = heap();
    let ring = ring(&heap, 2);
    for lap in 0..5 {
        ring.try_claim_send().unwrap().commit(packet(lap, 0));
        ring.try_claim_send().unwrap().commit(packet(lap, 1));
        assert_eq!(ring.try_claim_send().unwrap_err(), RingSendError::Full);
        assert_eq!(ring.try_recv_packet().unwrap(), packet(lap, 0));
        // The slot is free again while nothing of the receive is held.
        ring.try_claim_send().unwrap().commit(packet(lap, 2));
        assert_eq!(ring.try_recv_packet().unwrap(), packet(lap, 1));
        assert_eq!(ring.try_claim_recv().unwrap().packet(), packet(lap, 2));
        assert_eq!(ring.try_recv_packet().unwrap_err(), RingRecvError::Empty);
    }
}

#[test]
fn full_while_a_consumer_holds_a_slot() {
    let heap = heap();
    let ring = ring(&heap, 2);
    ring.try_claim_send().unwrap().commit(packet(0, 0));
    ring.try_claim_send().unwrap().commit(packet(1, 0));
    let held = ring.try_claim_recv().unwrap();
    assert_eq!(ring.try_claim_send().unwrap_err(), RingSendError::Full);
    drop(held);
    ring.try_claim_send().unwrap().commit(packet(2, 0));
}

#[test]
fn wraps_around_many_laps() {
    let laps: u64 = if cfg!(miri) { 5 } else { 1000 };
    let heap = heap();
    let ring = ring(&heap, 4);
    for lap in 0..laps {
        for i in 0..3 {
            let mut claim = ring.try_claim_send().unwrap();
            claim.write_payload(&(lap * 3 + i).to_le_bytes()).unwrap();
            claim.commit(packet(lap, i));
        }
        for i in 0..3 {
            let claim = ring.try_claim_recv().unwrap();
            assert_eq!(claim.packet(), packet(lap, i));
            assert_eq!(claim.payload().read_u64_le(0), Some(lap * 3 + i));
        }
    }
    assert_eq!(
        heap.word(128).load(Ordering::Relaxed),
        heap.word(24).load(Ordering::Relaxed)
    );
}

#[test]
fn dropped_send_claim_publishes_tombstone() {
    let heap = heap();
    let ring = ring(&heap, 4);
    ring.try_claim_send().unwrap().commit(packet(1, 0));
    drop(ring.try_claim_send().unwrap());
    ring.try_claim_send().unwrap().commit(packet(2, 0));
    assert_eq!(ring.try_claim_recv().unwrap().packet(), packet(1, 0));
    let tombstone = ring.try_claim_recv().unwrap();
    assert_eq!(tombstone.packet().opcode(), 0xFE);
    assert_eq!(
        tombstone.packet().operands(),
        [0, 1, TOMBSTONE_REASON_CLAIM_DROPPED, 0, 0, 0, 0]
    );
    drop(tombstone);
    assert_eq!(ring.try_claim_recv().unwrap().packet(), packet(2, 0));
}

#[test]
fn dropped_recv_claim_releases_slot() {
    let heap = heap();
    let ring = ring(&heap, 2);
    for round in 0..3 {
        ring.try_claim_send().unwrap().commit(packet(round, 0));
        ring.try_claim_send().unwrap().commit(packet(round, 1));
        drop(ring.try_claim_recv().unwrap());
        drop(ring.try_claim_recv().unwrap());
    }
    assert_eq!(ring.try_claim_recv().unwrap_err(), RingRecvError::Empty);
}

#[test]
fn batch_claims_consecutive_published_slots() {
    let heap = heap();
    let ring = ring(&heap, 8);
    for i in 0..5 {
        let mut claim = ring.try_claim_send().unwrap();
        claim.write_payload(&[i as u8; 4]).unwrap();
        claim.commit(packet(i, 0));
    }
    let batch = ring.try_recv_batch(3).unwrap();
    assert_eq!(batch.len(), 3);
    assert!(!batch.is_empty());
    for i in 0..3 {
        assert_eq!(batch.packet(i), Some(packet(i as u64, 0)));
        assert_eq!(batch.index(i), Some(i));
        assert_eq!(batch.payload(i).and_then(|p| p.read_u8(0)), Some(i as u8));
    }
    assert_eq!(batch.packet(3), None);
    let mut out = [0u8; 4];
    assert_eq!(batch.read_payload(1, 4, &mut out), Ok(Some(4)));
    assert_eq!(out, [1; 4]);
    assert_eq!(batch.read_payload(9, 4, &mut out), Ok(None));
    drop(batch);
    let batch = ring.try_recv_batch(100).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.packet(0), Some(packet(3, 0)));
    drop(batch);
    assert_eq!(ring.try_recv_batch(4).unwrap_err(), RingRecvError::Empty);
    for i in 0..8 {
        ring.try_claim_send().unwrap().commit(packet(i, 1));
    }
    assert_eq!(ring.try_claim_send().unwrap_err(), RingSendError::Full);
}

#[test]
fn payload_lengths_are_checked() {
    let heap = heap();
    let ring = ring(&heap, 2);
    let mut claim = ring.try_claim_send().unwrap();
    assert_eq!(claim.capacity(), 64);
    assert_eq!(claim.payload_mut().len(), 64);
    assert_eq!(
        claim.write_payload(&[0; 65]),
        Err(RingPayloadError::TooLong {
            len: 65,
            capacity: 64
        })
    );
    claim.commit(packet(0, 0));
    let claim = ring.try_claim_recv().unwrap();
    let mut small = [0u8; 8];
    assert!(claim.read_payload(9, &mut small).is_err());
    assert!(claim.read_payload(u64::MAX, &mut [0u8; 128]).is_err());
    assert_eq!(claim.read_payload(0, &mut small), Ok(0));
}

#[test]
fn attach_validates_header() {
    let heap = heap();
    let ring_ptr = heap.at(0);
    let buffers = heap.at(BUFFERS);
    let attach = |count| {
        // SAFETY: the heap holds ring and buffers and outlives the result.
        unsafe { Ring::attach(ring_ptr, count, buffers, SIZE) }
    };
    assert_eq!(attach(4).unwrap_err(), RingAttachError::NotInitialized(0));
    ring(&heap, 4);
    assert!(attach(4).is_ok());
    assert_eq!(
        attach(8).unwrap_err(),
        RingAttachError::CountMismatch { ours: 8, theirs: 4 }
    );
    assert_eq!(
        attach(3).unwrap_err(),
        RingAttachError::Config(RingInitError::InvalidCount(3))
    );
    heap.word(0).store(7, Ordering::Relaxed);
    assert_eq!(attach(4).unwrap_err(), RingAttachError::WrongMagic(7));
    // SAFETY: as above; one byte in is misaligned but still in the heap.
    let misaligned = unsafe { Ring::init(heap.at(1), 4, buffers, SIZE) };
    assert_eq!(misaligned.unwrap_err(), RingInitError::Misaligned);
    // SAFETY: as above.
    let zero = unsafe { Ring::init(ring_ptr, 4, buffers, 0) };
    assert_eq!(zero.unwrap_err(), RingInitError::InvalidBufferSize(0));
}

#[test]
fn seq_out_of_window_is_corrupt() {
    let heap = heap();
    let ring = ring(&heap, 4);
    // Producer at w = 0 finds slot 0 ahead although w did not move.
    heap.word(seq_offset(0)).store(5, Ordering::Relaxed);
    assert_eq!(ring.try_claim_send().unwrap_err(), RingSendError::Corrupt);
    // Consumer at r = 0 finds slot 0 far ahead.
    assert_eq!(ring.try_claim_recv().unwrap_err(), RingRecvError::Corrupt);
    // Far behind for the producer.
    heap.word(128).store(10, Ordering::Relaxed);
    heap.word(seq_offset(2)).store(3, Ordering::Relaxed);
    assert_eq!(ring.try_claim_send().unwrap_err(), RingSendError::Corrupt);
    // The legitimate full window is not corrupt.
    heap.word(seq_offset(2)).store(7, Ordering::Relaxed);
    assert_eq!(ring.try_claim_send().unwrap_err(), RingSendError::Full);
    heap.word(seq_offset(2)).store(6, Ordering::Relaxed);
    assert_eq!(ring.try_claim_send().unwrap_err(), RingSendError::Full);
    // Consumer at r = 5: slot 1 legitimately at 2 (previous lap unreleased)
    // or 5 (not yet published); 1 is out of the window.
    heap.word(24).store(5, Ordering::Relaxed);
    heap.word(seq_offset(1)).store(2, Ordering::Relaxed);
    assert_eq!(ring.try_claim_recv().unwrap_err(), RingRecvError::Empty);
    heap.word(seq_offset(1)).store(5, Ordering::Relaxed);
    assert_eq!(ring.try_claim_recv().unwrap_err(), RingRecvError::Empty);
    heap.word(seq_offset(1)).store(1, Ordering::Relaxed);
    assert_eq!(ring.try_claim_recv().unwrap_err(), RingRecvError::Corrupt);
    assert_eq!(ring.try_recv_batch(4).unwrap_err(), RingRecvError::Corrupt);
}

#[test]
fn rewritten_header_count_does_not_change_indices() {
    let heap = heap();
    let ring = ring(&heap, 4);
    heap.word(8).store(u64::MAX, Ordering::Relaxed);
    for i in 0..9 {
        let claim = ring.try_claim_send().unwrap();
        assert_eq!(claim.index(), i % 4);
        claim.commit(packet(i as u64, 0));
        assert_eq!(ring.try_claim_recv().unwrap().index(), i % 4);
    }
}

/// A small xorshift generator: deterministic garbage without a dependency.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Mostly near-valid values (small, or near the positions), sometimes anything.
    fn value(&mut self) -> u64 {
        match self.next() % 4 {
            0 => self.next(),
            1 => self.next() % 16,
            2 => u64::MAX - self.next() % 16,
            _ => ((self.next() % 4) << 62) | (self.next() % 8),
        }
    }
}

#[test]
fn garbage_in_ring_memory_never_panics_or_hangs() {
    let rounds = if cfg!(miri) { 30 } else { 1000 };
    let heap = heap();
    let ring = ring(&heap, 4);
    let mut garbage = Garbage(0x9e37_79b9_7f4a_7c15);
    let words = [0usize, 8, 16, 24, 128]
        .into_iter()
        .chain((0..4).map(seq_offset))
        .chain((0..4).map(|i| 256 + 72 * i));
    let words: Vec<usize> = words.collect();
    for _ in 0..rounds {
        let offset = words[(garbage.next() % words.len() as u64) as usize];
        heap.word(offset).store(garbage.value(), Ordering::Relaxed);
        match ring.try_claim_send() {
            Ok(mut claim) => {
                claim.write_payload(b"x").unwrap();
                if garbage.next() % 2 == 0 {
                    claim.commit(packet(1, 1));
                }
            }
            Err(e) => assert!(matches!(e, RingSendError::Full | RingSendError::Corrupt)),
        }
        match ring.try_recv_batch(3) {
            Ok(batch) => {
                for i in 0..batch.len() {
                    let mut out = [0u8; 64];
                    let len = batch.packet(i).map_or(0, |p| p.operand(2));
                    let _ = batch.read_payload(i, len, &mut out);
                }
            }
            Err(e) => assert!(matches!(e, RingRecvError::Empty | RingRecvError::Corrupt)),
        }
        let deadline = Instant::now() + Duration::from_micros(200);
        match ring.claim_recv_timeout(deadline) {
            Ok(claim) => assert!(claim.index() < 4),
            Err(e) => assert!(matches!(
                e,
                RingRecvWaitError::TimedOut | RingRecvWaitError::Corrupt
            )),
        }
    }
}

#[test]
fn timeouts_are_honoured() {
    let heap = heap();
    let ring = ring(&heap, 2);
    let soon = || Instant::now() + Duration::from_millis(20);
    assert_eq!(
        ring.claim_recv_timeout(soon()).unwrap_err(),
        RingRecvWaitError::TimedOut
    );
    ring.try_claim_send().unwrap().commit(packet(0, 0));
    ring.try_claim_send().unwrap().commit(packet(1, 0));
    assert_eq!(
        ring.claim_send_timeout(soon()).unwrap_err(),
        RingSendWaitError::TimedOut
    );
    assert_eq!(ring.claim_recv().unwrap().packet(), packet(0, 0));
    ring.claim_send().unwrap().commit(packet(2, 0));
}

/// An `Idle` that never reports a timeout: the claim loop must still stop.
struct StubbornIdle;

impl Idle for StubbornIdle {
    fn idle(&self, _attempt: u32, _deadline: Option<Instant>) -> IdleOutcome {
        std::thread::yield_now();
        IdleOutcome::Retry
    }
}

/// An `Idle` standing in for a consumer: each wait releases one slot of
/// `ring`, up to `frees` of them, and counts the waits.
struct FreeingIdle<'a> {
    ring: &'a Ring,
    frees: u32,
    spins: bool,
    waits: std::cell::Cell<u32>,
}

impl Idle for FreeingIdle<'_> {
    fn spins(&self, _attempt: u32) -> bool {
        self.spins
    }

    fn idle(&self, _attempt: u32, _deadline: Option<Instant>) -> IdleOutcome {
        let waits = self.waits.get();
        if waits < self.frees {
            drop(self.ring.try_claim_recv().unwrap());
        }
        self.waits.set(waits + 1);
        IdleOutcome::Retry
    }
}

fn full_ring(heap: &Heap, count: u64) -> Ring {
    let ring = ring(heap, count);
    for i in 0..count {
        ring.try_claim_send().unwrap().commit(packet(i, 0));
    }
    ring
}

#[test]
fn a_full_ring_is_claimed_again_once_a_run_of_slots_is_free() {
    let heap = heap();
    let ring = full_ring(&heap, 16);
    let idle = FreeingIdle {
        ring: &ring,
        frees: u32::MAX,
        spins: true,
        waits: Default::default(),
    };
    ring.claim_send_with(&idle, None)
        .unwrap()
        .commit(packet(16, 0));
    assert_eq!(idle.waits.get() as u64, ring.free_run());
    assert_eq!(ring.free_run(), 2, "16 slots / 8");
}

#[test]
fn a_producer_waits_for_a_run_only_while_it_spins_and_not_for_long() {
    let heap = heap();
    let ring = full_ring(&heap, 16);
    let spinning = FreeingIdle {
        ring: &ring,
        frees: 1,
        spins: true,
        waits: Default::default(),
    };
    ring.claim_send_with(&spinning, None)
        .unwrap()
        .commit(packet(16, 0));
    assert_eq!(spinning.waits.get(), FREE_RUN_ATTEMPTS);
    let sleeping = FreeingIdle {
        spins: false,
        waits: Default::default(),
        ..spinning
    };
    ring.claim_send_with(&sleeping, None)
        .unwrap()
        .commit(packet(17, 0));
    assert_eq!(sleeping.waits.get(), 1, "claims the first free slot");
}

#[test]
fn deadline_holds_even_if_idle_ignores_it() {
    let heap = heap();
    let ring = ring(&heap, 2);
    let deadline = Instant::now() + Duration::from_millis(10);
    assert_eq!(
        ring.claim_recv_with(&StubbornIdle, Some(deadline))
            .unwrap_err(),
        RingRecvWaitError::TimedOut
    );
}

#[test]
fn mpmc_threads_exactly_once_in_producer_order() {
    let (producers, consumers, per_producer): (u64, u64, u64) = if cfg!(miri) {
        (2, 2, 20)
    } else {
        (3, 3, 20_000)
    };
    let heap = heap();
    let ring = ring(&heap, 8);
    let total = producers * per_producer;
    let received = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let results: Vec<Vec<(u64, u64)>> = std::thread::scope(|s| {
        for producer in 0..producers {
            let ring = &ring;
            s.spawn(move || {
                for i in 0..per_producer {
                    let mut claim = ring.claim_send_timeout(deadline).expect("send timed out");
                    claim.write_payload(&(producer ^ i).to_le_bytes()).unwrap();
                    claim.commit(packet(producer, i));
                }
            });
        }
        let handles: Vec<_> = (0..consumers)
            .map(|_| {
                let (ring, received) = (&ring, &received);
                s.spawn(move || {
                    let mut seen = Vec::new();
                    while received.load(Ordering::Relaxed) < total {
                        let Ok(batch) = ring.try_recv_batch(4) else {
                            assert!(Instant::now() < deadline, "receive timed out");
                            std::thread::yield_now();
                            continue;
                        };
                        for i in 0..batch.len() {
                            let p = batch.packet(i).unwrap();
                            let payload = batch.payload(i).unwrap().read_array::<8>(0).unwrap();
                            assert_eq!(payload, (p.operand(0) ^ p.operand(1)).to_le_bytes());
                            seen.push((p.operand(0), p.operand(1)));
                        }
                        received.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    }
                    seen
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all = Vec::new();
    for seen in results {
        for producer in 0..producers {
            let order: Vec<u64> = seen
                .iter()
                .filter(|(p, _)| *p == producer)
                .map(|(_, i)| *i)
                .collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]));
        }
        all.extend(seen);
    }
    all.sort_unstable();
    let expected: Vec<(u64, u64)> = (0..producers)
        .flat_map(|p| (0..per_producer).map(move |i| (p, i)))
        .collect();
    assert_eq!(all, expected);
}

/// A process table on heap memory: entry 0 is us (alive), entry 1 the
/// claimant, whose liveness the test chooses.
struct Table {
    page: Heap,
}

impl Table {
    fn new() -> Table {
        let page = Heap::new(4096);
        Table { page }
    }

    fn ext(&self) -> &crate::extension::ExtensionBlock {
        // SAFETY: one aligned page that lives as long as `self`, only
        // accessed through the block's atomics.
        let ext = unsafe { crate::extension::ExtensionBlock::at(self.page.at(0)) };
        ext
    }

    fn set(&self, index: usize, pid: u64, start_time: u64) {
        let entry = self.ext().process(index).unwrap();
        entry.start_time.store(start_time, Ordering::Relaxed);
        entry.pid.store(pid, Ordering::Release);
    }

    /// A view of `heap`'s ring that records claims in entry `index`.
    fn view(&self, heap: &Heap, count: u64, index: usize) -> Ring {
        let entry = self.ext().process(index).unwrap();
        // SAFETY: as in `ring`; the ring was initialized by `ring()`.
        let mut view = unsafe { Ring::attach(heap.at(0), count, heap.at(BUFFERS), SIZE) }.unwrap();
        // SAFETY: the words live in `self.page`, which outlives the view in
        // every test, and are only accessed atomically.
        unsafe {
            view.record_claims(
                NonNull::from(&entry.send_claim),
                NonNull::from(&entry.recv_claim),
                0,
            )
        };
        // Each view stands for a process of its own, whose slot flags are
        // its own (a real dead process's flags die with it).
        view.owners = Arc::new(owners::SlotOwners::new(count as usize));
        view
    }
}

/// A pid that just exited (reaped), so it names no process.
fn dead_pid() -> u64 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    u64::from(child.id())
}

#[test]
#[cfg_attr(miri, ignore = "reads /proc and spawns a process")]
fn dead_producer_claim_becomes_a_tombstone_and_live_one_is_left_alone() {
    let (heap, table) = (heap(), Table::new());
    let _init = ring(&heap, 4);
    let me = crate::liveness::ProcessIdentity::current().unwrap();
    table.set(0, u64::from(me.pid), me.start_time);
    let (claimant, mut survivor) = (table.view(&heap, 4, 1), table.view(&heap, 4, 0));
    let wake = WakeWords::watch(&mut survivor);

    survivor.try_claim_send().unwrap().commit(packet(1, 0));
    // The claimant takes position 1 and "dies" holding it.
    std::mem::forget(claimant.try_claim_send().unwrap());
    survivor.try_claim_send().unwrap().commit(packet(3, 0));

    // Alive: nothing is touched.
    table.set(1, u64::from(me.pid), me.start_time);
    assert_eq!(
        survivor.recover_dead_claims(table.ext(), 0, |_| false),
        RecoveredClaims::default()
    );
    // Dead: one tombstone (which wakes parked consumers), and the record
    // is cleared.
    table.set(1, dead_pid(), 1);
    let published = wake.data_bumps();
    let done = survivor.recover_dead_claims(table.ext(), 0, |i| i == 1);
    assert_eq!(wake.data_bumps(), published + 1, "recovery notifies");
    assert_eq!(
        done,
        RecoveredClaims {
            tombstones: 1,
            released: 0
        }
    );
    assert_eq!(
        table
            .ext()
            .process(1)
            .unwrap()
            .send_claim
            .load(Ordering::Relaxed),
        0
    );
    assert_eq!(
        survivor.recover_dead_claims(table.ext(), 0, |i| i == 1),
        RecoveredClaims::default()
    );

    assert_eq!(survivor.try_claim_recv().unwrap().packet(), packet(1, 0));
    let tombstone = survivor.try_claim_recv().unwrap().packet();
    assert_eq!(tombstone.opcode(), OPCODE_STANDARD_LINK_TOMBSTONE);
    assert_eq!(tombstone.operand(1), 1, "buffer index = slot");
    assert_eq!(tombstone.operand(2), TOMBSTONE_REASON_CLAIMANT_DIED);
    assert_eq!(survivor.try_claim_recv().unwrap().packet(), packet(3, 0));
}

#[test]
#[cfg_attr(miri, ignore = "reads /proc and spawns a process")]
fn dead_consumer_batch_is_released_and_the_ring_laps_again() {
    let (heap, table) = (heap(), Table::new());
    let _init = ring(&heap, 4);
    let me = crate::liveness::ProcessIdentity::current().unwrap();
    table.set(0, u64::from(me.pid), me.start_time);
    let (claimant, mut survivor) = (table.view(&heap, 4, 1), table.view(&heap, 4, 0));
    let wake = WakeWords::watch(&mut survivor);
    for i in 0..4 {
        survivor.try_claim_send().unwrap().commit(packet(i, 0));
    }
    // The claimant takes two messages in one batch and dies holding them.
    let batch = claimant.try_recv_batch(2).unwrap();
    assert_eq!(batch.len(), 2);
    std::mem::forget(batch);
    assert_eq!(survivor.try_claim_recv().unwrap().packet(), packet(2, 0));
    assert_eq!(survivor.try_claim_send().unwrap_err(), RingSendError::Full);

    table.set(1, dead_pid(), 1);
    let released = wake.space_bumps();
    let done = survivor.recover_dead_claims(table.ext(), 0, |i| i == 1);
    assert_eq!(
        done,
        RecoveredClaims {
            tombstones: 0,
            released: 2
        }
    );
    assert_eq!(wake.space_bumps(), released + 1, "recovery notifies");
    // Messages 0 and 1 died with their consumer; the ring has room again.
    for i in 4..7 {
        survivor.try_claim_send().unwrap().commit(packet(i, 0));
    }
    for i in [3, 4, 5, 6] {
        assert_eq!(survivor.try_claim_recv().unwrap().packet(), packet(i, 0));
    }
    assert_eq!(survivor.try_claim_recv().unwrap_err(), RingRecvError::Empty);
}

/// Item 1 of the hostile-peer rules: a peer that moves the write position
/// back while we hold a slot cannot hand a second claim of this process
/// the same slot (two `&mut` to one buffer).
#[test]
fn rewound_write_position_cannot_claim_a_held_slot_twice() {
    let heap = heap();
    let ring = ring(&heap, 4);
    let mut first = ring.try_claim_send().unwrap();
    heap.word(128).store(0, Ordering::Relaxed);
    assert_eq!(ring.try_claim_send().err(), Some(RingSendError::Corrupt));
    // The first claim still owns its buffer and publishes normally.
    first.payload_mut()[..2].copy_from_slice(b"ok");
    first.commit(packet(7, 2));
    let claim = ring.try_claim_recv().unwrap();
    assert_eq!(claim.packet(), packet(7, 2));
    assert_eq!(claim.payload().get(..2).unwrap(), b"ok");
}

#[test]
fn rewound_read_position_cannot_claim_a_held_slot_twice() {
    let heap = heap();
    let ring = ring(&heap, 4);
    for i in 0..2 {
        ring.try_claim_send().unwrap().commit(packet(i, 0));
    }
    let first = ring.try_claim_recv().unwrap();
    heap.word(24).store(0, Ordering::Relaxed);
    assert_eq!(ring.try_claim_recv().err(), Some(RingRecvError::Corrupt));
    heap.word(24).store(0, Ordering::Relaxed);
    assert_eq!(ring.try_recv_batch(2).err(), Some(RingRecvError::Corrupt));
    assert_eq!(first.packet(), packet(0, 0));
    drop(first);
    // Once released, the slot can be claimed again (here: the ring's
    // positions are garbled, so only the flags are checked).
    assert!(ring.owners.take(0));
}

/// Two `Ring`s of this process over one ring memory (the two ends of
/// `StandardLink::pair`) share slot ownership: a peer that marks a slot we
/// are filling as published cannot make our consumer read it meanwhile.
#[test]
fn rings_over_one_memory_share_slot_ownership() {
    let heap = heap();
    let producer = ring(&heap, 4);
    // SAFETY: the same memory and configuration as `producer`, which the
    // contract allows for a second `Ring` of this process.
    let consumer = unsafe { Ring::attach(heap.at(0), 4, heap.at(BUFFERS), SIZE) }.unwrap();
    let filling = producer.try_claim_send().unwrap();
    heap.word(seq_offset(0)).store(1, Ordering::Relaxed);
    assert_eq!(
        consumer.try_claim_recv().err(),
        Some(RingRecvError::Corrupt)
    );
    drop(filling);
}

/// The other way round: while our consumer reads a slot, a peer that makes
/// the slot look free for the next lap cannot make our producer fill it.
#[test]
fn a_slot_being_read_cannot_be_refilled_by_our_producer() {
    let heap = heap();
    let producer = ring(&heap, 4);
    // SAFETY: as in `rings_over_one_memory_share_slot_ownership`.
    let consumer = unsafe { Ring::attach(heap.at(0), 4, heap.at(BUFFERS), SIZE) }.unwrap();
    producer.try_claim_send().unwrap().commit(packet(0, 0));
    let reading = consumer.try_claim_recv().unwrap();
    // The next lap's position 4 of slot 0: free, as far as the words say.
    heap.word(seq_offset(0)).store(4, Ordering::Relaxed);
    heap.word(128).store(4, Ordering::Relaxed);
    assert_eq!(
        producer.try_claim_send().err(),
        Some(RingSendError::Corrupt)
    );
    assert_eq!(reading.packet(), packet(0, 0));
    drop(reading);
}

/// Item 6 of the hostile-peer issue: every path that publishes or releases
/// wakes a parked peer, because they all go through the ring (a commit, a
/// claim dropped uncommitted, a receive claim or batch dropped, and
/// dead-claim recovery; before, only the link's own calls notified).
#[test]
#[cfg_attr(miri, ignore = "futex system calls")]
fn every_publish_and_release_notifies() {
    let heap = heap();
    let mut ring = ring(&heap, 4);
    let wake = WakeWords::watch(&mut ring);
    let bumps = || (wake.data_bumps(), wake.space_bumps());

    ring.try_claim_send().unwrap().commit(packet(1, 0));
    assert_eq!(bumps(), (1, 0), "commit");
    drop(ring.try_claim_send().unwrap());
    assert_eq!(bumps(), (2, 0), "dropped send claim");
    drop(ring.try_claim_recv().unwrap());
    assert_eq!(bumps(), (2, 1), "dropped receive claim");
    drop(ring.try_recv_batch(4).unwrap());
    assert_eq!(bumps(), (2, 2), "dropped batch");
    assert_eq!(ring.data_event().0.as_ptr(), wake.words[0].as_ptr());
    assert_eq!(ring.space_event().1.as_ptr(), wake.words[3].as_ptr());
    drop(ring);
}

/// Event words on the heap for a ring to notify, each with a peer parked
/// on it (`waiters = 1`), so that every notify bumps its `seq`.
struct WakeWords {
    words: Box<[std::sync::atomic::AtomicU32; 4]>,
}

impl WakeWords {
    /// Makes `ring` notify fresh words. Every test uses the ring only while
    /// the returned words live (dropping a `Ring` does not touch them).
    fn watch(ring: &mut Ring) -> WakeWords {
        let words: Box<[std::sync::atomic::AtomicU32; 4]> = Box::default();
        words[1].store(1, Ordering::Relaxed);
        words[3].store(1, Ordering::Relaxed);
        let [data_seq, data_waiters, space_seq, space_waiters] = &*words;
        // SAFETY: the boxed words do not move, live as long as the tests
        // use the ring (see above), and are only accessed atomically.
        unsafe {
            ring.wake_shared(
                [NonNull::from(data_seq), NonNull::from(data_waiters)],
                [NonNull::from(space_seq), NonNull::from(space_waiters)],
            )
        };
        WakeWords { words }
    }

    fn data_bumps(&self) -> u32 {
        self.words[0].load(Ordering::Relaxed)
    }

    fn space_bumps(&self) -> u32 {
        self.words[2].load(Ordering::Relaxed)
    }
}
