//! Dead-claim recovery across processes (issue 6, item 4): in a worker pool
//! sharing one ring, a process SIGKILLed while it holds a claim does not
//! stall the living.
//!
//! * A consumer killed while holding a receive reservation: the producer's
//!   blocked send completes the dead consumer's slot (releases it) and the
//!   other consumers receive every later message. The message the dead
//!   consumer held is lost with it, and only that one: it had been
//!   delivered to a process that died before it was done with it.
//! * A producer killed while holding a send reservation: the consumer's
//!   blocked receive publishes a tombstone in the dead producer's slot,
//!   skips it, and receives every message of the surviving producers, intact
//!   and in per-producer order.
//!
//! The victims are deterministic: a child role that claims and then blocks
//! until it is killed. The parent waits until the victim's claim record
//! names its claim (so the claim is certainly taken) before killing it.
//! Every child is bounded by the harness watchdog.

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hqq_runtime::link::{LinkConfig, LinkRecvError, StandardLink};
use hqq_runtime::liveness::PeerLiveness;
use support::{child_env, unique_segment_name, Child, ChildOutput};

const WATCHDOG: Duration = Duration::from_secs(30);
const SLOTS: u64 = 8;
const BUFFER: u64 = 128;
/// Messages after the victim's: many laps of the 8-slot ring, so the ring
/// must move past the dead claim many times.
const MESSAGES: u64 = 200;
/// Marks the end of the stream for one worker.
const STOP: u64 = u64::MAX;

fn config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(SLOTS)
        .buffer_size(BUFFER)
        .ready_timeout(Duration::from_secs(5))
        .keep_on_drop(false);
    config
}

/// Message `seq` from `sender`: seq, sender, filler, FNV-1a of the rest.
fn message(sender: u64, seq: u64) -> Vec<u8> {
    let len = 24 + (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize;
    let mut bytes = seq.to_le_bytes().to_vec();
    bytes.extend(sender.to_le_bytes());
    bytes.extend((0..len - 24).map(|i| (seq as u8 ^ sender as u8).wrapping_add(i as u8)));
    bytes.extend(fnv(&bytes).to_le_bytes());
    bytes
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Checks a received message; returns (sender, seq).
fn check(bytes: &[u8]) -> (u64, u64) {
    assert!(bytes.len() >= 24, "short message: {} bytes", bytes.len());
    let seq = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let sender = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    assert_eq!(bytes, message(sender, seq).as_slice(), "message damaged");
    (sender, seq)
}

/// Waits until the process `pid` has a valid claim record in `link`'s
/// process table (`send` or receive word), i.e. holds a claim.
fn wait_for_claim(link: &StandardLink, pid: u32, send: bool) {
    let ext = link.memory().extension().expect("extension block");
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let claimed = ext.processes().iter().any(|entry| {
            let word = if send {
                &entry.send_claim
            } else {
                &entry.recv_claim
            };
            entry.pid.load(Ordering::Acquire) == u64::from(pid)
                && word.load(Ordering::Acquire) >> 63 == 1
        });
        if claimed {
            return;
        }
        assert!(Instant::now() < deadline, "the victim never claimed");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn kill(child: Child) -> ChildOutput {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill has no memory effects; `pid` is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let output = child.wait(WATCHDOG);
    assert!(output.status.is_some_and(|s| !s.success()), "{output}");
    output
}

fn wait_for_peers(link: &StandardLink) {
    let deadline = Instant::now() + WATCHDOG;
    while link.peer_liveness() != PeerLiveness::Alive {
        assert!(Instant::now() < deadline, "no peer registered");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Child roles. "hold-recv": take one message and hold it until killed.
/// "hold-send": reserve a slot, scribble in it, hold it until killed.
/// "worker": receive until STOP, report what arrived. "producer": send
/// MESSAGES messages as sender HQQ_SENDER.
#[test]
fn claims_peer() {
    let Some(env) = child_env("claims_peer") else {
        return;
    };
    let link = StandardLink::open(&env.var("HQQ_SEGMENT"), &config()).expect("open link");
    link.set_read_timeout(Some(WATCHDOG));
    link.set_write_timeout(Some(WATCHDOG));
    match env.var("HQQ_MODE").as_str() {
        "hold-recv" => {
            let held = link.reserve_recv().expect("receive");
            env.report("held", check(&held.payload().to_vec()).1);
            std::thread::sleep(WATCHDOG);
        }
        "hold-send" => {
            let mut held = link.reserve_send().expect("reserve");
            held.buffer_mut().fill(0xAB);
            std::thread::sleep(WATCHDOG);
        }
        "worker" => {
            let mut seqs = Vec::new();
            let mut buf = [0u8; BUFFER as usize];
            loop {
                let n = link.recv(&mut buf).expect("receive");
                let (_, seq) = check(&buf[..n]);
                if seq == STOP {
                    break;
                }
                seqs.push(seq.to_string());
            }
            env.report("seqs", seqs.join(","));
        }
        "producer" => {
            let sender: u64 = env.var("HQQ_SENDER").parse().expect("sender id");
            for seq in 0..MESSAGES {
                link.send(&message(sender, seq)).expect("send");
            }
        }
        mode => panic!("unknown mode {mode}"),
    }
}

fn spawn(name: &str, mode: &str, sender: &str) -> Child {
    Child::spawn(
        "claims_peer",
        &[
            ("HQQ_SEGMENT", name),
            ("HQQ_MODE", mode),
            ("HQQ_SENDER", sender),
        ],
    )
}

#[test]
fn killed_consumer_does_not_stall_the_pool() {
    let name = unique_segment_name("claims-consumer");
    let producer = StandardLink::create(&name, &config()).expect("create");
    producer.set_write_timeout(Some(WATCHDOG));
    let victim = spawn(&name, "hold-recv", "0");
    wait_for_peers(&producer);
    producer
        .send(&message(0, 0))
        .expect("send the victim's message");
    wait_for_claim(&producer, victim.id(), false);
    let workers: Vec<Child> = (0..2).map(|_| spawn(&name, "worker", "0")).collect();
    let victim = kill(victim);
    assert_eq!(victim.report::<u64>("held"), 0);

    // 200 messages through 8 slots: without recovery this blocks for good
    // once the ring wraps onto the dead consumer's slot.
    for seq in 1..=MESSAGES {
        producer.send(&message(0, seq)).expect("send");
    }
    for _ in &workers {
        producer.send(&message(0, STOP)).expect("send stop");
    }
    let mut received = Vec::new();
    for worker in workers {
        let output = worker.wait(WATCHDOG);
        output.assert_success();
        let seqs: String = output.report("seqs");
        received.extend(
            seqs.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<u64>().expect("seq")),
        );
    }
    let unique: BTreeSet<u64> = received.iter().copied().collect();
    assert_eq!(unique.len(), received.len(), "a message arrived twice");
    // Everything but the dead consumer's own message, exactly once.
    assert_eq!(unique, (1..=MESSAGES).collect::<BTreeSet<u64>>());
}

#[test]
fn killed_producer_does_not_stall_the_pool() {
    let name = unique_segment_name("claims-producer");
    let consumer = StandardLink::create(&name, &config()).expect("create");
    consumer.set_read_timeout(Some(WATCHDOG));
    let victim = spawn(&name, "hold-send", "0");
    wait_for_peers(&consumer);
    wait_for_claim(&consumer, victim.id(), true);
    let producers: Vec<Child> = (1..=2)
        .map(|sender| spawn(&name, "producer", &sender.to_string()))
        .collect();
    // The producers register before the victim dies, so the consumer never
    // sees every peer dead (no PeerGone).
    let registered = Instant::now();
    while consumer
        .memory()
        .extension()
        .expect("extension block")
        .processes()
        .iter()
        .filter(|e| e.pid.load(Ordering::Acquire) != 0)
        .count()
        < 4
    {
        assert!(
            registered.elapsed() < WATCHDOG,
            "producers never registered"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    kill(victim);

    // The dead producer's slot is the first one: without recovery the
    // first receive blocks for good.
    let mut next = [0u64; 3];
    let mut buf = [0u8; BUFFER as usize];
    for _ in 0..2 * MESSAGES {
        let n = match consumer.recv(&mut buf) {
            Ok(n) => n,
            Err(e @ LinkRecvError::PeerGone) => panic!("survivors were alive: {e}"),
            Err(e) => panic!("receive failed: {e}"),
        };
        let (sender, seq) = check(&buf[..n]);
        assert!(sender == 1 || sender == 2, "message from sender {sender}");
        assert_eq!(
            seq, next[sender as usize],
            "sender {sender}: lost or reordered"
        );
        next[sender as usize] += 1;
    }
    assert_eq!(next, [0, MESSAGES, MESSAGES]);
    assert_eq!(
        consumer.stats().rx.tombstones,
        1,
        "the dead claim's tombstone"
    );
    for producer in producers {
        producer.wait(WATCHDOG).assert_success();
    }
}
