//! Flow control across processes: a reader (in a child process) that does
//! not read connection A stalls only A's sender. A never has more than its
//! credit in flight, the reader holds at most one window of A, and
//! connection B streams to completion meanwhile; once A is read, every A
//! message arrives whole and in order.
//!
//! B's throughput with A stalled, against B alone in the same run, is
//! printed (not asserted: timing on a shared machine).

mod advanced;
mod support;

use std::time::{Duration, Instant};

use advanced::link_config;
use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, FlowControl};
use hqq_runtime::protocol::Features;
use support::{child_env, unique_segment_name, Child};

const SLOTS: u64 = 64;
const BUFFER: u64 = 4096;
/// Each side's window per connection.
const WINDOW: u64 = 256 * 1024;
/// Message size on both connections (four chunks).
const MESSAGE: usize = 16 * 1024;
/// Messages sent on A: four windows.
const A_MESSAGES: u64 = 64;
/// Messages sent on B per phase: 16 MiB, 64 windows.
const B_MESSAGES: u64 = 1024;
/// What the reader answers on B after each phase.
const PHASE_DONE: &[u8] = b"phase done";
/// Asks the reader for its held bytes, then to read A.
const REPORT: &[u8] = b"report";

fn config() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(60),
        ..AdvancedConfig::default()
    }
    .flow_control(FlowControl {
        window: WINDOW,
        ..FlowControl::default()
    })
}

/// Message `index` of a connection: its index in the first 8 bytes.
fn message(index: u64) -> Vec<u8> {
    let mut data = vec![(index % 251) as u8; MESSAGE];
    data[..8].copy_from_slice(&index.to_le_bytes());
    data
}

/// The reader: accepts A then B; reads B fast (two phases, answering
/// each), reports what it holds (all of it A's, unread), then reads A.
#[test]
fn flow_reader() {
    let Some(env) = child_env("flow_reader") else {
        return;
    };
    let link = AdvancedLink::open(
        &env.var("HQQ_SEGMENT"),
        &link_config(SLOTS, BUFFER),
        config(),
    )
    .unwrap();
    link.wait_for_negotiation().unwrap();
    link.listen().unwrap();
    let a = link.accept().unwrap();
    let b = link.accept().unwrap();
    for _phase in 0..2 {
        for _ in 0..B_MESSAGES {
            let received = link.recv_large(b).unwrap();
            assert_eq!(received.data.len(), MESSAGE);
        }
        link.send_large(b, PHASE_DONE).unwrap();
    }
    assert_eq!(link.recv_large(b).unwrap().data, REPORT);
    let held = link.stats().held_bytes;
    link.send_large(b, &held.to_le_bytes()).unwrap();
    for index in 0..A_MESSAGES {
        assert_eq!(link.recv_large(a).unwrap().data, message(index));
    }
    let stats = link.stats();
    env.report("credit_errors", stats.credit_errors);
    env.report("errors", stats.errors);
}

/// Sends `B_MESSAGES` on `b` and waits for the reader's answer.
fn b_phase(link: &AdvancedLink, b: u64) -> Duration {
    let started = Instant::now();
    for index in 0..B_MESSAGES {
        link.send_large(b, &message(index)).unwrap();
    }
    assert_eq!(link.recv_large(b).unwrap().data, PHASE_DONE);
    started.elapsed()
}

#[test]
fn a_slow_reader_on_one_connection_stalls_only_that_connection() {
    let name = unique_segment_name("adv-flow");
    let link = AdvancedLink::create(&name, &link_config(SLOTS, BUFFER), config()).unwrap();
    let child = Child::spawn("flow_reader", &[("HQQ_SEGMENT", &name)]);
    let negotiated = link.negotiate(config().offer).unwrap();
    assert!(negotiated.features.contains(Features::FLOW_CONTROL));
    let a = link.dial().unwrap();
    let b = link.dial().unwrap();

    let alone = b_phase(&link, b);
    let (stalled, held) = std::thread::scope(|s| {
        let sender = s.spawn(|| {
            for index in 0..A_MESSAGES {
                link.send_large(a, &message(index)).unwrap();
            }
        });
        let stalled = b_phase(&link, b);
        // B is through; A's reader has read nothing, so A's sender is
        // still held at its credit: one window beyond what is unread,
        // plus the part of a message in progress.
        assert!(!sender.is_finished(), "A's sends did not wait for credit");
        let credit = link.send_credit(a).unwrap();
        assert!(credit.sent <= credit.limit, "{credit:?}");
        assert!(credit.limit <= WINDOW + MESSAGE as u64, "{credit:?}");
        link.send_large(b, REPORT).unwrap();
        let held = link.recv_large(b).unwrap().data;
        let held = u64::from_le_bytes(held.try_into().unwrap());
        sender.join().unwrap();
        (stalled, held)
    });
    // What the reader held of A: at most its window (plus the budget's
    // bookkeeping per message).
    let messages = WINDOW / MESSAGE as u64 + 2;
    assert!(
        held <= WINDOW + MESSAGE as u64 + messages * 128,
        "the reader held {held} bytes for a {WINDOW}-byte window"
    );
    assert!(link.stats().credit_stalls > 0);
    let output = child.wait(Duration::from_secs(120));
    output.assert_success();
    assert_eq!(output.report::<u64>("credit_errors"), 0);
    assert_eq!(output.report::<u64>("errors"), 0);
    eprintln!(
        "B alone {alone:?}, B with A stalled {stalled:?}: ratio {:.2} (shared machine; not asserted)",
        alone.as_secs_f64() / stalled.as_secs_f64()
    );
}
