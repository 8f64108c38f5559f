//! The Advanced link across processes: this test binary re-runs itself as
//! the peer (see `support/mod.rs`), both ends on one named segment.

mod advanced;
mod support;

use std::time::Duration;

use advanced::{create_named, SegmentEnd};
use hqq_runtime::advanced::{AdvancedConfig, AdvancedError, AdvancedLink, DialFailure};
use hqq_runtime::protocol::ErrorCode;
use hqq_runtime::{Layout, Segment};
use support::{child_env, unique_segment_name, Child};

const SLOTS: u64 = 64;
const BUFFER: u64 = 4096;
const CALLS: u64 = 200;
const THREADS: u64 = 4;

fn config() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(20),
        ..AdvancedConfig::default()
    }
}

fn message() -> Vec<u8> {
    (0..1u32 << 20).map(|i| (i % 253) as u8).collect()
}

/// The child: accepts the negotiation, refuses a dial (not listening yet),
/// receives 1 MiB, then serves calls until told to stop.
#[test]
fn advanced_peer() {
    let Some(env) = child_env("advanced_peer") else {
        return;
    };
    let name = env.var("HQQ_SEGMENT");
    let layout = Layout::new(SLOTS, BUFFER).unwrap();
    let segment = std::sync::Arc::new(Segment::open(&name, layout.total_size()).unwrap());
    let link = AdvancedLink::new(SegmentEnd::open(&segment, layout), config());
    let negotiated = link.wait_for_negotiation().unwrap();
    env.report("features", negotiated.features.bits());
    assert_eq!(link.recv_large(0).unwrap().data, message());
    link.listen().unwrap();
    let connection = link.accept().unwrap();
    loop {
        let request = link.recv_request().unwrap();
        match request.method {
            0 => {
                link.respond(&request, b"bye").unwrap();
                break;
            }
            1 => {
                let mut answer = request.data.clone();
                answer.reverse();
                link.respond(&request, &answer).unwrap();
            }
            other => link
                .respond_error(&request, other, b"no such method")
                .unwrap(),
        }
    }
    env.report("connection", connection);
    env.report("requests", link.stats().messages_received);
}

#[test]
fn advanced_link_across_processes() {
    let name = unique_segment_name("adv");
    let layout = Layout::new(SLOTS, BUFFER).unwrap();
    let segment = create_named(&name, layout);
    let link = AdvancedLink::new(SegmentEnd::open(&segment, layout), config());
    let child = Child::spawn("advanced_peer", &[("HQQ_SEGMENT", &name)]);

    let negotiated = link.negotiate(config().offer).unwrap();
    // The peer is not listening yet, and pumps only while it waits for the
    // message; the refusal arrives once it does.
    let refused = std::thread::scope(|s| {
        let dial = s.spawn(|| link.dial());
        link.send_large(0, &message()).unwrap();
        dial.join().unwrap()
    });
    assert_eq!(
        refused,
        Err(AdvancedError::Dial(DialFailure::Refused(
            ErrorCode::ConnNotFound
        )))
    );
    // The peer listens after the message; retry until it does.
    let connection = loop {
        match link.dial() {
            Ok(id) => break id,
            Err(AdvancedError::Dial(DialFailure::Refused(ErrorCode::ConnNotFound))) => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("dial: {e}"),
        }
    };
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let link = &link;
            s.spawn(move || {
                for i in 0..CALLS / THREADS {
                    let request = format!("{t}-{i}").into_bytes();
                    let response = link.call_on(connection, 1, &request).unwrap();
                    let mut expected = request.clone();
                    expected.reverse();
                    assert_eq!(response.data, expected);
                }
            });
        }
    });
    let refused = link.call_on(connection, 9, b"").unwrap();
    assert!(refused.error && refused.status == 9);
    assert_eq!(link.call_on(connection, 0, b"").unwrap().data, b"bye");

    let output = child.wait(Duration::from_secs(60));
    output.assert_success();
    let features: u64 = output.report("features");
    assert_eq!(features, negotiated.features.bits());
    let accepted: u64 = output.report("connection");
    assert_eq!(accepted, connection);
    let requests: u64 = output.report("requests");
    assert_eq!(requests, CALLS + 3);
}
