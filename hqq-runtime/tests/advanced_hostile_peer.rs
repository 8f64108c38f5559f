//! The Advanced link against a hostile peer in another process: random,
//! replayed, reordered and duplicated ConnCopy chunks, floods of every
//! control opcode, ids at 0 and u64::MAX, a peer that drains its ring only
//! now and then. The link under test keeps every call inside its
//! deadline, its memory inside its budget, counts what it refused, never
//! panics, and still answers the valid request that ends the run.

mod advanced;
mod fuzz_harness;
mod support;

use std::time::{Duration, Instant};

use advanced::link_config;
use fuzz_harness::Rng;
use hqq_runtime::advanced::{AdvancedConfig, AdvancedLink, ReceiveBudget, RecvRequestError};
use hqq_runtime::link::StandardLink;
use hqq_runtime::protocol::OpCode;
use hqq_runtime::Packet;
use support::{child_env, unique_segment_name, Child};

const SLOTS: u64 = 16;
const BUFFER: u64 = 64;
const BUDGET: u64 = 256 << 10;
const PACKETS: u64 = 6000;
/// The method and message id of the request that ends the run.
const LAST_METHOD: u64 = 5;
const LAST_MESSAGE: u64 = 1 << 40;

fn config() -> AdvancedConfig {
    AdvancedConfig {
        timeout: Duration::from_secs(10),
        budget: ReceiveBudget {
            link_bytes: BUDGET,
            connection_bytes: BUDGET / 4,
            ..ReceiveBudget::default()
        },
        ..AdvancedConfig::default()
    }
}

/// An id from the corners and the middle of the id space.
fn id(rng: &mut Rng) -> u64 {
    match rng.next() % 6 {
        0 => 0,
        1 => u64::MAX,
        2 => 1,
        3 => 1 << 63,
        4 => rng.next() % 4,
        _ => rng.next(),
    }
}

/// A valid message of up to four chunks on connection 0, as (packet,
/// payload) pairs in order.
fn valid_chunks(rng: &mut Rng) -> Vec<(Packet, Vec<u8>)> {
    let total = rng.next() % (4 * BUFFER);
    let message = id(rng);
    let kind = [0, 8, 16][(rng.next() % 3) as usize];
    let mut chunks = Vec::new();
    let mut offset = 0;
    loop {
        let size = (total - offset).min(BUFFER);
        let mut flags = kind;
        if offset == 0 {
            flags |= 1;
        }
        if offset + size == total {
            flags |= 2;
        }
        let words = [0, message, total, offset, size, flags, rng.next() % 3];
        chunks.push((Packet::new(0x04, words), rng.bytes(size as usize)));
        offset += size;
        if offset == total {
            return chunks;
        }
    }
}

/// One burst of hostile packets.
fn burst(rng: &mut Rng) -> Vec<(Packet, Vec<u8>)> {
    match rng.next() % 5 {
        // Random ConnCopy words.
        0 => {
            let words = [
                id(rng),
                id(rng),
                rng.next() % 512,
                rng.next() % 512,
                rng.next() % 80,
                rng.next() % 64,
                rng.next(),
            ];
            let len = (rng.next() % 65) as usize;
            let payload = rng.bytes(len);
            vec![(Packet::new(0x04, words), payload)]
        }
        // A valid message, replayed, reordered or with a chunk duplicated.
        1 => {
            let mut chunks = valid_chunks(rng);
            match rng.next() % 3 {
                0 => chunks.extend(chunks.clone()),
                1 => chunks.reverse(),
                _ => {
                    let at = (rng.next() as usize) % chunks.len();
                    chunks.insert(at, chunks[at].clone());
                }
            }
            chunks
        }
        // A flood of one control opcode.
        2 => {
            let opcode = [0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x42][(rng.next() % 7) as usize];
            (0..1 + rng.next() % 40)
                .map(|_| {
                    let words = [id(rng), rng.next() % 9, rng.next() % 4, 0, 0, 0, 0];
                    (Packet::new(opcode, words), Vec::new())
                })
                .collect()
        }
        // Abort chunks for messages that may or may not be in progress.
        3 => vec![(Packet::new(0x04, [0, id(rng), 0, 0, 0, 4, 0]), Vec::new())],
        // Begin-only chunks that never finish.
        _ => {
            let words = [0, id(rng), 64 << 20, 0, BUFFER, 1, 0];
            vec![(Packet::new(0x04, words), rng.bytes(BUFFER as usize))]
        }
    }
}

/// The hostile peer: negotiates, sends `PACKETS` hostile packets (draining
/// its ring only now and then), then one valid request, and waits for its
/// response.
#[test]
fn hostile_peer() {
    let Some(env) = child_env("hostile_peer") else {
        return;
    };
    let link = StandardLink::open(&env.var("HQQ_SEGMENT"), &link_config(SLOTS, BUFFER)).unwrap();
    link.set_write_timeout(Some(Duration::from_secs(20)));
    link.send_packet(Packet::new(0x05, [0x100, 3, 7, 0, 0, 0, 0]), &[])
        .unwrap();
    let ack = link.recv_packet_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(ack.packet().opcode(), OpCode::ProtoAck.code());
    drop(ack);
    let mut rng = Rng(0x686f_7374_696c_6521);
    let mut sent = 0;
    while sent < PACKETS {
        for (packet, payload) in burst(&mut rng) {
            link.send_packet(packet, &payload).unwrap();
            sent += 1;
        }
        if rng.next() % 4 == 0 {
            while link.try_recv_packet().is_ok() {}
        }
    }
    let request = Packet::new(0x04, [0, LAST_MESSAGE, 4, 0, 4, 1 | 2 | 8, LAST_METHOD]);
    link.send_packet(request, b"ping").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        assert!(Instant::now() < deadline, "no response to the last request");
        let Ok(received) = link.recv_packet_timeout(Duration::from_millis(100)) else {
            continue;
        };
        let packet = received.packet();
        let response = packet.opcode() == 0x04
            && packet.operand(1) == LAST_MESSAGE
            && packet.operand(5) & 16 != 0;
        if response {
            break received.payload().get(..4).map(|p| p.to_vec());
        }
    };
    assert_eq!(answer.as_deref(), Some(&b"pong"[..]));
    env.report("sent", sent);
}

#[test]
fn a_hostile_peer_in_another_process_gets_typed_refusals_only() {
    let name = unique_segment_name("adv-hostile");
    let link = AdvancedLink::create(&name, &link_config(SLOTS, BUFFER), config()).unwrap();
    let child = Child::spawn("hostile_peer", &[("HQQ_SEGMENT", &name)]);
    link.wait_for_negotiation().unwrap();
    link.listen().unwrap();
    let started = Instant::now();
    let mut longest = Duration::ZERO;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not end"
        );
        let _ = link.try_accept();
        let call = Instant::now();
        let outcome = link.recv_request_until(call + Duration::from_millis(20));
        longest = longest.max(call.elapsed());
        assert!(link.stats().held_bytes <= BUDGET);
        match outcome {
            Ok(request) => {
                let last = request.method == LAST_METHOD && request.message == LAST_MESSAGE;
                let answer: &[u8] = if last { b"pong" } else { b"?" };
                let _ = link.respond_until(
                    &request,
                    0,
                    false,
                    answer,
                    Instant::now() + Duration::from_millis(100),
                );
                if last {
                    break;
                }
            }
            Err(RecvRequestError::Transport(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let output = child.wait(Duration::from_secs(60));
    output.assert_success();
    assert!(output.report::<u64>("sent") >= PACKETS);
    // Deadlines of 20 ms; a call that did work for others past its own
    // deadline (replies that block, unbounded routing) stands out.
    assert!(
        longest < Duration::from_secs(2),
        "a call waited {longest:?}"
    );
    let stats = link.stats();
    assert!(stats.errors > 0, "{stats:?}");
}
