//! A peer that attacks the link on purpose, not by random scribbling: every
//! call must still return after bounded work (`try_`) or by its deadline
//! (timed), and a segment announcing absurd sizes is refused with a typed
//! error before anything is allocated.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, CallError, TransportError};
use hqq_runtime::link::{LinkConfig, LinkOpenError, LinkRecvError, StandardLink};
use hqq_runtime::segment::Segment;
use hqq_runtime::{Direction, Layout, Packet, Role};

/// How long a call under attack may take before we call it a hang. Far
/// above any deadline used here: the tests fail by hanging on a runtime
/// without the bounds, not by being slow.
const HANG: Duration = Duration::from_secs(20);

/// Slots of the rings a tombstone flood attacks: enough that the attacker,
/// rescanning every slot, stays far ahead of a receiver consuming them.
const FLOOD_SLOTS: u64 = 64;

fn config(slots: u64) -> LinkConfig {
    let mut config = LinkConfig::new();
    config.slots(slots).buffer_size(64);
    config
}

/// Runs `attack` on another thread until `victim` returns, and returns what
/// `victim` returned, or fails the test if it does not return within [`HANG`].
fn under_attack<T: Send>(
    attack: impl FnOnce(&AtomicBool) + Send,
    victim: impl FnOnce() -> T + Send,
) -> T {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| attack(&stop));
        let (done, result) = mpsc::channel();
        let victim = s.spawn(move || {
            let value = victim();
            let _ = done.send(());
            value
        });
        let finished = result.recv_timeout(HANG).is_ok();
        stop.store(true, Ordering::Relaxed);
        assert!(finished, "the call did not return while under attack");
        victim.join().expect("victim thread")
    })
}

/// A hostile process's view of the ring its victim receives on: it marks
/// every slot the victim releases as published again (the slot's packet
/// being a tombstone it wrote once), faster than any real producer could,
/// so a receive that skips tombstones never finds the ring empty. It also
/// claims a sleeping producer in the extension block, so that every
/// release by the victim pays a futex wake and the flood stays ahead.
struct TombstoneFlood {
    segment: Segment,
    ring: usize,
    count: usize,
    _peer: StandardLink,
}

impl TombstoneFlood {
    /// Attacks the ring that the `victim` end of segment `name` receives
    /// on, through a mapping of its own.
    fn on(name: &str, layout: Layout, victim: Role) -> TombstoneFlood {
        let segment = Segment::open(name, layout.total_size()).expect("peer's mapping");
        let (ring, direction) = match victim {
            Role::Primary => (layout.ring1_offset(), Direction::SecondaryToPrimary),
            Role::Secondary => (layout.ring0_offset(), Direction::PrimaryToSecondary),
        };
        let mut config = LinkConfig::new();
        config.slots(layout.count()).buffer_size(layout.size());
        let peer = StandardLink::open(name, &config).expect("peer's link");
        let ext = peer.memory().extension().expect("an hqq primary");
        ext.space_waiters(direction).store(1, Ordering::Relaxed);
        let flood = TombstoneFlood {
            segment,
            ring,
            count: layout.count() as usize,
            _peer: peer,
        };
        for slot in 0..flood.count {
            let tombstone = Packet::new(0xFE, [0, slot as u64, 1, 0, 0, 0, 0]);
            for (i, word) in tombstone.words().into_iter().enumerate() {
                flood
                    .word(256 + 72 * slot + 8 * i)
                    .store(word, Ordering::Relaxed);
            }
        }
        flood
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        let at = self.ring + offset;
        assert!(at % 8 == 0 && at + 8 <= self.segment.len());
        // SAFETY: an aligned word inside the live mapping, which this test
        // accesses only atomically.
        unsafe { AtomicU64::from_ptr(self.segment.as_ptr().add(at).cast()) }
    }

    /// Runs until `stop`; counts the slots it republished.
    fn run(&self, stop: &AtomicBool, published: &AtomicU64) {
        let mask = self.count as u64 - 1;
        while !stop.load(Ordering::Relaxed) {
            for slot in 0..self.count {
                let seq = self.word(256 + 72 * slot + 64);
                let s = seq.load(Ordering::Acquire);
                // `s == p` for a position p of this slot: free for p, so
                // "publish" p.
                if s & mask == slot as u64 {
                    seq.store(s + 1, Ordering::Release);
                    published.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Tombstones one receive skipped (the link's counter before and after).
fn skipped_by<T>(link: &StandardLink, receive: impl FnOnce() -> T) -> (T, u64) {
    let before = link.stats().rx.tombstones;
    let value = receive();
    (value, link.stats().rx.tombstones - before)
}

/// A `try_` receive does at most one ring's worth of work, however fast the
/// peer keeps the ring full of tombstones (unbounded before: one call
/// skipped 172 595 tombstones here until the flood fell behind).
#[test]
fn try_recv_does_bounded_work_while_a_peer_floods_tombstones() {
    let name = support::unique_segment_name("hostile_try_recv");
    let link = StandardLink::create(&name, &config(FLOOD_SLOTS)).expect("create");
    let flood = TombstoneFlood::on(&name, *link.layout(), link.role());
    let published = AtomicU64::new(0);
    let mut buf = [0u8; 64];
    let mut most = 0;
    for _ in 0..20 {
        let (result, skipped) = under_attack(
            |stop| flood.run(stop, &published),
            || skipped_by(&link, || link.try_recv(&mut buf)),
        );
        assert!(
            matches!(result, Err(LinkRecvError::WouldBlock)),
            "{result:?}"
        );
        assert!(
            skipped <= FLOOD_SLOTS,
            "one try_recv skipped {skipped} tombstones"
        );
        most = most.max(skipped);
    }
    assert!(most > 0, "the flood never reached the receiver");
}

/// A timed receive checks its deadline between tombstones: with a deadline
/// of a microsecond it gives up after a few, not when the flood stops.
#[test]
fn recv_timeout_checks_its_deadline_between_tombstones() {
    let name = support::unique_segment_name("hostile_recv_timeout");
    let link = StandardLink::create(&name, &config(FLOOD_SLOTS)).expect("create");
    let flood = TombstoneFlood::on(&name, *link.layout(), link.role());
    let published = AtomicU64::new(0);
    let mut buf = [0u8; 64];
    for _ in 0..20 {
        let (result, skipped) = under_attack(
            |stop| flood.run(stop, &published),
            || {
                skipped_by(&link, || {
                    link.recv_timeout(&mut buf, Duration::from_micros(1))
                })
            },
        );
        assert!(matches!(result, Err(LinkRecvError::TimedOut)), "{result:?}");
        assert!(
            skipped <= FLOOD_SLOTS,
            "one recv_timeout skipped {skipped} tombstones"
        );
    }
    assert!(link.stats().rx.tombstones > 0);
}

#[test]
fn calls_return_while_a_peer_rewrites_positions() {
    let name = support::unique_segment_name("hostile_positions");
    let link = StandardLink::create(&name, &config(8)).expect("create");
    let layout = *link.layout();
    let segment = Segment::open(&name, layout.total_size()).expect("peer's mapping");
    let positions = position_words(&layout);
    let mut buf = [0u8; 64];
    let rewrites = AtomicU64::new(0);
    let rewrite = |stop: &AtomicBool| {
        let mut value = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for &offset in &positions {
                // SAFETY: the offset is an 8-aligned word inside the mapping,
                // accessed atomically only.
                let word = unsafe { &*(segment.as_ptr().add(offset) as *const AtomicU64) };
                word.store(value, Ordering::Relaxed);
            }
            value = value.wrapping_mul(6364136223846793005).wrapping_add(1);
            rewrites.fetch_add(1, Ordering::Relaxed);
        }
    };
    for _ in 0..20 {
        under_attack(rewrite, || {
            let _ = link.try_send(b"x");
            let _ = link.try_recv(&mut buf);
            let _ = link.recv_timeout(&mut buf, Duration::from_millis(5));
            let _ = link.send_timeout(b"y", Duration::from_millis(5));
        });
    }
    assert!(rewrites.load(Ordering::Relaxed) > 0);
}

/// Byte offsets of the read and write positions of both rings.
fn position_words(layout: &Layout) -> Vec<usize> {
    [layout.ring0_offset(), layout.ring1_offset()]
        .into_iter()
        .flat_map(|ring| [ring + 24, ring + 128])
        .collect()
}

#[test]
fn an_advanced_call_keeps_its_deadline_while_a_peer_floods_tombstones() {
    let name = support::unique_segment_name("hostile_call");
    let link = config(FLOOD_SLOTS);
    let advanced = AdvancedConfig {
        timeout: Duration::from_millis(100),
        ..AdvancedConfig::default()
    };
    let caller = AdvancedLink::create(&name, &link, advanced).expect("create");
    let server = AdvancedLink::open(&name, &link, advanced).expect("open");
    std::thread::scope(|s| {
        s.spawn(|| server.wait_for_negotiation().map(drop));
        caller.negotiate(advanced.offer).expect("negotiate");
    });
    // A hostile process floods the caller's receive ring with tombstones.
    let layout = Layout::new(FLOOD_SLOTS, 64).expect("layout");
    let flood = TombstoneFlood::on(&name, layout, Role::Primary);
    let published = AtomicU64::new(0);
    let result = under_attack(
        |stop| flood.run(stop, &published),
        || caller.call(1, b"anyone?"),
    );
    assert!(
        matches!(result, Err(CallError::Transport(TransportError::TimedOut))),
        "{result:?}"
    );
    assert!(published.load(Ordering::Relaxed) > 0);
}

/// A segment made by a hostile process: a valid superblock announcing 2
/// slots of 32 GiB (a sparse file of the announced length). Opening it with
/// the announced configuration, as the `hqq` tool does, is refused by the
/// limits before anything is mapped or allocated.
#[test]
fn absurd_announced_sizes_are_refused_by_the_limits() {
    let mut config = LinkConfig::new();
    config.slots(2).buffer_size(32 << 30);
    let error = StandardLink::open("hqq-never-created", &config).expect_err("refused");
    assert!(
        matches!(
            error,
            LinkOpenError::LimitExceeded {
                what: "buffer size",
                value,
                limit: LinkConfig::DEFAULT_MAX_BUFFER_SIZE,
            } if value == 32 << 30
        ),
        "{error}"
    );
    config.slots(1 << 30).buffer_size(64);
    assert!(matches!(
        StandardLink::open("hqq-never-created", &config),
        Err(LinkOpenError::LimitExceeded {
            what: "slot count",
            ..
        })
    ));
    config.slots(1 << 20).buffer_size(32 << 20);
    assert!(matches!(
        StandardLink::create("hqq-never-created", &config),
        Err(LinkOpenError::LimitExceeded {
            what: "segment size",
            ..
        })
    ));
    // A raised limit lets the same configuration through to the open
    // itself (which then finds no such segment).
    config
        .slots(2)
        .buffer_size(32 << 30)
        .max_buffer_size(32 << 30)
        .max_segment_size(1 << 40)
        .ready_timeout(Duration::ZERO);
    assert!(matches!(
        StandardLink::open("hqq-never-created", &config),
        Err(LinkOpenError::Open(_))
    ));
}
