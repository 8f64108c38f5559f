//! Mixed sides: a registered hqq sender and an unregistered ("Go-like")
//! sender share the secondary side. When the registered one is SIGKILLed
//! while the unregistered one is still sending, the primary must not report
//! `PeerGone`: the side has shown a process that never registers (its
//! messages carry positions that no registered process recorded), so its
//! liveness is unknown from then on and only the timeout ends a wait.

mod support;

use std::time::{Duration, Instant};

use hqq_runtime::codec::PacketCodec;
use hqq_runtime::link::{LinkConfig, LinkRecvError, StandardLink};
use hqq_runtime::liveness::PeerLiveness;
use hqq_runtime::protocol::StandardLinkCopy;
use hqq_runtime::segment::Segment;
use hqq_runtime::Layout;
use support::{child_env, unique_segment_name, Child};

const WATCHDOG: Duration = Duration::from_secs(30);
const SLOTS: u64 = 8;
const BUFFER: u64 = 64;
/// Messages of the unregistered sender, one every [`PACE`].
const UNREGISTERED_MESSAGES: u64 = 40;
/// Longer than two liveness intervals, so the primary checks liveness in
/// every gap between two messages.
const PACE: Duration = Duration::from_millis(30);

fn config() -> LinkConfig {
    support::link_config(SLOTS, BUFFER)
}

/// Child roles: "registered" opens a link (which registers it), sends
/// three messages `r0..r2` and waits to be killed; "unregistered" attaches
/// to the segment's memory without registering, as the Go implementation
/// does, and publishes `g0..g39` itself, one every [`PACE`].
#[test]
fn mixed_peer() {
    let Some(env) = child_env("mixed_peer") else {
        return;
    };
    let name = env.var("HQQ_SEGMENT");
    match env.var("HQQ_MODE").as_str() {
        "registered" => {
            let link = StandardLink::open(&name, &config()).expect("open link");
            for i in 0..3 {
                link.send(format!("r{i}").as_bytes()).expect("send");
            }
            std::thread::sleep(WATCHDOG);
        }
        "unregistered" => {
            let layout = Layout::new(SLOTS, BUFFER).expect("layout");
            let segment = Segment::open(&name, layout.total_size()).expect("open segment");
            let memory = support::open_link_memory(&segment, layout);
            for i in 0..UNREGISTERED_MESSAGES {
                let bytes = format!("g{i}").into_bytes();
                let mut claim = memory
                    .tx()
                    .claim_send_timeout(Instant::now() + WATCHDOG)
                    .expect("a free slot");
                claim.write_payload(&bytes).expect("fits");
                let packet = StandardLinkCopy {
                    copy: i + 1,
                    buffer_index: claim.index() as u64,
                    size: bytes.len() as u64,
                }
                .encode();
                claim.commit(packet);
                std::thread::sleep(PACE);
            }
        }
        mode => panic!("unknown mode {mode}"),
    }
}

fn spawn(name: &str, mode: &str) -> Child {
    Child::spawn("mixed_peer", &[("HQQ_SEGMENT", name), ("HQQ_MODE", mode)])
}

#[test]
fn an_unregistered_sender_keeps_the_side_alive_after_the_registered_one_dies() {
    let name = unique_segment_name("mixed");
    let primary = StandardLink::create(&name, &config()).expect("create");
    primary.set_read_timeout(Some(Duration::from_secs(2)));
    let mut registered = spawn(&name, "registered");
    let deadline = Instant::now() + WATCHDOG;
    while primary.peer_liveness() != PeerLiveness::Alive {
        assert!(
            Instant::now() < deadline,
            "the registered sender never registered"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let unregistered = spawn(&name, "unregistered");
    let mut buf = [0u8; BUFFER as usize];
    let mut from_unregistered = Vec::new();
    let mut from_registered = 0;
    let mut killed = None;
    loop {
        match primary.recv(&mut buf) {
            Ok(n) => {
                let text = std::str::from_utf8(&buf[..n]).expect("utf-8").to_owned();
                if let Some(seq) = text.strip_prefix('g') {
                    from_unregistered.push(seq.parse::<u64>().expect("seq"));
                } else {
                    from_registered += 1;
                }
            }
            Err(LinkRecvError::TimedOut) => break,
            Err(e) => panic!("expected messages, then a timeout; got {e:?}"),
        }
        // Kill the registered sender while the other one is still sending.
        if killed.is_none() && from_unregistered.len() >= 5 && from_registered == 3 {
            registered.sigkill();
            killed = Some(from_unregistered.len());
        }
    }
    let killed_at = killed.expect("the registered sender was killed");
    assert!(
        killed_at < UNREGISTERED_MESSAGES as usize,
        "killed too late"
    );
    assert_eq!(
        from_unregistered,
        (0..UNREGISTERED_MESSAGES).collect::<Vec<_>>(),
        "every message of the unregistered sender, in order"
    );
    assert!(primary.peer_side().is_mixed());
    assert!(registered
        .wait(WATCHDOG)
        .status
        .is_some_and(|s| !s.success()));
    unregistered.wait(WATCHDOG).assert_success();
}
