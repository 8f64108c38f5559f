//! RPC methods from a spec (`tests/derive/rpc.yaml` through
//! `include_spec!`): a server process runs the generated `serve` with its
//! `Server`, the test calls it through the generated `Client`.

#[path = "../hqq-runtime/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use hqq::runtime::advanced::{
    CallContext, CallError, DialError, DialFailure, RpcCallError, ServeEnd, Status, TransportError,
};
use hqq::runtime::protocol::ErrorCode;
use hqq::{AdvancedConfig, AdvancedLink, LinkConfig};
use support::{child_env, unique_segment_name, Child};

mod strings {
    hqq::include_spec!("tests/derive/rpc.yaml");
}
use strings::rpc;

const WATCHDOG: Duration = Duration::from_secs(60);

fn link_config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(16)
        .buffer_size(256)
        .ready_timeout(Duration::from_secs(10));
    config
}

fn advanced_config() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(20),
        ..AdvancedConfig::default()
    }
}

/// The request of `tally` (a serde type).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Words(pub Vec<String>);

/// The response of `tally` (a serde type).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Number of words.
    pub words: u64,
    /// Number of letters in all of them.
    pub letters: u64,
}

#[derive(Default)]
struct Strings {
    answered: u64,
}

impl rpc::Server for Strings {
    fn reverse(&mut self, _cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        Ok(request.iter().rev().copied().collect())
    }

    fn fail(&mut self, _cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        Err(Status {
            code: 7,
            detail: request.to_vec(),
        })
    }

    fn count(&mut self, _cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        let before = self.answered;
        self.answered += 1;
        Ok(before.to_le_bytes().to_vec())
    }

    fn stop(&mut self, _cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        Ok(Vec::new())
    }

    fn crash(&mut self, _cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        // Leaves the process table entry behind, naming a dead process.
        std::process::exit(3)
    }

    fn widen(&mut self, _cx: &CallContext, span: strings::Span) -> Result<strings::Span, Status> {
        self.answered += 1;
        Ok(strings::Span {
            start: span.start.saturating_sub(1),
            len: span.len.saturating_add(2),
        })
    }

    fn context(&mut self, cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        let ahead = u64::from(cx.deadline > std::time::Instant::now());
        Ok([cx.connection.to_le_bytes(), ahead.to_le_bytes()].concat())
    }

    fn tally(&mut self, _cx: &CallContext, request: Words) -> Result<Tally, Status> {
        self.answered += 1;
        Ok(Tally {
            words: request.0.len() as u64,
            letters: request.0.iter().map(|w| w.chars().count() as u64).sum(),
        })
    }
}

/// The server process: serves the connection the client dials until the
/// client closes it or is gone.
#[test]
fn rpc_server() {
    let Some(env) = child_env("rpc_server") else {
        return;
    };
    let link = AdvancedLink::open(&env.var("HQQ_SEGMENT"), &link_config(), advanced_config())
        .expect("open the link");
    link.wait_for_negotiation().expect("negotiation");
    link.listen().expect("listen");
    let connection = link.accept().expect("accept");
    let mut server = Strings::default();
    let end = rpc::serve(&link, connection, &mut server).expect("serve");
    env.report("end", format!("{end:?}"));
    env.report("answered", server.answered);
}

/// Starts the server process and dials it: the link and the connection.
fn start_server() -> (AdvancedLink, u64, Child) {
    let name = unique_segment_name("rpc");
    let link = AdvancedLink::create(&name, &link_config(), advanced_config()).expect("create");
    let child = Child::spawn("rpc_server", &[("HQQ_SEGMENT", &name)]);
    link.negotiate(advanced_config().offer).expect("negotiate");
    // The server listens right after the negotiation; until then a dial is refused.
    let connection = loop {
        match link.dial() {
            Ok(connection) => break connection,
            Err(DialError::Refused(DialFailure::Refused(ErrorCode::ConnNotFound))) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("dial: {e}"),
        }
    };
    (link, connection, child)
}

#[test]
fn generated_client_calls_generated_server_across_processes() {
    let (link, connection, child) = start_server();
    let client = rpc::Client::on_connection(&link, connection);

    assert_eq!(client.reverse(b"abc").unwrap(), b"cba");
    // Larger than one 256-byte buffer: chunked both ways.
    let large: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut expected = large.clone();
    expected.reverse();
    assert_eq!(client.reverse(&large).unwrap(), expected);
    assert_eq!(client.reverse(b"").unwrap(), b"");

    match client.fail(b"why") {
        Err(RpcCallError::Status(status)) => {
            assert_eq!(
                status,
                Status {
                    code: 7,
                    detail: b"why".to_vec()
                }
            );
        }
        other => panic!("expected status 7, got {other:?}"),
    }
    // A method id the server does not know.
    let unknown = hqq::runtime::advanced::rpc::call(&link, connection, 99, b"x");
    assert!(
        matches!(&unknown, Err(RpcCallError::Status(s)) if s.code == Status::UNKNOWN_METHOD),
        "{unknown:?}"
    );
    assert_eq!(client.count(b"").unwrap(), 4u64.to_le_bytes());
    // A typed method: packets in and out.
    let span = strings::Span { start: 5, len: 3 };
    assert_eq!(
        client.widen(&span).unwrap(),
        strings::Span { start: 4, len: 5 }
    );
    // Bytes that are not a Span packet: the generated server says so.
    let bad = hqq::runtime::advanced::rpc::call(&link, connection, rpc::METHOD_WIDEN, b"short");
    assert!(
        matches!(&bad, Err(RpcCallError::Status(s)) if s.code == Status::BAD_REQUEST),
        "{bad:?}"
    );
    // Serde types, with postcard.
    let words = Words(vec!["shared".into(), "memory".into(), "ipc".into()]);
    assert_eq!(
        client.tally(&words).unwrap(),
        Tally {
            words: 3,
            letters: 15
        }
    );
    let bad = hqq::runtime::advanced::rpc::call(&link, connection, rpc::METHOD_TALLY, &[0xFF; 3]);
    assert!(
        matches!(&bad, Err(RpcCallError::Status(s)) if s.code == Status::BAD_REQUEST),
        "{bad:?}"
    );
    // The handler's call context: the dialed connection, deadline ahead.
    let context = client.context(b"").unwrap();
    assert_eq!(
        context,
        [connection.to_le_bytes(), 1u64.to_le_bytes()].concat()
    );
    assert_eq!(client.stop(b"").unwrap(), b"");
    // Dropping the link closes the connection, which ends the server's serve.
    drop(link);

    let output = child.wait(WATCHDOG);
    output.assert_success();
    assert_eq!(
        output.report::<String>("end"),
        format!("{:?}", ServeEnd::Closed)
    );
    assert_eq!(output.report::<u64>("answered"), 8);
}

/// A client process that makes one call and exits without leaving the
/// link (as a crash would): its process-table entry stays, naming a dead pid.
#[test]
fn rpc_client_that_dies() {
    let Some(env) = child_env("rpc_client_that_dies") else {
        return;
    };
    let link = AdvancedLink::open(&env.var("HQQ_SEGMENT"), &link_config(), advanced_config())
        .expect("open the link");
    link.negotiate(advanced_config().offer).expect("negotiate");
    assert_eq!(rpc::Client::new(&link).reverse(b"ab").unwrap(), b"ba");
    env.report("called", 1);
    std::mem::forget(link);
}

#[test]
fn serve_returns_when_the_client_process_died() {
    let name = unique_segment_name("rpc-dies");
    let link = AdvancedLink::create(&name, &link_config(), advanced_config()).expect("create");
    let child = Child::spawn("rpc_client_that_dies", &[("HQQ_SEGMENT", &name)]);
    let (done, finished) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        link.wait_for_negotiation().expect("negotiation");
        let mut server = Strings::default();
        // The client calls on the link itself, which closes only with it.
        let end = rpc::serve(&link, 0, &mut server);
        let _ = done.send(());
        (end, server.answered)
    });
    let output = child.wait(WATCHDOG);
    output.assert_success();
    assert_eq!(output.report::<u64>("called"), 1);
    finished
        .recv_timeout(WATCHDOG)
        .expect("watchdog: serve did not notice the dead client");
    let (end, answered) = server.join().unwrap();
    assert_eq!(end.unwrap(), ServeEnd::PeerGone);
    assert_eq!(answered, 1);
}

#[test]
fn a_call_fails_with_peer_gone_when_the_server_process_dies() {
    let (link, connection, child) = start_server();
    let client = rpc::Client::on_connection(&link, connection);
    assert_eq!(client.reverse(b"12").unwrap(), b"21");
    let outcome = client.crash(b"");
    assert_eq!(
        outcome,
        Err(RpcCallError::Link(CallError::Transport(
            TransportError::PeerGone
        )))
    );
    let output = child.wait(WATCHDOG);
    assert_eq!(output.status.and_then(|s| s.code()), Some(3));
}
