//! Ring benchmarks, each next to its baseline from the same run:
//!
//! * `throughput/{1p1c,2p2c}/{ring,ring_batch,array_queue}`: N packets through
//!   our `Ring` (on heap memory) vs `crossbeam_queue::ArrayQueue<Packet>` of
//!   the same capacity.
//! * `ping_pong/{cache_line,ring}`: round trips between two threads through a
//!   bare cache line (the physical floor) and through two rings, one each way.
//! * `claim_records/{single,1p1c,2p2c}/{off,on}`: the cost of claim records
//!   (dead-claim recovery, `hqq_runtime::ring::claims`): the same ring
//!   without and with `Ring::record_claims`; `single` is one thread doing
//!   claim-commit-claim-release (the bare hot path), the others move
//!   packets between threads as in `throughput`. All threads are one
//!   process, so they share the process's two record words.
//!
//! Run: `cargo bench -p hqq-runtime --bench ring`

#![allow(missing_docs)] // criterion_group! emits an undocumented `pub fn benches`.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::{Backoff, CachePadded};
use hqq_runtime::ring::{Ring, RingRecvError};
use hqq_runtime::{Packet, PayloadView};

const CAPACITY: u64 = 256;
const BUFFER_SIZE: u64 = 64;
const PACKETS: u64 = 100_000;
const ROUND_TRIPS: u64 = 10_000;

/// Heap memory holding one ring and its buffers.
struct HeapRing {
    ptr: NonNull<u8>,
    layout: std::alloc::Layout,
    ring: Option<Ring>,
    /// The process's claim record words, when recording.
    _records: Box<[CachePadded<AtomicU64>; 2]>,
}

impl HeapRing {
    fn new() -> HeapRing {
        HeapRing::with_records(false)
    }

    fn with_records(record: bool) -> HeapRing {
        let ring_bytes = hqq_runtime::ring::ring_bytes(CAPACITY).unwrap();
        let buffers_at = ring_bytes.next_multiple_of(4096);
        let len = buffers_at + (CAPACITY * BUFFER_SIZE) as usize;
        let layout = std::alloc::Layout::from_size_align(len, 4096).unwrap();
        // SAFETY: len > 0.
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) }).unwrap();
        // SAFETY: the allocation holds the ring and buffers and outlives the
        // ring (dropped first in `Drop`); only the ring touches it.
        let mut ring =
            unsafe { Ring::init(ptr, CAPACITY, ptr.add(buffers_at), BUFFER_SIZE) }.unwrap();
        let records = Box::new([
            CachePadded::new(AtomicU64::new(0)),
            CachePadded::new(AtomicU64::new(0)),
        ]);
        if record {
            // SAFETY: the boxed words outlive the ring (dropped after it)
            // and are only accessed atomically.
            unsafe {
                ring.record_claims(NonNull::from(&*records[0]), NonNull::from(&*records[1]), 0)
            };
        }
        HeapRing {
            ptr,
            layout,
            ring: Some(ring),
            _records: records,
        }
    }

    fn ring(&self) -> &Ring {
        self.ring.as_ref().unwrap()
    }
}

impl Drop for HeapRing {
    fn drop(&mut self) {
        self.ring = None;
        // SAFETY: allocated in `new` with this layout; the ring is gone.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

fn packet(i: u64) -> Packet {
    Packet::new(0xFF, [i, 0, 8, 0, 0, 0, 0])
}

/// Waits spin briefly then yield (`Backoff::snooze`, or `yield_now` after an
/// empty poll), so runs on an oversubscribed machine still make progress.
///
/// Runs `producers` + `consumers` threads moving `PACKETS` packets in
/// total, `iters` times; returns the time spent.
fn run_threads(
    iters: u64,
    producers: u64,
    consumers: u64,
    send: &(dyn Fn(u64) + Sync),
    recv: &(dyn Fn() -> u64 + Sync),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let barrier = Barrier::new((producers + consumers + 1) as usize);
        let received = AtomicU64::new(0);
        let started = std::thread::scope(|s| {
            for p in 0..producers {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    for i in (p..PACKETS).step_by(producers as usize) {
                        send(i);
                    }
                });
            }
            for _ in 0..consumers {
                let (barrier, received) = (&barrier, &received);
                s.spawn(move || {
                    barrier.wait();
                    while received.load(Ordering::Relaxed) < PACKETS {
                        let n = recv();
                        if n > 0 {
                            received.fetch_add(n, Ordering::Relaxed);
                        }
                    }
                });
            }
            barrier.wait();
            Instant::now()
        });
        total += started.elapsed();
    }
    total
}

/// Sends packet `i`, snoozing while the ring is full.
fn send_spinning(ring: &Ring, i: u64) {
    let backoff = Backoff::new();
    loop {
        if let Ok(claim) = ring.try_claim_send() {
            claim.commit(packet(i));
            break;
        }
        backoff.snooze();
    }
}

/// Receives one packet through a claim (1), or yields and returns 0.
fn recv_claim(ring: &Ring) -> u64 {
    match ring.try_claim_recv() {
        Ok(claim) => {
            std::hint::black_box(claim.packet());
            1
        }
        Err(_) => {
            std::thread::yield_now();
            0
        }
    }
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Elements(PACKETS));
    for (name, producers, consumers) in [("1p1c", 1, 1), ("2p2c", 2, 2)] {
        group.bench_function(BenchmarkId::new(name, "ring"), |b| {
            let heap = HeapRing::new();
            let ring = heap.ring();
            let send = |i| send_spinning(ring, i);
            let recv = || recv_claim(ring);
            b.iter_custom(|iters| run_threads(iters, producers, consumers, &send, &recv));
        });
        group.bench_function(BenchmarkId::new(name, "ring_packet"), |b| {
            let heap = HeapRing::new();
            let ring = heap.ring();
            let send = |i| send_spinning(ring, i);
            let recv = || match ring.try_recv_packet() {
                Ok(packet) => {
                    std::hint::black_box(packet);
                    1
                }
                Err(_) => {
                    std::thread::yield_now();
                    0
                }
            };
            b.iter_custom(|iters| run_threads(iters, producers, consumers, &send, &recv));
        });
        group.bench_function(BenchmarkId::new(name, "ring_batch"), |b| {
            let heap = HeapRing::new();
            let ring = heap.ring();
            let send = |i| send_spinning(ring, i);
            let recv = || match ring.try_recv_batch(32) {
                Ok(batch) => {
                    for i in 0..batch.len() {
                        std::hint::black_box(batch.packet(i));
                    }
                    batch.len() as u64
                }
                Err(RingRecvError::Empty | RingRecvError::Contended | RingRecvError::Corrupt) => {
                    std::thread::yield_now();
                    0
                }
            };
            b.iter_custom(|iters| run_threads(iters, producers, consumers, &send, &recv));
        });
        group.bench_function(BenchmarkId::new(name, "array_queue"), |b| {
            let queue = ArrayQueue::<Packet>::new(CAPACITY as usize);
            let send = |i| {
                let (mut p, backoff) = (packet(i), Backoff::new());
                while let Err(back) = queue.push(p) {
                    p = back;
                    backoff.snooze();
                }
            };
            let recv = || match queue.pop() {
                Some(p) => {
                    std::hint::black_box(p);
                    1
                }
                None => {
                    std::thread::yield_now();
                    0
                }
            };
            b.iter_custom(|iters| run_threads(iters, producers, consumers, &send, &recv));
        });
    }
    group.finish();
}

fn ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping_pong");
    group.throughput(Throughput::Elements(ROUND_TRIPS));
    group.bench_function("cache_line", |b| {
        let line = CachePadded::new(AtomicU64::new(0));
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                line.store(0, Ordering::SeqCst);
                let started = std::thread::scope(|s| {
                    let line = &line;
                    s.spawn(move || {
                        for i in 0..ROUND_TRIPS {
                            while line.load(Ordering::Acquire) != 2 * i + 1 {
                                std::hint::spin_loop();
                            }
                            line.store(2 * i + 2, Ordering::Release);
                        }
                    });
                    let started = Instant::now();
                    for i in 0..ROUND_TRIPS {
                        line.store(2 * i + 1, Ordering::Release);
                        while line.load(Ordering::Acquire) != 2 * i + 2 {
                            std::hint::spin_loop();
                        }
                    }
                    started
                });
                total += started.elapsed();
            }
            total
        });
    });
    group.bench_function("ring", |b| {
        let (there, back) = (HeapRing::new(), HeapRing::new());
        let (there, back) = (there.ring(), back.ring());
        let bounce = |from: &Ring, to: &Ring| loop {
            if let Ok(claim) = from.try_claim_recv() {
                let p = claim.packet();
                drop(claim);
                loop {
                    if let Ok(reply) = to.try_claim_send() {
                        reply.commit(p);
                        return;
                    }
                    std::hint::spin_loop();
                }
            }
            std::hint::spin_loop();
        };
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = std::thread::scope(|s| {
                    s.spawn(|| {
                        for _ in 0..ROUND_TRIPS {
                            bounce(there, back);
                        }
                    });
                    let started = Instant::now();
                    for i in 0..ROUND_TRIPS {
                        loop {
                            if let Ok(claim) = there.try_claim_send() {
                                claim.commit(packet(i));
                                break;
                            }
                            std::hint::spin_loop();
                        }
                        loop {
                            if let Ok(reply) = back.try_claim_recv() {
                                std::hint::black_box(reply.packet());
                                break;
                            }
                            std::hint::spin_loop();
                        }
                    }
                    started
                });
                total += started.elapsed();
            }
            total
        });
    });
    group.finish();
}

fn claim_records(c: &mut Criterion) {
    let mut group = c.benchmark_group("claim_records");
    group.throughput(Throughput::Elements(PACKETS));
    // Off and on alternate per scenario, so drift on a shared machine hits
    // both alike.
    for record in [false, true] {
        let mode = if record { "on" } else { "off" };
        group.bench_function(BenchmarkId::new("single", mode), |b| {
            let heap = HeapRing::with_records(record);
            let ring = heap.ring();
            b.iter(|| {
                for i in 0..PACKETS {
                    ring.try_claim_send().unwrap().commit(packet(i));
                    std::hint::black_box(ring.try_claim_recv().unwrap().packet());
                }
            });
        });
    }
    for (name, producers, consumers) in [("1p1c", 1, 1), ("2p2c", 2, 2)] {
        for record in [false, true] {
            let mode = if record { "on" } else { "off" };
            group.bench_function(BenchmarkId::new(name, mode), |b| {
                let heap = HeapRing::with_records(record);
                let ring = heap.ring();
                let send = |i| send_spinning(ring, i);
                let recv = || recv_claim(ring);
                b.iter_custom(|iters| run_threads(iters, producers, consumers, &send, &recv));
            });
        }
    }
    group.finish();
}

/// Copying a received payload out: `PayloadView::copy_to_slice` (volatile
/// loads, as for memory a peer writes) beside a plain `memcpy` of the same
/// bytes (`copy_from_slice`), in one working set that fits the L2 cache.
fn payload_copy(c: &mut Criterion) {
    let mut group = c.benchmark_group("payload_copy");
    const WORKING_SET: usize = 256 << 10;
    let source = vec![0x5a_u8; WORKING_SET];
    for size in [64usize, 4096, 65536] {
        let mut out = vec![0u8; size];
        group.throughput(Throughput::Bytes(WORKING_SET as u64));
        group.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| {
                for chunk in source.chunks_exact(size) {
                    out.copy_from_slice(std::hint::black_box(chunk));
                    std::hint::black_box(&mut out);
                }
            });
        });
        group.bench_function(BenchmarkId::new("view", size), |b| {
            b.iter(|| {
                for chunk in source.chunks_exact(size) {
                    let view = PayloadView::from_slice(std::hint::black_box(chunk));
                    view.copy_to_slice(&mut out);
                    std::hint::black_box(&mut out);
                }
            });
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = throughput, ping_pong, claim_records, payload_copy
}
criterion_main!(benches);
