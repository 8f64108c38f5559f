//! Loom model of the ring algorithm: the same [`RingCore`] as the shared
//! memory ring, over loom atomics and loom cells, so loom checks every
//! interleaving (within a preemption bound) for lost, duplicated or torn
//! packets and for data races on the packet cells.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p hqq-runtime --release --lib ring::loom_model`

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;

use super::mpmc::{ClaimFailure, RingCore, Slots};
use crate::packet::Packet;

struct LoomSlots {
    read: AtomicU64,
    write: AtomicU64,
    seqs: Vec<AtomicU64>,
    packets: Vec<UnsafeCell<Packet>>,
}

impl LoomSlots {
    fn new(count: u64) -> Self {
        LoomSlots {
            read: AtomicU64::new(0),
            write: AtomicU64::new(0),
            seqs: (0..count).map(AtomicU64::new).collect(),
            packets: (0..count)
                .map(|_| UnsafeCell::new(Packet::default()))
                .collect(),
        }
    }
}

impl Slots for LoomSlots {
    type Word = AtomicU64;

    fn read_position(&self) -> &AtomicU64 {
        &self.read
    }

    fn write_position(&self) -> &AtomicU64 {
        &self.write
    }

    unsafe fn seq(&self, index: usize) -> &AtomicU64 {
        &self.seqs[index]
    }

    unsafe fn store_packet(&self, index: usize, packet: &Packet) {
        // SAFETY: the caller owns the slot as producer; loom reports a race
        // if the algorithm lets anyone else touch the cell meanwhile.
        self.packets[index].with_mut(|p| unsafe { *p = *packet });
    }

    unsafe fn load_packet(&self, index: usize) -> Packet {
        // SAFETY: the caller owns the slot as consumer; loom checks it.
        self.packets[index].with(|p| unsafe { *p })
    }
}

const PRODUCERS: u64 = 2;
const PER_PRODUCER: u64 = 1;
const CONSUMERS: usize = 2;
/// Claim attempts per item (producers) or in total (consumers). Threads
/// give up instead of spinning: two spinning threads can yield to each
/// other forever in a model, which loom rightly rejects. The main thread
/// drains what is left, so every published packet is still accounted for.
const ATTEMPTS: usize = 2;

fn recv_one(ring: &RingCore<LoomSlots>) -> Result<(u64, u64), ClaimFailure> {
    let (p, packet) = ring.try_claim_recv(None)?;
    ring.release(p);
    Ok((packet.operand(0), packet.operand(1)))
}

#[test]
fn two_producers_two_consumers_two_slots() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let ring = Arc::new(RingCore::new(LoomSlots::new(2), 2));
        // Start mid-lap with one packet queued, so the threads wrap around
        // into lap 1 and a producer can find the ring full.
        let p = ring.try_claim_send(None).unwrap();
        ring.publish(p, &Packet::default());
        assert_eq!(recv_one(&ring), Ok((0, 0)));
        let p = ring.try_claim_send(None).unwrap();
        ring.publish(p, &Packet::new(1, [PRODUCERS, 0, 0, 0, 0, 0, 0]));

        let producers: Vec<_> = (0..PRODUCERS)
            .map(|producer| {
                let ring = ring.clone();
                loom::thread::spawn(move || {
                    let mut sent = Vec::new();
                    'items: for i in 0..PER_PRODUCER {
                        for _ in 0..ATTEMPTS {
                            match ring.try_claim_send(None) {
                                Ok(p) => {
                                    ring.publish(p, &Packet::new(1, [producer, i, 0, 0, 0, 0, 0]));
                                    sent.push((producer, i));
                                    continue 'items;
                                }
                                Err(ClaimFailure::Unavailable) => loom::thread::yield_now(),
                                Err(e) => panic!("send failed: {e:?}"),
                            }
                        }
                        break;
                    }
                    sent
                })
            })
            .collect();

        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let ring = ring.clone();
                loom::thread::spawn(move || {
                    let mut seen = Vec::new();
                    for _ in 0..ATTEMPTS {
                        match recv_one(&ring) {
                            Ok(item) => seen.push(item),
                            Err(ClaimFailure::Unavailable) => loom::thread::yield_now(),
                            Err(e) => panic!("recv failed: {e:?}"),
                        }
                    }
                    seen
                })
            })
            .collect();

        let mut sent: Vec<(u64, u64)> = vec![(PRODUCERS, 0)];
        for producer in producers {
            sent.extend(producer.join().unwrap());
        }
        let mut received: Vec<Vec<(u64, u64)>> =
            consumers.into_iter().map(|c| c.join().unwrap()).collect();
        let mut rest = Vec::new();
        loop {
            match recv_one(&ring) {
                Ok(item) => rest.push(item),
                Err(ClaimFailure::Unavailable) => break,
                Err(e) => panic!("drain failed: {e:?}"),
            }
        }
        received.push(rest);

        let mut all = Vec::new();
        for seen in received {
            // Per-producer order holds within each consumer.
            for producer in 0..=PRODUCERS {
                let mine: Vec<u64> = seen
                    .iter()
                    .filter(|(p, _)| *p == producer)
                    .map(|(_, i)| *i)
                    .collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
            }
            all.extend(seen);
        }
        all.sort_unstable();
        sent.sort_unstable();
        assert_eq!(all, sent, "every published packet consumed exactly once");
    });
}
