//! A peer floods an RPC-only server (in another process) with plain
//! messages on connection 0 that the server never reads: the server's
//! memory stays within its receive budget plus a constant, it refuses the
//! excess with Error(BufferOverflow), and it keeps answering calls.

mod advanced;
mod support;

use std::time::Duration;

use advanced::link_config;
use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, ReceiveBudget};
use support::{child_env, unique_segment_name, Child};

const SLOTS: u64 = 64;
const BUFFER: u64 = 4096;
/// The server's whole receive budget.
const BUDGET: u64 = 4 << 20;
/// Flood messages (one chunk each) and their size: 96 MiB in all.
const FLOOD: u64 = 24_000;
const MESSAGE: usize = 4000;
/// Allowance beyond the budget: allocator slack, thread stacks, the
/// segment's pages once touched.
const SLACK: u64 = 12 << 20;

fn config() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(30),
        budget: ReceiveBudget {
            link_bytes: BUDGET,
            connection_bytes: BUDGET / 2,
            ..ReceiveBudget::default()
        },
        ..AdvancedConfig::default()
    }
}

/// A `/proc/self/status` field in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// The server: answers method 1 with "pong" and method 0 with "bye" (then
/// stops); never receives plain messages.
#[test]
fn flooded_server() {
    let Some(env) = child_env("flooded_server") else {
        return;
    };
    let link = AdvancedLink::open(
        &env.var("HQQ_SEGMENT"),
        &link_config(SLOTS, BUFFER),
        config(),
    )
    .unwrap();
    link.wait_for_negotiation().unwrap();
    let baseline = status_bytes("VmRSS:");
    let mut answered = 0u64;
    loop {
        let request = link.recv_request().unwrap();
        assert!(link.stats().held_bytes <= BUDGET);
        answered += 1;
        if request.method == 0 {
            link.respond(&request, b"bye").unwrap();
            break;
        }
        link.respond(&request, b"pong").unwrap();
    }
    let stats = link.stats();
    env.report("growth", status_bytes("VmHWM:").saturating_sub(baseline));
    env.report("answered", answered);
    env.report("overflows", stats.overflows);
    env.report("held", stats.held_bytes);
}

#[test]
fn a_flood_of_unread_messages_stays_within_the_budget() {
    let name = unique_segment_name("adv-flood");
    let link = AdvancedLink::create(&name, &link_config(SLOTS, BUFFER), config()).unwrap();
    let child = Child::spawn("flooded_server", &[("HQQ_SEGMENT", &name)]);
    link.negotiate(config().offer).unwrap();
    let message = vec![0xAB; MESSAGE];
    let mut calls = 0u64;
    for sent in 1..=FLOOD {
        link.send_large(0, &message).unwrap();
        if sent % 1000 == 0 {
            assert_eq!(link.call(1, b"ping").unwrap().data, b"pong");
            calls += 1;
        }
    }
    assert_eq!(link.call(0, b"").unwrap().data, b"bye");
    let output = child.wait(Duration::from_secs(120));
    output.assert_success();
    let growth: u64 = output.report("growth");
    assert!(
        growth <= BUDGET + SLACK,
        "the server grew by {growth} bytes for a {BUDGET}-byte budget"
    );
    assert_eq!(output.report::<u64>("answered"), calls + 1);
    let overflows: u64 = output.report("overflows");
    assert!(overflows > FLOOD / 2, "{overflows} messages refused");
    // The server said so: its BufferOverflow answers reached us.
    assert!(link.stats().peer_errors > 0);
}
