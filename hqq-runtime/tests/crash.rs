//! Crash tests: a peer process is killed with SIGKILL (a) while it holds a
//! write reservation, (b) in the middle of an Advanced link large message,
//! (c) while it is parked in a blocking receive, and (d) at random points of
//! a send loop, 100 times. The survivor, blocked in a receive, gets
//! `PeerGone` (not its 10 s timeout), every message the peer committed
//! before the kill arrives intact and in order, and the segment is
//! reclaimable once the survivor is gone too.
//!
//! Latencies from the kill to `PeerGone` are printed (run with
//! `--nocapture`); the test only bounds them by the receive timeout, since
//! timing assertions would flake on a loaded machine.

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, RecvLargeError, TransportError};
use hqq_runtime::link::{LinkConfig, LinkRecvError, StandardLink};
use hqq_runtime::liveness::PeerLiveness;
use hqq_runtime::segment::{inspect_segment, Segment, SegmentOptions, SegmentOwner};
use hqq_runtime::Layout;
use support::{child_env, unique_segment_name, Child};

const WATCHDOG: Duration = Duration::from_secs(30);
/// The survivor's receive timeout: `PeerGone` must come long before it.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);
const SLOTS: u64 = 8;
const BUFFER: u64 = 256;

fn config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(SLOTS)
        .buffer_size(BUFFER)
        .ready_timeout(Duration::from_secs(5))
        .keep_on_drop(true);
    config
}

/// Message `seq`: seq (8 bytes), filler derived from seq, FNV-1a checksum
/// of everything before it (8 bytes). Length 16..=BUFFER depends on seq.
fn message(seq: u64) -> Vec<u8> {
    let len =
        16 + (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize % (BUFFER as usize - 15);
    let mut bytes = seq.to_le_bytes().to_vec();
    bytes.extend((0..len - 16).map(|i| (seq as u8).wrapping_add(i as u8).wrapping_mul(31)));
    bytes.extend(fnv(&bytes).to_le_bytes());
    bytes
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Checks a received message and returns its sequence number.
fn check(bytes: &[u8]) -> u64 {
    assert!(bytes.len() >= 16, "short message: {} bytes", bytes.len());
    let seq = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    assert_eq!(bytes, message(seq).as_slice(), "message {seq} damaged");
    seq
}

/// Child half: opens the link and, per `HQQ_MODE`, sends and then holds a
/// reservation ("reserve"), parks in a receive ("park"), or sends forever
/// ("loop"). The parent kills it in every mode.
#[test]
fn crash_peer() {
    let Some(env) = child_env("crash_peer") else {
        return;
    };
    let link = StandardLink::open(&env.var("HQQ_SEGMENT"), &config()).expect("open link");
    match env.var("HQQ_MODE").as_str() {
        "reserve" => {
            for seq in 0..3 {
                link.send(&message(seq)).expect("send");
            }
            let mut reservation = link.reserve_send().expect("reserve");
            reservation.buffer_mut().fill(0xAB);
            std::thread::sleep(WATCHDOG);
        }
        "park" => {
            let mut buf = [0u8; BUFFER as usize];
            let _ = link.recv_timeout(&mut buf, WATCHDOG);
        }
        _ => {
            for seq in 0.. {
                link.send(&message(seq)).expect("send");
            }
        }
    }
}

/// Runs one crash: spawns the peer in `mode`, lets `before_kill` run on the
/// survivor's link once the peer is registered, kills the peer, then
/// receives until `PeerGone`. Returns the messages received after
/// `before_kill` and the kill-to-`PeerGone` latency.
fn crash_once(
    name: &str,
    survivor: &StandardLink,
    mode: &str,
    before_kill: impl FnOnce(&StandardLink, &mut Vec<u64>),
) -> (Vec<u64>, Duration) {
    let child = Child::spawn("crash_peer", &[("HQQ_SEGMENT", name), ("HQQ_MODE", mode)]);
    let deadline = Instant::now() + WATCHDOG;
    while survivor.peer_liveness() != PeerLiveness::Alive {
        assert!(Instant::now() < deadline, "the peer never registered");
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut received = Vec::new();
    before_kill(survivor, &mut received);
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill has no memory effects; `pid` is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let killed = Instant::now();
    let mut buf = [0u8; BUFFER as usize];
    let latency = loop {
        match survivor.recv_timeout(&mut buf, RECV_TIMEOUT) {
            Ok(n) => received.push(check(&buf[..n])),
            Err(LinkRecvError::PeerGone) => break killed.elapsed(),
            Err(e) => panic!("expected PeerGone after the kill, got {e:?}"),
        }
    };
    let output = child.wait(WATCHDOG);
    assert!(output.status.is_some_and(|s| !s.success()), "{output}");
    (received, latency)
}

fn assert_reclaimable(name: &str) {
    assert_eq!(
        inspect_segment(name).expect("inspect").owner,
        SegmentOwner::Dead
    );
    let mut options = SegmentOptions::new();
    options.reclaim_stale(true);
    let len = Layout::new(SLOTS, BUFFER).expect("layout").total_size();
    Segment::create(name, len, &options).expect("reclaim the stale segment");
}

#[test]
fn killed_while_holding_a_write_reservation() {
    let name = unique_segment_name("crash-reserve");
    let survivor = StandardLink::create(&name, &config()).expect("create");
    let (received, latency) = crash_once(&name, &survivor, "reserve", |link, got| {
        let mut buf = [0u8; BUFFER as usize];
        for _ in 0..3 {
            let n = link
                .recv_timeout(&mut buf, RECV_TIMEOUT)
                .expect("committed");
            got.push(check(&buf[..n]));
        }
        // Let the peer take its reservation.
        std::thread::sleep(Duration::from_millis(30));
    });
    println!("reserve: PeerGone {latency:?} after SIGKILL");
    assert_eq!(received, vec![0, 1, 2]);
    assert!(latency < RECV_TIMEOUT);
    drop(survivor);
    assert_reclaimable(&name);
}

#[test]
fn killed_while_parked() {
    let name = unique_segment_name("crash-park");
    let survivor = StandardLink::create(&name, &config()).expect("create");
    let (received, latency) = crash_once(&name, &survivor, "park", |_, _| {
        // Long enough for the peer to pass its spins and park.
        std::thread::sleep(Duration::from_millis(30));
    });
    println!("park: PeerGone {latency:?} after SIGKILL");
    assert!(received.is_empty());
    assert!(latency < RECV_TIMEOUT);
    drop(survivor);
    assert_reclaimable(&name);
}

#[test]
fn killed_at_random_points_100_times() {
    let mut latencies = Vec::new();
    let mut total = 0usize;
    let mut rng = 0x5eed_u64;
    for round in 0..100 {
        let name = unique_segment_name("crash-random");
        let survivor = StandardLink::create(&name, &config()).expect("create");
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let receive_for = Duration::from_micros((rng >> 33) % 5000);
        let (received, latency) = crash_once(&name, &survivor, "loop", |link, got| {
            let start = Instant::now();
            let mut buf = [0u8; BUFFER as usize];
            while start.elapsed() < receive_for {
                if let Ok(n) = link.try_recv(&mut buf) {
                    got.push(check(&buf[..n]));
                }
            }
        });
        // One producer: everything it committed arrives, in order, once.
        let expected: Vec<u64> = (0..received.len() as u64).collect();
        assert_eq!(
            received, expected,
            "round {round}: lost, duplicated or reordered"
        );
        assert!(latency < RECV_TIMEOUT);
        latencies.push(latency);
        total += received.len();
        drop(survivor);
        if round % 10 == 0 {
            assert_reclaimable(&name);
        } else {
            let _ = Segment::open(&name, 1).map(|mut s| s.unlink());
        }
    }
    latencies.sort();
    println!(
        "random: 100 kills, {total} messages received intact; PeerGone latency median {:?}, max {:?}",
        latencies[50], latencies[99]
    );
}

/// Large messages of test (b): whole ones sent before the one cut by the kill.
const LARGE_COMPLETE: u64 = 3;
/// Bytes per large message: a thousand chunks of one buffer each.
const LARGE: usize = 256 * 1024;
/// Where the cut message's source stalls: half-way, inside a chunk.
const LARGE_STALL_AT: usize = LARGE / 2 + 100;
/// Rounds of test (b).
const LARGE_ROUNDS: usize = 5;

fn advanced_config() -> AdvancedConfig {
    AdvancedConfig {
        timeout: RECV_TIMEOUT,
        ..AdvancedConfig::default()
    }
}

/// Large message `seq`: seq (8 bytes), filler derived from seq, FNV-1a
/// checksum of everything before it (8 bytes); `LARGE` bytes.
fn large_message(seq: u64) -> Vec<u8> {
    let mut bytes = seq.to_le_bytes().to_vec();
    bytes.extend((0..LARGE - 16).map(|i| (i as u8 ^ (i >> 8) as u8).wrapping_add(seq as u8)));
    bytes.extend(fnv(&bytes).to_le_bytes());
    bytes
}

/// Checks a received large message and returns its sequence number.
fn check_large(bytes: &[u8]) -> u64 {
    assert_eq!(bytes.len(), LARGE, "large message of the wrong size");
    let (body, sum) = bytes.split_at(LARGE - 8);
    let sum = u64::from_le_bytes(sum.try_into().expect("8 bytes"));
    assert_eq!(fnv(body), sum, "large message damaged (checksum)");
    let seq = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    assert_eq!(
        bytes,
        large_message(seq).as_slice(),
        "large message {seq} damaged"
    );
    seq
}

/// A message source that hands out `data` up to `stall_at`, then creates
/// the file `flag` (telling the parent to kill) and blocks until killed.
struct StallingSource {
    data: Vec<u8>,
    read: usize,
    stall_at: usize,
    flag: PathBuf,
}

impl Read for StallingSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read >= self.stall_at {
            std::fs::write(&self.flag, b"stalled")?;
            std::thread::sleep(WATCHDOG);
            return Err(std::io::Error::other("not killed in time"));
        }
        let n = buf.len().min(self.stall_at - self.read);
        buf[..n].copy_from_slice(&self.data[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

/// Child half of (b): negotiates, sends `LARGE_COMPLETE` whole large
/// messages, then one from a source that stalls half-way (after flagging
/// the parent), so it dies with part of that message committed.
#[test]
fn crash_large_peer() {
    let Some(env) = child_env("crash_large_peer") else {
        return;
    };
    let link = AdvancedLink::open(&env.var("HQQ_SEGMENT"), &config(), advanced_config())
        .expect("open link");
    link.negotiate(advanced_config().offer).expect("negotiate");
    for seq in 0..LARGE_COMPLETE {
        link.send_large(0, &large_message(seq)).expect("send");
    }
    let mut source = StallingSource {
        data: large_message(LARGE_COMPLETE),
        read: 0,
        stall_at: LARGE_STALL_AT,
        flag: PathBuf::from(env.var("HQQ_FLAG")),
    };
    let _ = link.send_large_from(0, &mut source, LARGE as u64);
}

/// Waits (bounded by the watchdog) until `flag` exists, then SIGKILLs
/// `pid`. Returns the instant of the kill.
fn kill_when_flagged(flag: &std::path::Path, pid: libc::pid_t) -> Instant {
    let deadline = Instant::now() + WATCHDOG;
    while !flag.exists() {
        assert!(Instant::now() < deadline, "the peer never stalled");
        std::thread::sleep(Duration::from_micros(200));
    }
    // SAFETY: kill has no memory effects; `pid` is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    Instant::now()
}

#[test]
fn killed_mid_large_message() {
    let chunks_per_message = LARGE.div_ceil(BUFFER as usize) as u64;
    let mut latencies = Vec::new();
    for round in 0..LARGE_ROUNDS {
        let name = unique_segment_name("crash-large");
        let flag = std::env::temp_dir().join(format!("{name}.stalled"));
        let survivor = AdvancedLink::create(&name, &config(), advanced_config()).expect("create");
        let child = Child::spawn(
            "crash_large_peer",
            &[
                ("HQQ_SEGMENT", &name),
                ("HQQ_FLAG", flag.to_str().expect("utf-8 temp dir")),
            ],
        );
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
        survivor.wait_for_negotiation().expect("negotiation");
        for seq in 0..LARGE_COMPLETE {
            let message = survivor.recv_large(0).expect("a whole message");
            assert_eq!(check_large(&message.data), seq, "round {round}");
        }
        // Receiving pumps the ring, so the peer gets past the ring's few
        // slots to its stall while we wait here; the kill comes meanwhile.
        let (outcome, latency) = std::thread::scope(|s| {
            let killer = s.spawn(|| kill_when_flagged(&flag, pid));
            let outcome = survivor.recv_large(0);
            let returned = Instant::now();
            let killed = killer.join().expect("killer thread");
            (outcome, returned.saturating_duration_since(killed))
        });
        assert!(
            matches!(
                outcome,
                Err(RecvLargeError::Transport(TransportError::PeerGone))
            ),
            "round {round}: expected PeerGone, got {outcome:?}"
        );
        // The half message is never delivered, not even later.
        assert!(matches!(
            survivor.recv_large(0),
            Err(RecvLargeError::Transport(TransportError::PeerGone))
        ));
        let stats = survivor.stats();
        assert_eq!(stats.messages_received, LARGE_COMPLETE);
        // Every chunk committed before the kill arrived: the whole messages'
        // and those of the cut message before the stalled one.
        assert_eq!(
            stats.chunks_received,
            LARGE_COMPLETE * chunks_per_message + (LARGE_STALL_AT / BUFFER as usize) as u64
        );
        assert_eq!((stats.aborts, stats.errors), (0, 0));
        assert!(latency < RECV_TIMEOUT);
        latencies.push(latency);
        let output = child.wait(WATCHDOG);
        assert!(output.status.is_some_and(|s| !s.success()), "{output}");
        let _ = std::fs::remove_file(&flag);
        drop(survivor);
        assert_reclaimable(&name);
    }
    println!("large: PeerGone after SIGKILL mid large message, latencies {latencies:?}");
}
