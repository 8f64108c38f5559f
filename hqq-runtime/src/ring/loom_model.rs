//! Loom model of the ring algorithm: the same [`RingCore`] as the shared
//! memory ring, over loom atomics and loom cells, so loom checks every
//! interleaving (within a preemption bound) for lost, duplicated or torn
//! packets and for data races on the packet cells.
//!
//! The recovery models put a claim into a "dead" claimant (the main thread
//! claims with a record and never finishes) and let two survivors complete
//! it through [`claims::recover_record`] while a live consumer (dead
//! producer) or a live producer (dead consumer) keeps using the ring.
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p hqq-runtime --release --lib ring::loom_model`

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;

use super::claims::{self, ClaimKind};
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

const TOMBSTONE: u8 = 0xFE;

fn tombstone(index: usize) -> Packet {
    Packet::new(TOMBSTONE, [0, index as u64, 2, 0, 0, 0, 0])
}

/// Two survivors race to complete the record in `word`; returns what they
/// completed in total.
fn survivors(
    ring: &Arc<RingCore<LoomSlots>>,
    word: &Arc<AtomicU64>,
    tag: u64,
    kind: ClaimKind,
) -> Vec<loom::thread::JoinHandle<claims::RecoveredClaims>> {
    (0..2)
        .map(|me| {
            let ring = ring.clone();
            let word = word.clone();
            loom::thread::spawn(move || {
                let seen = word.load(loom::sync::atomic::Ordering::Acquire);
                // Both survivors live: neither takes over the other's record.
                claims::recover_record(&*ring, &*word, seen, tag, kind, me, |_| false, tombstone)
            })
        })
        .collect()
}

/// Drains the ring on the main thread: (opcode, operand 0) of each packet.
fn drain(ring: &RingCore<LoomSlots>) -> Vec<(u8, u64)> {
    let mut rest = Vec::new();
    loop {
        match ring.try_claim_recv(None) {
            Ok((p, packet)) => {
                ring.release(p);
                rest.push((packet.opcode(), packet.operand(0)));
            }
            Err(ClaimFailure::Unavailable) => break,
            Err(e) => panic!("drain failed: {e:?}"),
        }
    }
    rest
}

#[test]
fn dead_producer_slot_becomes_one_tombstone() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let tag = claims::ring_tag(0);
        let ring = Arc::new(RingCore::new(LoomSlots::new(2), 2));
        let dead = Arc::new(AtomicU64::new(0));
        // The dead producer: claims position 0, records it, never publishes.
        assert_eq!(ring.try_claim_send(Some((&*dead, tag))), Ok(0));

        let repairers = survivors(&ring, &dead, tag, ClaimKind::Send);
        // A live producer got position 1 meanwhile and published it.
        let p = ring.try_claim_send(None).unwrap();
        ring.publish(p, &Packet::new(1, [7, 0, 0, 0, 0, 0, 0]));
        let consumer = {
            let ring = ring.clone();
            loom::thread::spawn(move || match ring.try_claim_recv(None) {
                Ok((p, packet)) => {
                    ring.release(p);
                    vec![(packet.opcode(), packet.operand(0))]
                }
                Err(ClaimFailure::Unavailable) => Vec::new(),
                Err(e) => panic!("recv failed: {e:?}"),
            })
        };

        let tombstones: u64 = repairers
            .into_iter()
            .map(|r| r.join().unwrap().tombstones)
            .sum();
        assert_eq!(tombstones, 1, "exactly one survivor completes the slot");
        let mut all = consumer.join().unwrap();
        all.extend(drain(&ring));
        // The tombstone is position 0, so it comes first.
        assert_eq!(all, vec![(TOMBSTONE, 0), (1, 7)]);
        assert_eq!(
            dead.load(loom::sync::atomic::Ordering::Relaxed),
            0,
            "record cleared"
        );
    });
}

#[test]
fn dead_consumer_slot_is_released_once() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let tag = claims::ring_tag(1);
        let ring = Arc::new(RingCore::new(LoomSlots::new(2), 2));
        for i in 0..2 {
            let p = ring.try_claim_send(None).unwrap();
            ring.publish(p, &Packet::new(1, [i, 0, 0, 0, 0, 0, 0]));
        }
        let dead = Arc::new(AtomicU64::new(0));
        // The dead consumer: claims position 0 (packet 0), never releases.
        let (p, _) = ring.try_claim_recv(Some((&*dead, tag))).unwrap();
        assert_eq!(p, 0);

        let repairers = survivors(&ring, &dead, tag, ClaimKind::Recv);
        let producer = {
            let ring = ring.clone();
            loom::thread::spawn(move || match ring.try_claim_send(None) {
                Ok(p) => {
                    ring.publish(p, &Packet::new(1, [2, 0, 0, 0, 0, 0, 0]));
                    true
                }
                Err(ClaimFailure::Unavailable) => false,
                Err(e) => panic!("send failed: {e:?}"),
            })
        };

        let released: u64 = repairers
            .into_iter()
            .map(|r| r.join().unwrap().released)
            .sum();
        assert_eq!(released, 1, "exactly one survivor releases the slot");
        let sent = producer.join().unwrap();
        let all = drain(&ring);
        // Packet 0 died with its consumer; packet 1 and the new one remain.
        let mut expected = vec![(1, 1)];
        if sent {
            expected.push((1, 2));
        }
        assert_eq!(all, expected);
        // The ring is whole again: a full lap of sends fits.
        for _ in 0..2 {
            let p = ring.try_claim_send(None).unwrap();
            ring.publish(p, &Packet::default());
        }
    });
}
