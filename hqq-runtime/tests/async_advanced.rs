//! AsyncAdvancedLink (feature `tokio`): negotiation, connections, large and
//! streamed messages, calls on both tokio runtimes (and beside blocking
//! threads), cancellation at every await point, and a peer process that
//! dies while tasks wait.
//!
//! Run with `cargo test -p hqq-runtime --features tokio --test async_advanced`.
#![cfg(all(feature = "tokio", target_os = "linux"))]

#[allow(unused)]
mod advanced;
mod async_support;
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use advanced::check_required_encryption;
use advanced::tampering::Tampering;
use async_support::{current_thread, join, link_config, multi_thread, run, serial, CountingWaker};
use hqq_runtime::advanced::{
    AcceptNegotiationError, AdvancedConfig, AdvancedLink, CallContext, CallError, FlowControl,
    HandshakeError, Keys, NegotiateError, NegotiationState, RecvLargeError, RecvRequestError,
    RpcCallError, SendLargeError, ServeEnd, Status, TransportError,
};
use hqq_runtime::async_link::rpc::{self, AsyncRpcService};
use hqq_runtime::async_link::AsyncAdvancedLink;
use hqq_runtime::link::{LinkConfig, StandardLink};
use hqq_runtime::protocol::{ErrorCode, Features};
use support::{child_env, unique_segment_name, Child};

/// Two async ends, not negotiated yet.
fn raw_pair(slots: u64) -> (Arc<AsyncAdvancedLink>, Arc<AsyncAdvancedLink>) {
    let (a, b) = AdvancedLink::pair(&link_config(slots), AdvancedConfig::default()).expect("pair");
    (
        Arc::new(AsyncAdvancedLink::new(a)),
        Arc::new(AsyncAdvancedLink::new(b)),
    )
}

/// Two async ends that negotiated (asynchronously, concurrently).
async fn pair(slots: u64) -> (Arc<AsyncAdvancedLink>, Arc<AsyncAdvancedLink>) {
    let (a, b) = raw_pair(slots);
    let (x, y) = join(
        a.negotiate(AdvancedConfig::default().offer),
        b.accept_negotiation(),
    )
    .await;
    assert_eq!(x.expect("negotiate").features, y.expect("accept").features);
    (a, b)
}

fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    future.poll(&mut Context::from_waker(&waker))
}

/// Polls `future` a few times (past the spin phase), asserting it waits.
fn poll_pending<F: Future>(mut future: Pin<&mut F>) {
    for _ in 0..50 {
        assert!(
            poll_once(future.as_mut()).is_pending(),
            "the operation should wait"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Echoes requests with method 1; method 2 is an error status.
struct Echo;

impl AsyncRpcService for Echo {
    async fn handle(
        &mut self,
        _cx: CallContext,
        method: u64,
        request: Vec<u8>,
    ) -> Option<Result<Vec<u8>, Status>> {
        match method {
            1 => Some(Ok(request)),
            2 => Some(Err(Status::new(7, "no"))),
            _ => None,
        }
    }
}

#[test]
fn concurrent_calls_on_a_current_thread_runtime() {
    let _serial = serial();
    run(current_thread(), async {
        let (client, server) = pair(8).await;
        server.get_ref().listen().expect("listen");
        let (dialed, accepted) = join(client.dial(), server.accept()).await;
        let connection = dialed.expect("dial");
        assert_eq!(accepted.expect("accept"), connection);
        let mut echo = Echo;
        let serving = rpc::serve(&server, connection, &mut echo);
        let calls = async {
            let mut calls = Vec::new();
            for i in 0..20u32 {
                let client = Arc::clone(&client);
                calls.push(async move {
                    let request = vec![i as u8; (i * 37) as usize % 300];
                    let response = rpc::call(&client, connection, 1, &request)
                        .await
                        .expect("call");
                    assert_eq!(response, request);
                });
            }
            join_all(calls).await;
            let refused = rpc::call(&client, connection, 2, b"x").await;
            assert!(matches!(refused, Err(RpcCallError::Status(s)) if s.code == 7));
            let unknown = rpc::call(&client, connection, 9, b"x").await;
            assert!(
                matches!(unknown, Err(RpcCallError::Status(s)) if s.code == Status::UNKNOWN_METHOD)
            );
            client.close(connection).await.expect("close");
        };
        let (served, ()) = join(serving, calls).await;
        assert_eq!(served.expect("serve"), ServeEnd::Closed);
        assert_eq!(client.waiting_tasks() + server.waiting_tasks(), 0);
    });
}

/// The async link neither asks for nor grants QoS (its send path does not
/// wait for a turn), even when both sides' configurations ask for it; the
/// rest of the offer is kept, FlowControl and Encryption included.
#[test]
fn async_links_withhold_qos() {
    let _serial = serial();
    run(current_thread(), async {
        let config = AdvancedConfig::default()
            .flow_control(FlowControl::default())
            .quality_of_service()
            .encryption(Keys::pre_shared([7; 32]));
        let (a, b) = AdvancedLink::pair(&link_config(8), config).expect("pair");
        let (a, b) = (AsyncAdvancedLink::new(a), AsyncAdvancedLink::new(b));
        let (x, y) = join(a.negotiate(config.offer), b.accept_negotiation()).await;
        let (x, y) = (x.expect("negotiate"), y.expect("accept"));
        for features in [x.features, y.features] {
            assert!(
                !features.contains(Features::QUALITY_OF_SERVICE),
                "{features:?}"
            );
            let kept = Features::LARGE_COPY | Features::FLOW_CONTROL | Features::ENCRYPTION;
            assert!(features.contains(kept), "{features:?}");
        }
    });
}

/// Polls every future until all are done (on the current task).
async fn join_all<F: Future<Output = ()>>(futures: Vec<F>) {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for slot in &mut futures {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}

#[test]
fn many_spawned_calls_on_a_multi_thread_runtime() {
    let _serial = serial();
    let runtime = multi_thread();
    let handle = runtime.handle().clone();
    run(runtime, async move {
        let (client, server) = pair(16).await;
        let connection = {
            let server = Arc::clone(&server);
            server.get_ref().listen().expect("listen");
            let accepted = handle.spawn(async move { server.accept().await });
            let dialed = client.dial().await.expect("dial");
            assert_eq!(accepted.await.expect("task").expect("accept"), dialed);
            dialed
        };
        let serving = {
            let server = Arc::clone(&server);
            handle.spawn(async move { rpc::serve(&server, connection, &mut Echo).await })
        };
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                let client = Arc::clone(&client);
                handle.spawn(async move {
                    let request = i.to_le_bytes().repeat(1 + (i as usize % 40));
                    let response = rpc::call(&client, connection, 1, &request).await;
                    assert_eq!(response.expect("call"), request);
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("call task");
        }
        client.close(connection).await.expect("close");
        assert_eq!(
            serving.await.expect("serve task").expect("serve"),
            ServeEnd::Closed
        );
        assert_eq!(client.waiting_tasks(), 0);
        assert_eq!(server.waiting_tasks(), 0);
        let stats = client.get_ref().stats();
        assert_eq!((stats.held_bytes, stats.held_entries), (0, 0), "{stats:?}");
    });
}

#[test]
fn async_calls_to_a_blocking_server_and_back() {
    let _serial = serial();
    let (client, server) = raw_pair(4);
    let server_thread = {
        let server = Arc::clone(&server);
        std::thread::spawn(move || {
            let link = server.get_ref();
            link.wait_for_negotiation().expect("accept");
            // Blocking threads and tasks share the link's receive path.
            for _ in 0..50 {
                let request = link.recv_request().expect("request");
                link.respond(&request, &request.data).expect("respond");
            }
        })
    };
    run(multi_thread(), async {
        client
            .negotiate(AdvancedConfig::default().offer)
            .await
            .expect("negotiate");
        let mut calls = Vec::new();
        for i in 0..50u8 {
            let client = Arc::clone(&client);
            calls.push(async move {
                let response = client.call(1, &[i; 100]).await.expect("call");
                assert_eq!(response.data, [i; 100]);
            });
        }
        join_all(calls).await;
    });
    server_thread.join().expect("server thread");
}

#[test]
fn large_streamed_and_closed() {
    let _serial = serial();
    run(current_thread(), async {
        let (a, b) = pair(4).await;
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        // 157 chunks through 4 slots: the sender waits for room many times.
        let (sent, received) = join(a.send_large(0, &data), b.recv_large(0)).await;
        let received = received.expect("recv_large");
        assert_eq!(received.message, sent.expect("send_large"));
        assert_eq!(received.data, data);

        b.get_ref().set_streaming(0, true);
        let mut streamed = Vec::new();
        let (sent, total) = join(
            a.send_large(0, &data),
            b.recv_stream(0, |offset, chunk| {
                assert_eq!(offset as usize, streamed.len());
                streamed.extend_from_slice(chunk);
            }),
        )
        .await;
        let (message, total) = total.expect("recv_stream");
        assert_eq!((message, total), (sent.expect("send"), data.len() as u64));
        assert_eq!(streamed, data);

        b.get_ref().listen().expect("listen");
        let (dialed, accepted) = join(a.dial(), b.accept()).await;
        let id = dialed.expect("dial");
        assert_eq!(accepted.expect("accept"), id);
        let (_, closed) = join(a.close(id), b.recv_large(id)).await;
        assert_eq!(closed, Err(RecvLargeError::NotConnected(id)));
        assert_eq!(a.waiting_tasks() + b.waiting_tasks(), 0);
    });
}

/// Reads its bytes `step` at a time, pending (and waking itself) before
/// each read, so a chunk (or a sealed frame) takes several polls to stage.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    ready: bool,
}

impl tokio::io::AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.ready = !self.ready;
        if self.ready {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = self.data.len().min(self.step).min(buf.remaining());
        let (now, rest) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

#[test]
fn send_large_from_a_reader() {
    let _serial = serial();
    run(current_thread(), async {
        let (a, b) = pair(4).await;
        let data: Vec<u8> = (0..5_000u32).map(|i| (i % 253) as u8).collect();
        let mut source = Trickle {
            data: &data,
            step: 7,
            ready: false,
        };
        let total = data.len() as u64;
        let (sent, received) =
            join(a.send_large_from(0, &mut source, total), b.recv_large(0)).await;
        let received = received.expect("recv_large");
        assert_eq!(received.message, sent.expect("send_large_from"));
        assert_eq!(received.data, data);

        // A source that ends after 100 of 1000 bytes: the first chunk (64
        // bytes) left, then the message is aborted; the next arrives whole.
        let mut short = Trickle {
            data: &data[..100],
            step: 7,
            ready: false,
        };
        let failed = a.send_large_from(0, &mut short, 1000).await;
        assert!(
            matches!(
                failed,
                Err(SendLargeError::SourceFailed {
                    sent: 64,
                    total: 1000
                })
            ),
            "{failed:?}"
        );
        let (sent, received) = join(a.send_large(0, b"whole"), b.recv_large(0)).await;
        let received = received.expect("recv_large");
        assert_eq!(
            (received.message, received.data.as_slice()),
            (sent.expect("send"), &b"whole"[..])
        );
        assert!(b.get_ref().stats().aborts >= 1);
        assert_eq!(a.waiting_tasks() + b.waiting_tasks(), 0);
    });
}

#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (a, _b) = raw_pair(4);
    assert_send(&a.negotiate(AdvancedConfig::default().offer));
    assert_send(&a.accept_negotiation());
    assert_send(&a.dial());
    assert_send(&a.accept());
    assert_send(&a.close(1));
    assert_send(&a.send_large(0, b""));
    assert_send(&a.send_large_from(0, &mut &b""[..], 0));
    assert_send(&a.recv_large(0));
    assert_send(&a.recv_stream(0, |_, _| {}));
    assert_send(&a.call(1, b""));
    assert_send(&a.recv_request());
    assert_send(&a.recv_request_on(0));
    assert_send(&rpc::call(&a, 0, 1, b""));
    assert_send(&rpc::serve(&a, 0, &mut Echo));
}

/// Runs `op` until it waits, drops it, and checks it left nothing behind.
fn cancel_while_waiting<F: Future>(link: &AsyncAdvancedLink, op: F) {
    let mut op = Box::pin(op);
    poll_pending(op.as_mut());
    assert_eq!(link.waiting_tasks(), 1, "the waiting task is registered");
    drop(op);
    assert_eq!(
        link.waiting_tasks(),
        0,
        "a dropped wait leaves no registration"
    );
}

#[test]
fn cancelled_receives_lose_nothing() {
    let _serial = serial();
    run(current_thread(), async {
        let (a, b) = pair(8).await;
        cancel_while_waiting(&b, b.recv_large(0));
        cancel_while_waiting(&b, b.recv_request());
        b.get_ref().listen().expect("listen");
        cancel_while_waiting(&b, b.accept());
        // What arrives after the cancelled waits is there for the next ones.
        a.send_large(0, b"after").await.expect("send");
        assert_eq!(b.recv_large(0).await.expect("recv").data, b"after");
        let (dialed, accepted) = join(a.dial(), b.accept()).await;
        assert_eq!(dialed.expect("dial"), accepted.expect("accept"));
    });
}

#[test]
fn a_call_cancelled_while_waiting_for_its_response() {
    let _serial = serial();
    run(current_thread(), async {
        let (client, server) = pair(8).await;
        cancel_while_waiting(&client, client.call(1, b"forgotten"));
        // The server answers the forgotten call; the answer is dropped.
        let request = server.recv_request().await.expect("request");
        assert_eq!(request.data, b"forgotten");
        server.respond(&request, b"late").await.expect("respond");
        let (response, ()) = join(client.call(1, b"next"), async {
            let request = server.recv_request().await.expect("request");
            server.respond(&request, b"fresh").await.expect("respond");
        })
        .await;
        assert_eq!(response.expect("call").data, b"fresh");
        let stats = client.get_ref().stats();
        assert_eq!((stats.held_bytes, stats.held_entries), (0, 0), "{stats:?}");
        assert_eq!(client.waiting_tasks(), 0);
    });
}

#[test]
fn a_send_cancelled_part_way_is_aborted() {
    let _serial = serial();
    run(current_thread(), async {
        let (a, b) = pair(4).await;
        // 20 chunks through 4 slots, nobody receiving: the send waits for
        // room after 4 chunks; dropped there, the message is aborted.
        let mut send = Box::pin(a.send_large(0, &[1; 20 * 64]));
        poll_pending(send.as_mut());
        drop(send);
        let mut call = Box::pin(a.call(1, &[2; 20 * 64]));
        // The call's request is stuck behind the partial message too.
        assert!(poll_once(call.as_mut()).is_pending());
        drop(call);
        // The receiver gets neither partial message, and the next one whole
        // (the aborts go out, queued, once the ring has room).
        let (sent, received) = join(a.send_large(0, b"whole"), async {
            let message = b.recv_large(0).await.expect("recv");
            assert!(
                b.get_ref().try_recv_request().is_err(),
                "no partial request"
            );
            message
        })
        .await;
        let id = sent.expect("send");
        assert_eq!(
            (received.message, received.data.as_slice()),
            (id, &b"whole"[..])
        );
        assert!(b.get_ref().stats().aborts >= 1);
        assert_eq!(a.waiting_tasks() + b.waiting_tasks(), 0);
    });
}

#[test]
fn a_cancelled_dial_leaves_nothing_open() {
    let _serial = serial();
    run(current_thread(), async {
        let (a, b) = pair(8).await;
        b.get_ref().listen().expect("listen");
        cancel_while_waiting(&a, a.dial());
        // The peer saw the ConnCreate and the ConnClose that follows it: the
        // connection it may have accepted is closed again.
        let id = b.accept().await.expect("accept");
        a.send_large(0, b"flush").await.expect("send");
        assert_eq!(b.recv_large(0).await.expect("recv").data, b"flush");
        assert!(!a.get_ref().is_open(id));
        assert!(!b.get_ref().is_open(id), "the peer was told");
        assert!(b.get_ref().closed_by_peer(id));
        let (dialed, accepted) = join(a.dial(), b.accept()).await;
        assert_eq!(dialed.expect("dial"), accepted.expect("accept"));
    });
}

/// The peer process of `a_dead_peer_ends_every_wait`: negotiates, then
/// dies (no destructors, no ConnClose, its process-table entry left behind)
/// when told to.
#[test]
fn advanced_peer_that_dies() {
    let Some(env) = child_env("advanced_peer_that_dies") else {
        return;
    };
    let link = AdvancedLink::open(
        &env.var("HQQ_SEGMENT"),
        &link_config(8),
        AdvancedConfig::default(),
    )
    .expect("open");
    link.wait_for_negotiation().expect("negotiation");
    let message = link.recv_large(0).expect("the word to die");
    assert_eq!(message.data, b"die");
    std::process::exit(0);
}

#[test]
fn a_dead_peer_ends_every_wait() {
    let _serial = serial();
    let name = unique_segment_name("async-advanced-gone");
    let link =
        AdvancedLink::create(&name, &link_config(8), AdvancedConfig::default()).expect("create");
    let link = Arc::new(AsyncAdvancedLink::new(link));
    let child = Child::spawn("advanced_peer_that_dies", &[("HQQ_SEGMENT", &name)]);
    run(multi_thread(), async {
        link.negotiate(AdvancedConfig::default().offer)
            .await
            .expect("negotiate");
        // Three tasks wait for things the peer will never send.
        let call = {
            let link = Arc::clone(&link);
            tokio::spawn(async move { link.call(1, b"never answered").await })
        };
        let request = {
            let link = Arc::clone(&link);
            tokio::spawn(async move { link.recv_request().await })
        };
        let message = {
            let link = Arc::clone(&link);
            tokio::spawn(async move { link.recv_large(0).await })
        };
        link.send_large(0, b"die").await.expect("send");
        assert!(matches!(
            call.await.expect("task"),
            Err(CallError::Transport(TransportError::PeerGone))
        ));
        assert!(matches!(
            request.await.expect("task"),
            Err(RecvRequestError::Transport(TransportError::PeerGone))
        ));
        assert!(matches!(
            message.await.expect("task"),
            Err(RecvLargeError::Transport(TransportError::PeerGone))
        ));
        assert_eq!(link.waiting_tasks(), 0);
    });
    child.wait(Duration::from_secs(60)).assert_success();
}

// ---- encryption ----------------------------------------------------------

const PSK: [u8; 32] = [0x5C; 32];

fn sealed_config() -> AdvancedConfig {
    AdvancedConfig::default().encryption(Keys::pre_shared(PSK))
}

/// Configurations for both key kinds: `(initiator, acceptor)` with one
/// pre-shared key, and with static keys (each trusting the other's public).
fn key_kinds() -> [(AdvancedConfig, AdvancedConfig); 2] {
    let (a_private, a_public) = Keys::generate_key_pair().expect("key pair");
    let (b_private, b_public) = Keys::generate_key_pair().expect("key pair");
    let base = AdvancedConfig::default();
    [
        (sealed_config(), sealed_config()),
        (
            base.encryption(Keys::static_keys(a_private, b_public)),
            base.encryption(Keys::static_keys(b_private, a_public)),
        ),
    ]
}

/// Standard link ends with room for a 70 KB message in few chunks.
fn sealed_link_config() -> LinkConfig {
    let mut config = link_config(16);
    config.buffer_size(1024);
    config
}

/// Two link ends, not negotiated: `(initiator, acceptor)` configured `a`
/// and `b`.
fn ends(a: AdvancedConfig, b: AdvancedConfig) -> (AdvancedLink, AdvancedLink) {
    ends_on(&sealed_link_config(), a, b)
}

/// [`ends`] on a link configured `link`.
fn ends_on(
    link: &LinkConfig,
    a: AdvancedConfig,
    b: AdvancedConfig,
) -> (AdvancedLink, AdvancedLink) {
    let (x, y) = StandardLink::pair(link).expect("pair");
    (AdvancedLink::new(x, a), AdvancedLink::new(y, b))
}

/// A message that fits one chunk sealed.
const SHORT: &[u8] = b"short";

/// A message that spans two 64 KiB frames of a sealed message.
fn sealed_text() -> Vec<u8> {
    (0..70_000u32)
        .map(|i| b"sealed text "[i as usize % 12])
        .collect()
}

/// The driving side of an encrypted exchange, async: sends the text from a
/// reader (so it is sealed as it is read), takes it back echoed, and calls
/// method 7 with it and with a short message.
async fn exchange_async(link: &AsyncAdvancedLink) {
    let data = sealed_text();
    let mut source = Trickle {
        data: &data,
        step: 4000,
        ready: false,
    };
    link.send_large_from(0, &mut source, data.len() as u64)
        .await
        .expect("send_large_from");
    assert_eq!(link.recv_large(0).await.expect("echo").data, data);
    let response = link.call(7, &data).await.expect("call");
    assert_eq!((response.status, response.data), (0, data));
    // One chunk each way: sealed and opened whole.
    let response = link.call(7, SHORT).await.expect("short call");
    assert_eq!(response.data, SHORT);
}

/// The echoing side of an encrypted exchange, async.
async fn echo_async(link: &AsyncAdvancedLink) {
    let message = link.recv_large(0).await.expect("recv_large");
    link.send_large(0, &message.data).await.expect("send_large");
    for _ in 0..2 {
        let request = link.recv_request().await.expect("request");
        assert_eq!(request.method, 7);
        link.respond(&request, &request.data)
            .await
            .expect("respond");
    }
}

/// The driving side of an encrypted exchange, blocking.
fn exchange_blocking(link: &AdvancedLink) {
    let data = sealed_text();
    link.send_large(0, &data).expect("send_large");
    assert_eq!(link.recv_large(0).expect("echo").data, data);
    assert_eq!(link.call(7, &data).expect("call").data, data);
    assert_eq!(link.call(7, SHORT).expect("short call").data, SHORT);
}

/// The echoing side of an encrypted exchange, blocking.
fn echo_blocking(link: &AdvancedLink) {
    let message = link.recv_large(0).expect("recv_large");
    link.send_large(0, &message.data).expect("send_large");
    for _ in 0..2 {
        let request = link.recv_request().expect("request");
        link.respond(&request, &request.data).expect("respond");
    }
}

/// Both ends negotiated Encryption, agreed on a cipher, and each opened
/// what the other sealed: the four messages of an exchange each way.
#[track_caller]
fn assert_sealed_both_ways(a: &AdvancedLink, b: &AdvancedLink) {
    for link in [a, b] {
        let features = link.negotiated().expect("negotiated").features;
        assert!(features.contains(Features::ENCRYPTION), "{features:?}");
        let stats = link.stats();
        // Each side sent a message, a request or response, and a short one.
        let sent = 2 * sealed_text().len() as u64 + SHORT.len() as u64;
        assert_eq!(stats.encrypted_bytes, sent, "{stats:?}");
        assert_eq!(stats.decrypted_bytes, sent, "{stats:?}");
        assert_eq!(stats.authentication_failures + stats.replays_refused, 0);
    }
    assert!(a.cipher().is_some());
    assert_eq!(a.cipher(), b.cipher());
}

#[test]
fn encrypted_exchanges_async_to_async_and_with_blocking_ends() {
    let _serial = serial();
    for (ca, cb) in key_kinds() {
        // Async initiator, async acceptor.
        let (a, b) = ends(ca, cb);
        let (a, b) = (AsyncAdvancedLink::new(a), AsyncAdvancedLink::new(b));
        run(current_thread(), async {
            let (x, y) = join(a.negotiate(ca.offer), b.accept_negotiation()).await;
            assert_eq!(x.expect("negotiate").features, y.expect("accept").features);
            join(exchange_async(&a), echo_async(&b)).await;
        });
        assert_sealed_both_ways(a.get_ref(), b.get_ref());

        // Async initiator, blocking acceptor.
        let (a, b) = ends(ca, cb);
        let a = AsyncAdvancedLink::new(a);
        std::thread::scope(|s| {
            s.spawn(|| {
                b.wait_for_negotiation().expect("accept");
                echo_blocking(&b);
            });
            run(multi_thread(), async {
                a.negotiate(ca.offer).await.expect("negotiate");
                exchange_async(&a).await;
            });
        });
        assert_sealed_both_ways(a.get_ref(), &b);

        // Blocking initiator, async acceptor.
        let (a, b) = ends(ca, cb);
        let b = AsyncAdvancedLink::new(b);
        std::thread::scope(|s| {
            s.spawn(|| {
                a.negotiate(ca.offer).expect("negotiate");
                exchange_blocking(&a);
            });
            run(current_thread(), async {
                b.accept_negotiation().await.expect("accept");
                echo_async(&b).await;
            });
        });
        // The blocking side sent from memory: the same bytes each way.
        assert_sealed_both_ways(&a, b.get_ref());
    }
}

#[test]
fn a_wrong_key_fails_the_async_handshake_typed() {
    let _serial = serial();
    let refused = NegotiateError::Handshake(HandshakeError::Refused(ErrorCode::HandshakeFailed));
    // Two async ends with different pre-shared keys.
    let other = AdvancedConfig::default().encryption(Keys::pre_shared([0x11; 32]));
    let (a, b) = ends(sealed_config(), other);
    let (a, b) = (AsyncAdvancedLink::new(a), AsyncAdvancedLink::new(b));
    let (x, y) = run(current_thread(), async {
        join(a.negotiate(sealed_config().offer), b.accept_negotiation()).await
    });
    assert_eq!(
        y.unwrap_err(),
        AcceptNegotiationError::Handshake(HandshakeError::Failed)
    );
    assert_eq!(x.unwrap_err(), refused);
    for link in [&a, &b] {
        assert_eq!(link.get_ref().negotiation_state(), NegotiationState::Failed);
        assert_eq!(link.waiting_tasks(), 0);
    }

    // Static keys, the blocking acceptor trusting another public key: the
    // async initiator is refused; the other way round, the async acceptor
    // fails the step it cannot authenticate.
    let (a_private, a_public) = Keys::generate_key_pair().expect("key pair");
    let (b_private, b_public) = Keys::generate_key_pair().expect("key pair");
    let (_, stranger) = Keys::generate_key_pair().expect("key pair");
    let base = AdvancedConfig::default();
    let ca = base.encryption(Keys::static_keys(a_private, b_public));
    let cb = base.encryption(Keys::static_keys(b_private, a_public));
    let wrong = base.encryption(Keys::static_keys(b_private, stranger));
    let (a, b) = ends(ca, wrong);
    let a = AsyncAdvancedLink::new(a);
    std::thread::scope(|s| {
        let acceptor = s.spawn(|| b.wait_for_negotiation());
        let initiated = run(current_thread(), a.negotiate(ca.offer));
        assert_eq!(initiated.unwrap_err(), refused);
        assert_eq!(
            acceptor.join().expect("acceptor").unwrap_err(),
            AcceptNegotiationError::Handshake(HandshakeError::Failed)
        );
    });
    let (a, b) = ends(wrong, cb);
    let b = AsyncAdvancedLink::new(b);
    std::thread::scope(|s| {
        let initiator = s.spawn(|| a.negotiate(wrong.offer));
        let accepted = run(current_thread(), b.accept_negotiation());
        assert_eq!(
            accepted.unwrap_err(),
            AcceptNegotiationError::Handshake(HandshakeError::Failed)
        );
        assert_eq!(initiator.join().expect("initiator").unwrap_err(), refused);
    });
}

#[test]
fn required_encryption_refuses_a_plain_peer_async() {
    let _serial = serial();
    check_required_encryption(AdvancedConfig::default(), Keys::pre_shared(PSK), |a, b| {
        let (x, y) = ends(a, b);
        let (x, y) = (AsyncAdvancedLink::new(x), AsyncAdvancedLink::new(y));
        run(current_thread(), async {
            join(x.negotiate(a.offer), y.accept_negotiation()).await
        })
    });
}

#[test]
fn a_changed_byte_is_refused_by_an_async_receiver_and_the_next_message_arrives() {
    let _serial = serial();
    let (x, y) = StandardLink::pair(&sealed_link_config()).expect("pair");
    let a = AdvancedLink::new(Tampering::new(x), sealed_config());
    let b = AsyncAdvancedLink::new(AdvancedLink::new(y, sealed_config()));
    std::thread::scope(|s| {
        s.spawn(|| {
            a.negotiate(sealed_config().offer).expect("negotiate");
            a.transport().flip_next.store(true, Ordering::SeqCst);
            a.send_large(0, &sealed_text()).expect("changed");
            a.send_large(0, b"good").expect("good");
        });
        run(current_thread(), async {
            b.accept_negotiation().await.expect("accept");
            assert_eq!(b.recv_large(0).await.expect("recv").data, b"good");
        });
    });
    let stats = b.get_ref().stats();
    assert_eq!(stats.authentication_failures, 1, "{stats:?}");
    assert_eq!(stats.held_bytes, 0, "{stats:?}");
    assert_eq!(stats.messages_received, 1, "{stats:?}");
}

/// Dropping either side's negotiation future part-way through the
/// handshake fails that side's negotiation for good and leaves no waiting
/// task.
#[test]
fn negotiations_dropped_mid_handshake_fail_for_good() {
    let _serial = serial();
    let (a, b) = ends(sealed_config(), sealed_config());
    let (a, b) = (AsyncAdvancedLink::new(a), AsyncAdvancedLink::new(b));
    let mut initiator = Box::pin(a.negotiate(sealed_config().offer));
    poll_pending(initiator.as_mut()); // ProtoNegotiate sent
    let mut acceptor = Box::pin(b.accept_negotiation());
    poll_pending(acceptor.as_mut()); // ack sent, waits for step 1
    poll_pending(initiator.as_mut()); // step 1 sent, waits for step 2
    drop(acceptor);
    drop(initiator);
    for link in [&a, &b] {
        assert_eq!(link.get_ref().negotiation_state(), NegotiationState::Failed);
        assert_eq!(link.waiting_tasks(), 0);
        assert_eq!(link.get_ref().cipher(), None);
    }
    run(current_thread(), async {
        assert_eq!(
            a.negotiate(sealed_config().offer).await.unwrap_err(),
            NegotiateError::AlreadyNegotiated
        );
        assert!(matches!(
            a.send_large(0, b"x").await,
            Err(SendLargeError::State(_))
        ));
    });
}

// ---- flow control ----------------------------------------------------------

/// Each side's window: the smallest there is.
const WINDOW: u64 = 65536;
/// Bytes of a flood message (16 chunks of 1 KiB).
const FLOOD_MESSAGE: usize = 16 * 1024;
/// Messages of a flood: two windows.
const FLOOD: u64 = 8;

fn flow_config() -> AdvancedConfig {
    AdvancedConfig::default().flow_control(FlowControl {
        window: WINDOW,
        ..FlowControl::default()
    })
}

/// Flood message `index`: its index in the first 8 bytes.
fn flood_message(index: u64) -> Vec<u8> {
    let mut data = vec![(index % 251) as u8; FLOOD_MESSAGE];
    data[..8].copy_from_slice(&index.to_le_bytes());
    data
}

/// Runs `receiver`'s receive path, taking nothing, until `sender` stalls
/// for credit with a window of data unread at the receiver, checking all
/// along what the blocking flow tests check: never more sent than the
/// credit, never more credit than a window (and the message in progress)
/// beyond what was read, never more held unread than a window.
fn assert_window_holds(sender: &AdvancedLink, receiver: &AdvancedLink, sent_all: &AtomicBool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        // Nothing is requested: this only receives and routes.
        assert!(receiver.try_recv_request().is_err());
        assert!(
            std::time::Instant::now() < deadline,
            "the sender never stalled"
        );
        // `None` until the sender's negotiation returned too.
        let Some(credit) = sender.send_credit(0) else {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        assert!(credit.sent <= credit.limit, "{credit:?}");
        assert!(credit.limit <= WINDOW + FLOOD_MESSAGE as u64, "{credit:?}");
        let held = receiver.stats();
        let entries = WINDOW / FLOOD_MESSAGE as u64 + 2;
        assert!(
            held.held_bytes <= WINDOW + FLOOD_MESSAGE as u64 + entries * 128,
            "the receiver held {} bytes for a {WINDOW}-byte window",
            held.held_bytes
        );
        let unread = held.messages_received * FLOOD_MESSAGE as u64;
        if sender.stats().credit_stalls > 0 && unread >= WINDOW {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        !sent_all.load(Ordering::SeqCst),
        "the sends did not wait for credit"
    );
}

/// The receiver of a flood got every message in order, and refused nothing.
#[track_caller]
fn assert_flood_received(received: &[Vec<u8>], receiver: &AdvancedLink) {
    assert_eq!(received.len() as u64, FLOOD);
    for (index, data) in received.iter().enumerate() {
        assert_eq!(*data, flood_message(index as u64));
    }
    assert_eq!(receiver.stats().credit_errors, 0);
}

#[test]
fn a_flood_async_to_blocking_keeps_the_window() {
    let _serial = serial();
    let (a, b) = ends(flow_config(), flow_config());
    let a = AsyncAdvancedLink::new(a);
    let sent_all = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            run(current_thread(), async {
                let negotiated = a.negotiate(flow_config().offer).await.expect("negotiate");
                assert!(negotiated.features.contains(Features::FLOW_CONTROL));
                for index in 0..FLOOD {
                    a.send_large(0, &flood_message(index)).await.expect("send");
                }
            });
            sent_all.store(true, Ordering::SeqCst);
        });
        b.wait_for_negotiation().expect("accept");
        assert_window_holds(a.get_ref(), &b, &sent_all);
        let received: Vec<_> = (0..FLOOD)
            .map(|_| b.recv_large(0).expect("recv").data)
            .collect();
        assert_flood_received(&received, &b);
    });
    assert_eq!(a.waiting_tasks(), 0);
}

#[test]
fn a_flood_blocking_to_async_keeps_the_window() {
    let _serial = serial();
    let (a, b) = ends(flow_config(), flow_config());
    let b = AsyncAdvancedLink::new(b);
    let sent_all = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            a.negotiate(flow_config().offer).expect("negotiate");
            for index in 0..FLOOD {
                a.send_large(0, &flood_message(index)).expect("send");
            }
            sent_all.store(true, Ordering::SeqCst);
        });
        run(current_thread(), b.accept_negotiation()).expect("accept");
        assert_window_holds(&a, b.get_ref(), &sent_all);
        // Only what the tasks take gives the sender its credit back.
        let received = run(current_thread(), async {
            let mut received = Vec::new();
            for _ in 0..FLOOD {
                received.push(b.recv_large(0).await.expect("recv").data);
            }
            received
        });
        assert_flood_received(&received, b.get_ref());
    });
    assert_eq!(b.waiting_tasks(), 0);
}

/// A send dropped while it waits for credit sends nothing more and takes
/// no credit; one dropped part-way through its message is aborted, and
/// the receiver gets neither.
#[test]
fn a_send_dropped_waiting_for_credit_leaves_no_half_message() {
    let _serial = serial();
    // A ring that holds more than the first window: nobody routes until
    // the drops, so the sends wait for credit, not for room.
    let mut link = sealed_link_config();
    link.slots(128);
    let (a, b) = ends_on(&link, flow_config(), flow_config());
    let a = AsyncAdvancedLink::new(a);
    std::thread::scope(|s| {
        let receiver = s.spawn(|| b.wait_for_negotiation().expect("accept"));
        run(current_thread(), a.negotiate(flow_config().offer)).expect("negotiate");
        receiver.join().expect("receiver");
    });
    // The first window's chunks go into the ring, then it waits for credit.
    let mut partial = Box::pin(a.send_large(0, &[2; WINDOW as usize + 4096]));
    poll_pending(partial.as_mut());
    drop(partial);
    let mut nothing = Box::pin(a.send_large(0, &[3; 1024]));
    poll_pending(nothing.as_mut());
    drop(nothing);
    assert_eq!(a.waiting_tasks(), 0);
    let credit = a.get_ref().send_credit(0).expect("flow control");
    assert_eq!((credit.sent, credit.limit), (WINDOW, WINDOW), "{credit:?}");
    // The receiver drops the aborted message (its chunks give the credit
    // back) and gets the next one whole.
    std::thread::scope(|s| {
        let receiver = s.spawn(|| b.recv_large(0).expect("recv").data);
        run(current_thread(), a.send_large(0, b"after")).expect("after");
        assert_eq!(receiver.join().expect("receiver"), b"after");
    });
    assert_eq!(b.stats().aborts, 1);
    assert_eq!(b.stats().credit_errors, 0);
    assert_eq!(a.waiting_tasks(), 0);
}
