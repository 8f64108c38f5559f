//! Compression between two processes (this test binary re-runs itself as
//! the peer, see `support/mod.rs`): negotiated only when both ask, LZ4
//! frames on sends, calls, responses and streamed receives; a Go-style 1.0
//! peer negotiates as before and gets raw messages.

mod advanced;
mod support;

use std::time::Duration;

use advanced::{dial, link_config};
use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, Codec, ProtocolOffer};
use hqq_runtime::protocol::Features;
use support::{child_env, unique_segment_name, Child};

const SLOTS: u64 = 64;
const BUFFER: u64 = 4096;
const THRESHOLD: u64 = 1024;

fn config() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(20),
        ..AdvancedConfig::default()
    }
    .compression(Codec::Lz4, THRESHOLD)
}

/// JSON-like text (compresses well).
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        let line = format!(
            "{{\"id\":{i},\"user\":\"u{}\",\"score\":{}}},\n",
            i % 41,
            i * 7 % 1000
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// Random bytes (do not shrink).
fn random(len: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// The child: takes what the parent's `HQQ_OFFER` says (ours or Go's),
/// receives two whole messages, then serves calls on a connection; method
/// 2 switches the connection to streaming and receives one message as a
/// stream.
#[test]
fn compression_peer() {
    let Some(env) = child_env("compression_peer") else {
        return;
    };
    let name = env.var("HQQ_SEGMENT");
    let config = if env.var("HQQ_OFFER") == "go" {
        AdvancedConfig {
            offer: ProtocolOffer::GO_COMPATIBLE,
            ..config()
        }
    } else {
        config()
    };
    let link = AdvancedLink::open(&name, &link_config(SLOTS, BUFFER), config).unwrap();
    let negotiated = link.wait_for_negotiation().unwrap();
    env.report("features", negotiated.features.bits());
    assert_eq!(link.recv_large(0).unwrap().data, text(1 << 20));
    assert_eq!(link.recv_large(0).unwrap().data, random(256 << 10));
    link.listen().unwrap();
    let connection = link.accept().unwrap();
    loop {
        let request = link.recv_request().unwrap();
        match request.method {
            1 => {
                let mut answer = request.data.clone();
                answer.reverse();
                link.respond(&request, &answer).unwrap();
            }
            2 => {
                link.set_streaming(connection, true);
                link.respond(&request, b"streaming").unwrap();
                let mut got = Vec::new();
                let (_, total) = link
                    .recv_stream(connection, &mut |offset, data| {
                        assert_eq!(offset, got.len() as u64);
                        got.extend_from_slice(data);
                    })
                    .unwrap();
                assert_eq!(total, got.len() as u64);
                assert_eq!(got, text(300_000));
                env.report("streamed", got.len());
            }
            _ => {
                link.respond(&request, b"bye").unwrap();
                break;
            }
        }
    }
    let stats = link.stats();
    env.report("decompressed", stats.decompressed_bytes);
    env.report("compressed_in", stats.compression_input_bytes);
    env.report("failures", stats.decompression_failures);
}

fn run_parent(
    offer: &str,
) -> (
    hqq_runtime::advanced::Negotiated,
    AdvancedLink,
    support::ChildOutput,
) {
    let name = unique_segment_name("advz");
    let link = AdvancedLink::create(&name, &link_config(SLOTS, BUFFER), config()).unwrap();
    let child = Child::spawn(
        "compression_peer",
        &[("HQQ_SEGMENT", &name), ("HQQ_OFFER", offer)],
    );
    let negotiated = link.negotiate(config().offer).unwrap();
    link.send_large(0, &text(1 << 20)).unwrap();
    link.send_large(0, &random(256 << 10)).unwrap();
    let connection = dial(&link);
    let request = text(200_000);
    let mut expected = request.clone();
    expected.reverse();
    assert_eq!(
        link.call_on(connection, 1, &request).unwrap().data,
        expected
    );
    assert_eq!(link.call_on(connection, 2, b"").unwrap().data, b"streaming");
    link.send_large(connection, &text(300_000)).unwrap();
    assert_eq!(link.call_on(connection, 0, b"").unwrap().data, b"bye");
    let output = child.wait(Duration::from_secs(60));
    output.assert_success();
    (negotiated, link, output)
}

#[test]
fn compressed_messages_calls_and_streams_across_processes() {
    let (negotiated, link, output) = run_parent("ours");
    assert!(negotiated.features.contains(Features::COMPRESSION));
    let features: u64 = output.report("features");
    assert_eq!(features, negotiated.features.bits());

    let stats = link.stats();
    // Three text messages compressed (1 MiB, the 200 KB call, 300 KB
    // streamed), the random one skipped, the short calls under the threshold.
    let input = (1 << 20) + 200_000 + 300_000;
    assert_eq!(stats.compression_input_bytes, input);
    assert!(
        stats.compression_output_bytes * 3 < input,
        "{} of {input}",
        stats.compression_output_bytes
    );
    assert_eq!(stats.compression_skipped, 1);
    assert!(stats.compression_ratio() > 3.0);
    // The echoed response came back compressed.
    assert_eq!(stats.decompressed_bytes, 200_000);

    let decompressed: u64 = output.report("decompressed");
    assert_eq!(decompressed, input);
    let compressed_in: u64 = output.report("compressed_in");
    assert_eq!(compressed_in, 200_000);
    let failures: u64 = output.report("failures");
    assert_eq!(failures, 0);
    let streamed: u64 = output.report("streamed");
    assert_eq!(streamed, 300_000);
}

#[test]
fn a_go_style_peer_negotiates_as_before_and_gets_raw_messages() {
    let (negotiated, link, output) = run_parent("go");
    assert_eq!(
        negotiated.features,
        Features::LARGE_COPY | Features::REQUEST_RESPONSE
    );
    assert_eq!(negotiated.version.minor, 0);
    let features: u64 = output.report("features");
    assert_eq!(features, 3);
    let stats = link.stats();
    assert_eq!(stats.compression_input_bytes, 0);
    assert_eq!(stats.compression_skipped, 0);
    let decompressed: u64 = output.report("decompressed");
    assert_eq!(decompressed, 0);
}
