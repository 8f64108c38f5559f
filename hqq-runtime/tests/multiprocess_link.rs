//! StandardLink between processes: a child process as the peer exchanging
//! 10^6 messages of random sizes in both directions at once, and a worker
//! pool of one producer and three consumer processes. Every child is
//! bounded by the harness watchdog.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hqq_runtime::link::{LinkConfig, LinkRecvError, StandardLink};
use hqq_runtime::Role;
use support::{child_env, unique_segment_name, Child};

const WATCHDOG: Duration = Duration::from_secs(240);
/// Longest a single receive may block before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

const EXCHANGE_MESSAGES: u64 = 1_000_000;
const EXCHANGE_SLOTS: u64 = 256;
const EXCHANGE_BUFFER: u64 = 128;

fn config(slots: u64, buffer: u64) -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(slots)
        .buffer_size(buffer)
        .ready_timeout(Duration::from_secs(10));
    config
}

/// splitmix64: the message generator and the checksum mixer.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Message `i` of the producer seeded `seed`: a random size in
/// `1..=buffer` and pseudo-random bytes, written into `out`; returns the size.
fn message(seed: u64, i: u64, buffer: usize, out: &mut [u8]) -> usize {
    let h = mix(seed ^ mix(i));
    let len = 1 + (h % buffer as u64) as usize;
    for (k, chunk) in out[..len].chunks_mut(8).enumerate() {
        let word = mix(h ^ k as u64).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    len
}

/// A running checksum over messages (order-sensitive).
fn checksum(sum: u64, bytes: &[u8]) -> u64 {
    bytes
        .chunks(8)
        .fold(mix(sum ^ bytes.len() as u64), |acc, chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            mix(acc ^ u64::from_le_bytes(word))
        })
}

/// Sends `count` messages of producer `seed`; returns their checksum.
fn produce(link: &StandardLink, seed: u64, count: u64) -> u64 {
    let buffer = link.buffer_size();
    let mut sum = 0;
    for i in 0..count {
        link.send_with(|buf| {
            let len = message(seed, i, buffer, buf);
            sum = checksum(sum, &buf[..len]);
            len
        })
        .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    sum
}

/// Receives `count` messages of producer `seed`, checking each against the
/// expected one (nothing lost, duplicated, reordered or garbled); returns
/// their checksum.
fn consume(link: &StandardLink, seed: u64, count: u64) -> u64 {
    let buffer = link.buffer_size();
    let mut expected = vec![0u8; buffer];
    let mut got = vec![0u8; buffer];
    let mut sum = 0;
    for i in 0..count {
        let len = message(seed, i, buffer, &mut expected);
        let n = link
            .recv_timeout(&mut got, PATIENCE)
            .unwrap_or_else(|e| panic!("recv {i}: {e}"));
        assert_eq!(
            got[..n],
            expected[..len],
            "message {i} of producer {seed:#x}"
        );
        sum = checksum(sum, &got[..n]);
    }
    sum
}

/// Both directions at once: a sender thread and a receiving main thread.
fn exchange(link: &StandardLink, my_seed: u64, peer_seed: u64, count: u64) -> (u64, u64) {
    std::thread::scope(|s| {
        let sender = s.spawn(|| produce(link, my_seed, count));
        let received = consume(link, peer_seed, count);
        (sender.join().expect("sender thread"), received)
    })
}

const PARENT_SEED: u64 = 0x1111_2222_3333_4444;
const CHILD_SEED: u64 = 0x5555_6666_7777_8888;

/// Child half of `million_random_messages_both_ways_with_a_child`.
#[test]
fn exchange_child() {
    let Some(env) = child_env("exchange_child") else {
        return;
    };
    let count: u64 = env.var("HQQ_COUNT").parse().unwrap();
    let link = StandardLink::open(
        &env.var("HQQ_SEGMENT"),
        &config(EXCHANGE_SLOTS, EXCHANGE_BUFFER),
    )
    .unwrap();
    assert_eq!(link.role(), Role::Secondary);
    let (sent, received) = exchange(&link, CHILD_SEED, PARENT_SEED, count);
    env.report("sent_checksum", sent);
    env.report("received_checksum", received);
    let stats = link.stats();
    env.report("rx_packets", stats.rx.packets);
    env.report("rx_errors", stats.rx.errors);
}

#[test]
fn million_random_messages_both_ways_with_a_child() {
    let name = unique_segment_name("exchange");
    let link = StandardLink::create(&name, &config(EXCHANGE_SLOTS, EXCHANGE_BUFFER)).unwrap();
    let count = EXCHANGE_MESSAGES.to_string();
    let child = Child::spawn(
        "exchange_child",
        &[("HQQ_SEGMENT", &name), ("HQQ_COUNT", &count)],
    );
    let start = Instant::now();
    let (sent, received) = exchange(&link, PARENT_SEED, CHILD_SEED, EXCHANGE_MESSAGES);
    let output = child.wait(WATCHDOG);
    output.assert_success();
    let elapsed = start.elapsed();
    assert_eq!(output.report::<u64>("received_checksum"), sent);
    assert_eq!(output.report::<u64>("sent_checksum"), received);
    assert_eq!(output.report::<u64>("rx_packets"), EXCHANGE_MESSAGES);
    assert_eq!(output.report::<u64>("rx_errors"), 0);
    let stats = link.stats();
    assert_eq!(
        (stats.tx.packets, stats.rx.packets),
        (EXCHANGE_MESSAGES, EXCHANGE_MESSAGES)
    );
    println!(
        "exchanged {EXCHANGE_MESSAGES} messages each way in {elapsed:.2?} (tx waits {}, parks {}; rx waits {}, parks {})",
        stats.tx.waits, stats.tx.parks, stats.rx.waits, stats.rx.parks
    );
}

const POOL_MESSAGES: u64 = 100_000;
const POOL_CONSUMERS: u64 = 3;
const STOP: u64 = u64::MAX;

/// Child half of `worker_pool_consumes_every_message_exactly_once`: takes
/// ids until it takes a stop message, acknowledging each id on the return
/// ring with its consumer number in the top byte.
#[test]
fn pool_consumer() {
    let Some(env) = child_env("pool_consumer") else {
        return;
    };
    let me: u64 = env.var("HQQ_CONSUMER").parse().unwrap();
    let link = StandardLink::open(&env.var("HQQ_SEGMENT"), &config(64, 64)).unwrap();
    assert_eq!(link.role(), Role::Secondary);
    let mut buf = [0u8; 64];
    let mut taken = 0u64;
    loop {
        let n = link
            .recv_timeout(&mut buf, PATIENCE)
            .unwrap_or_else(|e| panic!("consumer {me}: {e}"));
        assert!(n >= 8, "short message");
        let id = u64::from_le_bytes(buf[..8].try_into().unwrap());
        if id == STOP {
            break;
        }
        taken += 1;
        link.send_timeout(&(me << 56 | id).to_le_bytes(), PATIENCE)
            .unwrap();
    }
    env.report("taken", taken);
}

#[test]
fn worker_pool_consumes_every_message_exactly_once() {
    let name = unique_segment_name("pool");
    let link = StandardLink::create(&name, &config(64, 64)).unwrap();
    let children: Vec<Child> = (0..POOL_CONSUMERS)
        .map(|c| {
            Child::spawn(
                "pool_consumer",
                &[("HQQ_SEGMENT", &name), ("HQQ_CONSUMER", &c.to_string())],
            )
        })
        .collect();
    let (seen, per_consumer) = std::thread::scope(|s| {
        let acks = s.spawn(|| {
            let mut seen = vec![0u8; POOL_MESSAGES as usize];
            let mut per_consumer: HashMap<u64, u64> = HashMap::new();
            let mut buf = [0u8; 64];
            for _ in 0..POOL_MESSAGES {
                let n = link.recv_timeout(&mut buf, PATIENCE).expect("ack");
                assert_eq!(n, 8);
                let ack = u64::from_le_bytes(buf[..8].try_into().unwrap());
                let (consumer, id) = (ack >> 56, ack & ((1 << 56) - 1));
                assert!(
                    consumer < POOL_CONSUMERS && id < POOL_MESSAGES,
                    "ack {ack:#x}"
                );
                seen[id as usize] += 1;
                *per_consumer.entry(consumer).or_default() += 1;
            }
            (seen, per_consumer)
        });
        for id in 0..POOL_MESSAGES {
            // Ids with a little random padding, so sizes vary.
            let pad = (mix(id) % 57) as usize;
            let mut msg = [0u8; 64];
            msg[..8].copy_from_slice(&id.to_le_bytes());
            link.send_timeout(&msg[..8 + pad], PATIENCE).unwrap();
        }
        for _ in 0..POOL_CONSUMERS {
            link.send_timeout(&STOP.to_le_bytes(), PATIENCE).unwrap();
        }
        acks.join().expect("ack thread")
    });
    let mut taken_total = 0;
    for child in children {
        let output = child.wait(WATCHDOG);
        output.assert_success();
        taken_total += output.report::<u64>("taken");
    }
    let missing = seen.iter().filter(|&&c| c == 0).count();
    let duplicated = seen.iter().filter(|&&c| c > 1).count();
    assert_eq!((missing, duplicated), (0, 0), "ids missing / duplicated");
    assert_eq!(taken_total, POOL_MESSAGES);
    assert_eq!(per_consumer.values().sum::<u64>(), POOL_MESSAGES);
    println!("per-consumer counts: {per_consumer:?}");
    assert!(matches!(
        link.try_recv(&mut [0u8; 8]),
        Err(LinkRecvError::WouldBlock)
    ));
}
