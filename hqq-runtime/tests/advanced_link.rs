//! The Advanced link on a shared segment, both ends in this process:
//! negotiation, connections, large messages, request-response, bad input.

mod advanced;

use std::time::Duration;

use advanced::{negotiated_pair, pair, standard_pair, with_watchdog};
use hqq_runtime::advanced::{
    AcceptNegotiationError, AdvancedConfig, AdvancedLink, AdvancedStateError, CallError,
    CallFailure, DialError, DialFailure, NegotiateError, NegotiationState, ProtocolOffer,
    RecvLargeError, RecvRequestError, RespondError, SendLargeError, TransportError,
};
use hqq_runtime::codec::Version;
use hqq_runtime::link::StandardLink;
use hqq_runtime::protocol::{ErrorCode, Features};
use hqq_runtime::Packet;

fn quick() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(5),
        ..AdvancedConfig::default()
    }
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn calls_before_negotiation_fail_clearly() {
    with_watchdog(LIMIT, || {
        let (primary, _secondary) = pair(8, 64, quick());
        assert_eq!(primary.negotiation_state(), NegotiationState::NotNegotiated);
        assert_eq!(
            primary.send_large(0, b"x"),
            Err(SendLargeError::State(AdvancedStateError::NotNegotiated))
        );
        assert_eq!(
            primary.call(1, b"x").unwrap_err(),
            CallError::State(AdvancedStateError::NotNegotiated)
        );
        assert_eq!(
            primary.dial(),
            Err(DialError::State(AdvancedStateError::NotNegotiated))
        );
        assert!(AdvancedStateError::NotNegotiated
            .to_string()
            .contains("negotiate"));
    });
}

#[test]
fn negotiation_agrees_and_happens_once() {
    with_watchdog(LIMIT, || {
        let (primary, secondary) = negotiated_pair(8, 64, quick());
        let ours = primary.negotiated().unwrap();
        let theirs = secondary.negotiated().unwrap();
        assert_eq!(ours.version, Version::new(1, 1));
        assert_eq!(
            (ours.features, ours.capabilities),
            (theirs.features, theirs.capabilities)
        );
        assert_eq!(
            primary.negotiate(ProtocolOffer::default()),
            Err(NegotiateError::AlreadyNegotiated)
        );
        assert_eq!(
            secondary.wait_for_negotiation(),
            Err(AcceptNegotiationError::AlreadyNegotiated)
        );
        assert!(primary.stats().negotiation_time > Duration::ZERO);
    });
}

#[test]
fn another_major_is_refused_with_invalid_op() {
    with_watchdog(LIMIT, || {
        let (primary, secondary) = pair(8, 64, quick());
        std::thread::scope(|s| {
            let acceptor = s.spawn(|| secondary.wait_for_negotiation());
            let offer = ProtocolOffer {
                version: Version::new(2, 0),
                ..ProtocolOffer::default()
            };
            assert_eq!(
                primary.negotiate(offer),
                Err(NegotiateError::Refused(ErrorCode::InvalidOp))
            );
            assert_eq!(
                acceptor.join().unwrap(),
                Err(AcceptNegotiationError::MajorMismatch(Version::new(2, 0)))
            );
        });
        assert_eq!(primary.negotiation_state(), NegotiationState::Failed);
        assert_eq!(
            primary.send_large(0, b""),
            Err(SendLargeError::State(AdvancedStateError::NotNegotiated))
        );
    });
}

#[test]
fn negotiation_times_out_without_a_peer() {
    with_watchdog(LIMIT, || {
        let config = AdvancedConfig {
            timeout: Duration::from_millis(100),
            ..AdvancedConfig::default()
        };
        let (primary, secondary) = pair(8, 64, config);
        assert_eq!(
            primary.negotiate(ProtocolOffer::default()),
            Err(NegotiateError::Transport(TransportError::TimedOut))
        );
        drop(secondary);
    });
}

#[test]
fn unnegotiated_features_are_refused() {
    with_watchdog(LIMIT, || {
        let config = AdvancedConfig {
            offer: ProtocolOffer {
                features: Features::LARGE_COPY,
                ..ProtocolOffer::default()
            },
            ..quick()
        };
        let (primary, _secondary) = negotiated_pair(8, 64, config);
        assert_eq!(
            primary.call(1, b"").unwrap_err(),
            CallError::State(AdvancedStateError::FeatureNotNegotiated("RequestResponse"))
        );
    });
}

#[test]
fn dial_without_listener_is_conn_not_found_then_connections_work() {
    with_watchdog(LIMIT, || {
        let (primary, secondary) = negotiated_pair(8, 64, quick());
        std::thread::scope(|s| {
            // The secondary pumps (waiting for a message that never comes)
            // so the ConnCreate gets its answer.
            let pumping = s.spawn(|| secondary.recv_large(0));
            assert_eq!(
                primary.dial(),
                Err(DialError::Refused(DialFailure::Refused(
                    ErrorCode::ConnNotFound
                )))
            );
            primary.send_large(0, b"stop").unwrap();
            assert_eq!(pumping.join().unwrap().unwrap().data, b"stop");
        });
        secondary.listen().unwrap();
        let (dialed, accepted) = std::thread::scope(|s| {
            let acceptor = s.spawn(|| secondary.accept().unwrap());
            (primary.dial().unwrap(), acceptor.join().unwrap())
        });
        assert_eq!(dialed, accepted);
        primary.send_large(dialed, b"on the connection").unwrap();
        assert_eq!(
            secondary.recv_large(dialed).unwrap().data,
            b"on the connection"
        );
        assert_eq!(
            primary.send_large(99, b""),
            Err(SendLargeError::NotConnected(99))
        );
        assert!(
            secondary.stats().errors >= 1,
            "the refused ConnCreate is counted"
        );
    });
}

#[test]
fn closing_a_connection_fails_its_pending_calls() {
    with_watchdog(LIMIT, || {
        let (primary, secondary) = negotiated_pair(8, 64, quick());
        secondary.listen().unwrap();
        let id = std::thread::scope(|s| {
            let acceptor = s.spawn(|| secondary.accept().unwrap());
            let id = primary.dial().unwrap();
            acceptor.join().unwrap();
            id
        });
        std::thread::scope(|s| {
            let caller = s.spawn(|| primary.call_on(id, 1, b"never answered"));
            let request = secondary.recv_request().unwrap();
            assert_eq!(request.connection, id);
            secondary.close(id).unwrap();
            assert_eq!(
                caller.join().unwrap().unwrap_err(),
                CallError::Failed(CallFailure::ConnectionClosed)
            );
        });
        assert_eq!(
            primary.call_on(id, 1, b"").unwrap_err(),
            CallError::NotConnected(id)
        );
    });
}

#[test]
fn large_messages_assembled_streamed_and_aborted() {
    with_watchdog(LIMIT, || {
        let (primary, secondary) = negotiated_pair(16, 4096, quick());
        let data: Vec<u8> = (0..(1 << 20) + 123)
            .map(|i: u32| (i * 7 % 251) as u8)
            .collect();
        std::thread::scope(|s| {
            let sender = s.spawn(|| primary.send_large(0, &data).unwrap());
            assert_eq!(secondary.recv_large(0).unwrap().data, data);
            sender.join().unwrap();
        });
        // Empty message.
        primary.send_large(0, b"").unwrap();
        assert_eq!(secondary.recv_large(0).unwrap().data, b"");
        // Streamed receive, from a streamed send.
        secondary.set_streaming(0, true);
        std::thread::scope(|s| {
            let sender = s.spawn(|| {
                let mut source = &data[..];
                primary
                    .send_large_from(0, &mut source, data.len() as u64)
                    .unwrap()
            });
            let mut got = Vec::new();
            let mut chunks = 0;
            let (_, total) = secondary
                .recv_stream(0, &mut |offset, chunk| {
                    assert_eq!(offset as usize, got.len());
                    assert!(chunk.len() <= 4096);
                    got.extend_from_slice(chunk);
                    chunks += 1;
                })
                .unwrap();
            assert_eq!(total, data.len() as u64);
            assert_eq!(got, data);
            assert_eq!(chunks, data.len().div_ceil(4096));
            sender.join().unwrap();
        });
        // A source that ends early aborts the message.
        std::thread::scope(|s| {
            let sender = s.spawn(|| {
                let mut short = &data[..10_000];
                primary.send_large_from(0, &mut short, 20_000)
            });
            assert!(matches!(
                secondary.recv_stream(0, &mut |_, _| {}),
                Err(RecvLargeError::Aborted(_))
            ));
            assert!(matches!(
                sender.join().unwrap(),
                Err(SendLargeError::SourceFailed { total: 20_000, .. })
            ));
        });
        assert!(secondary.stats().aborts >= 1 && primary.stats().aborts >= 1);
        let stats = secondary.stats();
        assert!(stats.bytes_received >= 2 * data.len() as u64);
    });
}

#[test]
fn concurrent_calls_get_their_own_responses_out_of_order() {
    with_watchdog(LIMIT, || {
        let (client, server) = negotiated_pair(64, 256, quick());
        const THREADS: u64 = 4;
        const CALLS: u64 = 25;
        std::thread::scope(|s| {
            let server = &server;
            s.spawn(move || {
                // Collect requests in batches and answer each batch backwards.
                let mut served = 0;
                while served < THREADS * CALLS {
                    let mut batch = vec![server.recv_request().unwrap()];
                    while batch.len() < 3 {
                        match server.recv_request_timeout(Duration::from_millis(5)) {
                            Ok(request) => batch.push(request),
                            Err(RecvRequestError::Transport(TransportError::TimedOut)) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    for request in batch.iter().rev() {
                        if request.method == 13 {
                            server.respond_error(request, 13, b"unlucky").unwrap();
                        } else {
                            let mut answer = request.data.clone();
                            answer.reverse();
                            server.respond(request, &answer).unwrap();
                        }
                    }
                    served += batch.len() as u64;
                }
            });
            for t in 0..THREADS {
                let client = &client;
                s.spawn(move || {
                    for i in 0..CALLS {
                        let method = t * 100 + i;
                        let request: Vec<u8> =
                            format!("{t}:{i}:{}", "x".repeat((i * 37) as usize)).into_bytes();
                        let response = client.call(method, &request).unwrap();
                        if method == 13 {
                            assert!(response.error);
                            assert_eq!(
                                (response.status, response.data.as_slice()),
                                (13, &b"unlucky"[..])
                            );
                        } else {
                            let mut expected = request.clone();
                            expected.reverse();
                            assert_eq!(response.data, expected);
                            assert_eq!((response.status, response.error), (0, false));
                        }
                    }
                });
            }
        });
        let stats = client.stats();
        assert_eq!(stats.messages_received, THREADS * CALLS);
        assert!(stats.pending_calls_high_water >= 2, "{stats:?}");
        assert_eq!(stats.errors, 0);
        // Empty request and response.
        std::thread::scope(|s| {
            s.spawn(|| {
                let request = server.recv_request().unwrap();
                assert!(request.data.is_empty());
                server.respond(&request, b"").unwrap();
            });
            assert_eq!(client.call(0, b"").unwrap().data, b"");
        });
    });
}

/// Sends raw packets (and payload) into `target`'s receive ring through the peer end.
fn inject(peer: &StandardLink, packets: &[(Packet, &[u8])]) {
    for (packet, payload) in packets {
        peer.send_packet(*packet, payload).unwrap();
    }
}

#[test]
fn bad_input_is_counted_never_fatal() {
    with_watchdog(LIMIT, || {
        let (target, peer) = standard_pair(64, 64);
        let target = AdvancedLink::new(target, quick());
        inject(
            &peer,
            &[(Packet::new(0x05, [0x101, 3, 7, 0, 0, 0, 0]), &[])],
        );
        target.wait_for_negotiation().unwrap();
        // Drain the ack the target sent.
        assert_eq!(peer.recv_packet().unwrap().packet().opcode(), 0x06);
        let copy = |w: [u64; 7]| Packet::new(0x04, w);
        let bad: Vec<(Packet, &[u8])> = vec![
            // Oversized total (above 64 MiB).
            (copy([0, 1, (64 << 20) + 1, 0, 64, 1, 0]), &[0; 64]),
            // A chunk past its total.
            (copy([0, 2, 10, 0, 20, 1, 0]), &[0; 64]),
            // Out of order: begin, then a chunk at a later offset.
            (copy([0, 3, 300, 0, 64, 1, 0]), &[0; 64]),
            (copy([0, 3, 300, 128, 64, 0, 0]), &[0; 64]),
            // Overlapping: begin, then a chunk overlapping the first.
            (copy([0, 4, 300, 0, 64, 1, 0]), &[0; 64]),
            (copy([0, 4, 300, 32, 64, 0, 0]), &[0; 64]),
            // A chunk for a message that never began.
            (copy([0, 5, 300, 64, 64, 0, 0]), &[0; 64]),
            // Unknown flag bits; Request with Response; Error without Response.
            (copy([0, 6, 1, 0, 1, 3 | 64, 0]), &[0; 64]),
            (copy([0, 7, 1, 0, 1, 3 | 8 | 16, 0]), &[0; 64]),
            (copy([0, 8, 1, 0, 1, 3 | 32, 0]), &[0; 64]),
            // A response for a call nobody made.
            (copy([0, 9, 1, 0, 1, 3 | 16, 0]), &[0; 64]),
            // ConnAccept for a connection nobody dialed.
            (Packet::new(0x02, [77, 0, 0, 0, 0, 0, 0]), &[]),
            // A second negotiation.
            (Packet::new(0x05, [0x100, 3, 7, 0, 0, 0, 0]), &[]),
            // An unknown opcode.
            (Packet::new(0x42, [0; 7]), &[]),
        ];
        // The two Begin chunks before the out-of-order and overlapping ones are fine.
        let expected_errors = bad.len() as u64 - 2;
        inject(&peer, &bad);
        // Then a good message, which still arrives.
        inject(&peer, &[(copy([0, 10, 2, 0, 2, 3, 0]), b"ok")]);
        assert_eq!(target.recv_large(0).unwrap().data, b"ok");
        let stats = target.stats();
        assert_eq!(stats.errors, expected_errors, "{stats:?}");
        assert_eq!(stats.messages_received, 1);
    });
}

/// A service with one method (7: sum of the request's bytes).
struct Summer {
    answered: u64,
}

impl hqq_runtime::advanced::RpcService for Summer {
    fn handle(
        &mut self,
        cx: &hqq_runtime::advanced::CallContext,
        method: u64,
        request: &[u8],
    ) -> Option<Result<Vec<u8>, hqq_runtime::advanced::Status>> {
        assert!(cx.message >= 1, "message ids start at 1");
        self.answered += 1;
        match method {
            7 if request.is_empty() => {
                Some(Err(hqq_runtime::advanced::Status::new(22, "empty request")))
            }
            7 => Some(Ok(request
                .iter()
                .map(|&b| u64::from(b))
                .sum::<u64>()
                .to_le_bytes()
                .to_vec())),
            _ => None,
        }
    }
}

#[test]
fn serve_answers_known_unknown_and_failing_methods_until_the_client_closes() {
    use hqq_runtime::advanced::{rpc, RpcCallError, ServeEnd, Status};
    with_watchdog(LIMIT, || {
        let (client, server) = negotiated_pair(8, 64, quick());
        server.listen().unwrap();
        std::thread::scope(|s| {
            let serving = s.spawn(|| {
                let connection = server.accept().unwrap();
                let mut summer = Summer { answered: 0 };
                (
                    rpc::serve(&server, connection, &mut summer),
                    summer.answered,
                )
            });
            let connection = client.dial().unwrap();
            // 200 bytes: three chunks each way on 64-byte buffers.
            let request: Vec<u8> = (0..200u8).collect();
            let expected: u64 = (0..200u64).sum();
            assert_eq!(
                rpc::call(&client, connection, 7, &request).unwrap(),
                expected.to_le_bytes()
            );
            assert_eq!(
                rpc::call(&client, connection, 7, b""),
                Err(RpcCallError::Status(Status::new(22, "empty request")))
            );
            match rpc::call(&client, connection, 8, b"x") {
                Err(RpcCallError::Status(status)) => {
                    assert_eq!(status.code, Status::UNKNOWN_METHOD);
                    assert_eq!(status.detail, b"unknown method 8");
                }
                other => panic!("expected the unknown-method status, got {other:?}"),
            }
            // Closing the connection ends the serve loop; no stop method.
            client.close(connection).unwrap();
            assert_eq!(serving.join().unwrap(), (Ok(ServeEnd::Closed), 3));
        });
    });
}

#[test]
fn a_response_on_a_connection_the_caller_closed_is_not_connected() {
    with_watchdog(LIMIT, || {
        let (client, server) = negotiated_pair(8, 256, quick());
        server.listen().unwrap();
        let connection = std::thread::scope(|s| {
            let accepted = s.spawn(|| server.accept().unwrap());
            let connection = advanced::dial(&client);
            assert_eq!(accepted.join().unwrap(), connection);
            connection
        });
        std::thread::scope(|s| {
            let call = s.spawn(|| client.call_on(connection, 1, b"question"));
            let request = server.recv_request().unwrap();
            client.close(connection).unwrap();
            assert_eq!(
                call.join().unwrap(),
                Err(CallError::Failed(CallFailure::ConnectionClosed))
            );
            // The server learns of the close as it receives.
            while !server.closed_by_peer(connection) {
                assert!(server.try_recv_request().is_err());
                std::thread::yield_now();
            }
            assert_eq!(
                server.respond(&request, b"answer"),
                Err(RespondError::NotConnected(connection))
            );
        });
        // Connection 0 never closes: answering on it still works.
        std::thread::scope(|s| {
            let call = s.spawn(|| client.call(1, b"question"));
            let request = server.recv_request().unwrap();
            server.respond(&request, b"answer").unwrap();
            assert_eq!(call.join().unwrap().unwrap().data, b"answer");
        });
    });
}
