//! Published statistics across processes: a child serves calls and takes
//! messages on an Advanced link that publishes its counters; the parent
//! reads the child's companion segment while the child lives, and sees it
//! go when the child exits.

mod support;

use std::time::{Duration, Instant};

use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, Codec};
use hqq_runtime::liveness::ProcessStatus;
use hqq_runtime::stats::{read_published, StatSnapshot};
use hqq_runtime::superblock::Role;
use support::{child_env, link_config, unique_segment_name, Child};

const CALLS: u64 = 20;
const MESSAGES: u64 = 7;
/// Compressible: repeats one short pattern.
const MESSAGE_SIZE: usize = 3000;

fn config() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(20),
        ..AdvancedConfig::default()
    }
    .compression(Codec::Lz4, 256)
}

fn published_link() -> hqq_runtime::link::LinkConfig {
    let mut link = link_config(16, 1024);
    link.publish_stats(true);
    link
}

/// The child: serves CALLS calls and takes MESSAGES messages on the
/// connection the parent dials, then waits for a last message on
/// connection 0 before it exits.
#[test]
fn stats_peer() {
    let Some(env) = child_env("stats_peer") else {
        return;
    };
    let name = env.var("HQQ_SEGMENT");
    let link = AdvancedLink::open(&name, &published_link(), config()).unwrap();
    link.wait_for_negotiation().unwrap();
    link.listen().unwrap();
    let connection = link.accept().unwrap();
    env.report("published", link.statistics().published_name().unwrap());
    for _ in 0..CALLS {
        let request = link.recv_request().unwrap();
        link.respond(&request, &request.data).unwrap();
    }
    for _ in 0..MESSAGES {
        link.recv_large(connection).unwrap();
    }
    // The parent reads our statistics now; this message ends it.
    link.recv_large(0).unwrap();
}

/// The child's published snapshot once `done` says it is complete (the
/// child counts a response after sending it, so the parent may see the
/// answer first); fails after 20 s.
fn child_stats(name: &str, pid: u32, done: impl Fn(&StatSnapshot) -> bool) -> StatSnapshot {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let published = read_published(name).unwrap();
        let child = published
            .into_iter()
            .find(|p| p.stats.as_ref().is_ok_and(|s| s.pid == u64::from(pid)));
        if let Some(child) = child {
            assert_eq!(child.owner, ProcessStatus::Alive);
            let stats = child.stats.unwrap();
            if done(&stats) {
                return stats;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the child's statistics never added up"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn counters_published_by_one_process_read_in_another() {
    let name = unique_segment_name("stats");
    let link = AdvancedLink::create(&name, &published_link(), config()).unwrap();
    let child = Child::spawn("stats_peer", &[("HQQ_SEGMENT", &name)]);
    link.negotiate(config().offer).unwrap();
    let connection = link.dial().unwrap();
    for i in 0..CALLS {
        let response = link.call_on(connection, 1, &i.to_le_bytes()).unwrap();
        assert_eq!(response.data, i.to_le_bytes());
    }
    let message: Vec<u8> = b"statistics "
        .iter()
        .copied()
        .cycle()
        .take(MESSAGE_SIZE)
        .collect();
    for _ in 0..MESSAGES {
        link.send_large(connection, &message).unwrap();
    }
    let total = CALLS + MESSAGES;
    let request_bytes = CALLS * 8;
    let message_bytes = MESSAGES * MESSAGE_SIZE as u64;
    // Each counter is its own word, bumped one after another, so wait for
    // every figure checked below, not only the totals.
    let s = child_stats(&name, child.id(), |s| {
        let on_connection = s
            .connections
            .iter()
            .find(|c| c.connection == Some(connection));
        s.advanced.is_some_and(|a| {
            a.messages_received == total
                && a.messages_sent == CALLS
                && a.bytes_received == request_bytes + message_bytes
                && a.bytes_sent == request_bytes
                && a.decompressed_bytes == message_bytes
                && a.decompression_time > Duration::ZERO
        }) && on_connection.is_some_and(|c| {
            c.messages_received == total
                && c.messages_sent == CALLS
                && c.bytes_received == request_bytes + message_bytes
        }) && s.latencies.deliveries.len() == CALLS
            && s.link.tx.packets == 2 + CALLS
    });
    assert_eq!(s.role, Some(Role::Secondary));
    let a = s.advanced.unwrap();
    assert_eq!(a.bytes_received, request_bytes + message_bytes);
    assert_eq!(a.bytes_sent, request_bytes);
    // The messages came compressed and were decompressed by the child.
    assert_eq!(a.decompressed_bytes, message_bytes);
    assert!(a.decompression_time > Duration::ZERO);
    assert!(a.negotiation_time > Duration::ZERO);
    let on_connection = s
        .connections
        .iter()
        .find(|c| c.connection == Some(connection))
        .expect("the dialed connection has a slot");
    assert_eq!(on_connection.messages_received, total);
    assert_eq!(on_connection.messages_sent, CALLS);
    assert_eq!(on_connection.bytes_received, request_bytes + message_bytes);
    // Every response the child sent is a delivery it timed.
    assert_eq!(s.latencies.deliveries.len(), CALLS);
    assert!(s.latencies.calls.is_empty());
    // The Standard link below counted the packets: ProtoAck, ConnAccept
    // and one chunk per response (8 bytes fit one buffer).
    assert_eq!(s.link.tx.packets, 2 + CALLS);

    // Our own block, as the child (or `hqq stat`) reads it.
    let ours = read_published(&name)
        .unwrap()
        .into_iter()
        .find(|p| {
            p.stats
                .as_ref()
                .is_ok_and(|s| s.pid == u64::from(std::process::id()))
        })
        .expect("our block is published")
        .stats
        .unwrap();
    let a = ours.advanced.unwrap();
    assert_eq!(ours.role, Some(Role::Primary));
    assert_eq!(ours.latencies.calls.len(), CALLS);
    assert_eq!(a.messages_sent, total);
    assert_eq!(a.compression_input_bytes, message_bytes);
    assert!(a.compression_ratio() > 4.0, "{}", a.compression_ratio());
    assert_eq!(ours.latencies, link.latencies());

    link.send_large(0, b"done").unwrap();
    let out = child.wait(Duration::from_secs(20));
    out.assert_success();
    let published: String = out.report("published");
    let left = read_published(&name).unwrap();
    assert!(
        left.iter().all(|p| p.name != published),
        "the child's block outlived it"
    );
    assert_eq!(left.len(), 1);
}
