//! The Advanced link across processes: this test binary re-runs itself as
//! the peer (see `support/mod.rs`), both ends on one named segment.

mod advanced;
mod support;

use std::time::Duration;

use advanced::link_config;
use hqq_runtime::advanced::{
    AdvancedConfig, AdvancedLink, AdvancedOpenError, DialError, DialFailure,
};
use hqq_runtime::protocol::ErrorCode;
use hqq_runtime::superblock::Role;
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
    let link = AdvancedLink::open(&name, &link_config(SLOTS, BUFFER), config()).unwrap();
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
    let link = AdvancedLink::create(&name, &link_config(SLOTS, BUFFER), config()).unwrap();
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
        Err(DialError::Refused(DialFailure::Refused(
            ErrorCode::ConnNotFound
        )))
    );
    // The peer listens after the message; retry until it does.
    let connection = loop {
        match link.dial() {
            Ok(id) => break id,
            Err(DialError::Refused(DialFailure::Refused(ErrorCode::ConnNotFound))) => {
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

/// The child: an Advanced secondary that accepts the negotiation and stays
/// until the parent's message says it may go.
#[test]
fn advanced_sole_secondary() {
    let Some(env) = child_env("advanced_sole_secondary") else {
        return;
    };
    let name = env.var("HQQ_SEGMENT");
    let link = AdvancedLink::open(&name, &link_config(8, 64), config()).unwrap();
    link.wait_for_negotiation().unwrap();
    assert_eq!(link.recv_large(0).unwrap().data, b"go");
}

#[test]
fn a_second_advanced_secondary_in_another_process_is_refused() {
    let name = unique_segment_name("adv-sole");
    let link = AdvancedLink::create(&name, &link_config(8, 64), config()).unwrap();
    let child = Child::spawn("advanced_sole_secondary", &[("HQQ_SEGMENT", &name)]);
    // Negotiated: the child is open (and registered) on the secondary side.
    link.negotiate(config().offer).unwrap();
    match AdvancedLink::open(&name, &link_config(8, 64), config()) {
        Err(AdvancedOpenError::SideInUse { role, pid }) => {
            assert_eq!(role, Role::Secondary);
            assert_eq!(pid, u64::from(child.id()));
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a second Advanced secondary was let in"),
    }
    link.send_large(0, b"go").unwrap();
    child.wait(Duration::from_secs(60)).assert_success();
}
