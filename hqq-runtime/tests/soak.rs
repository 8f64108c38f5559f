//! Soak: 2 producer processes (secondaries of one link, a worker pool)
//! push checksummed messages of random sizes for `HQQ_SOAK_SECS` seconds
//! (default 10) while 2 consumer threads of the primary receive them. Per
//! producer: sent, received, lost, duplicated and reordered counts; all but
//! the first two must be zero, and received must equal sent.
//!
//! The consumers are threads of the primary process, not processes: a link
//! has one primary, and only the primary receives what secondaries send.
//!
//! Run longer with `HQQ_SOAK_SECS=60 cargo test -p hqq-runtime --test soak -- --nocapture`.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hqq_runtime::link::{LinkConfig, LinkRecvError, StandardLink};
use support::{child_env, unique_segment_name, Child};

const BUFFER: u64 = 512;

fn config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(64)
        .buffer_size(BUFFER)
        .ready_timeout(Duration::from_secs(5));
    config
}

fn soak_secs() -> u64 {
    std::env::var("HQQ_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Message: producer id, seq, random filler, FNV-1a of all before it.
fn message(producer: u64, seq: u64, rng: &mut u64) -> Vec<u8> {
    *rng = rng
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let len = 24 + (*rng >> 33) as usize % (BUFFER as usize - 23);
    let mut bytes = producer.to_le_bytes().to_vec();
    bytes.extend(seq.to_le_bytes());
    bytes.extend((0..len - 24).map(|i| (*rng >> (i % 56)) as u8));
    bytes.extend(fnv(&bytes).to_le_bytes());
    bytes
}

/// Producer process: sends until the time is up, then reports its count
/// and sends an end marker (a 16-byte message: producer id, count).
#[test]
fn soak_producer() {
    let Some(env) = child_env("soak_producer") else {
        return;
    };
    let producer: u64 = env.var("HQQ_PRODUCER").parse().expect("producer id");
    let secs: u64 = env.var("HQQ_SECS").parse().expect("seconds");
    let link = StandardLink::open(&env.var("HQQ_SEGMENT"), &config()).expect("open");
    let end = Instant::now() + Duration::from_secs(secs);
    let mut rng = producer + 1;
    let mut sent = 0u64;
    while Instant::now() < end {
        link.send_timeout(&message(producer, sent, &mut rng), Duration::from_secs(10))
            .expect("send");
        sent += 1;
    }
    let mut marker = producer.to_le_bytes().to_vec();
    marker.extend(sent.to_le_bytes());
    link.send_timeout(&marker, Duration::from_secs(10))
        .expect("end marker");
    env.report("sent", sent);
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    received: u64,
    duplicated: u64,
    reordered: u64,
    damaged: u64,
}

#[test]
fn two_producers_two_consumers_lose_nothing() {
    let secs = soak_secs();
    let name = unique_segment_name("soak");
    let link = StandardLink::create(&name, &config()).expect("create");
    let children: Vec<Child> = (0..2)
        .map(|p| {
            let p = p.to_string();
            let secs = secs.to_string();
            Child::spawn(
                "soak_producer",
                &[
                    ("HQQ_SEGMENT", name.as_str()),
                    ("HQQ_PRODUCER", p.as_str()),
                    ("HQQ_SECS", secs.as_str()),
                ],
            )
        })
        .collect();

    // Per producer: seen bitmap (by seq), counts, end marker.
    let state = Mutex::new((
        [Vec::<bool>::new(), Vec::new()],
        [Counts::default(); 2],
        [None::<u64>; 2],
    ));
    let stop = AtomicBool::new(false);
    let watchdog = Instant::now() + Duration::from_secs(secs + 60);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut last = [None::<u64>; 2];
                let mut buf = vec![0u8; BUFFER as usize];
                while !stop.load(Ordering::Relaxed) && Instant::now() < watchdog {
                    let n = match link.recv_timeout(&mut buf, Duration::from_millis(50)) {
                        Ok(n) => n,
                        Err(LinkRecvError::TimedOut) => continue,
                        Err(e) => panic!("receive failed: {e:?}"),
                    };
                    let msg = &buf[..n];
                    let word = |i: usize| {
                        u64::from_le_bytes(msg[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
                    };
                    let mut s = state.lock().expect("no poisoned lock");
                    let producer = word(0) as usize;
                    assert!(producer < 2, "unknown producer {producer}");
                    if n == 16 {
                        s.2[producer] = Some(word(1));
                        if s.2.iter().all(Option::is_some)
                            && (0..2).all(|p| Some(s.1[p].received) == s.2[p])
                        {
                            stop.store(true, Ordering::Relaxed);
                        }
                        continue;
                    }
                    let seq = word(1);
                    let counts = &mut s.1[producer];
                    let checksum = u64::from_le_bytes(msg[n - 8..].try_into().expect("8 bytes"));
                    if fnv(&msg[..n - 8]) != checksum {
                        counts.damaged += 1;
                    }
                    // Each consumer sees a producer's messages in order.
                    if last[producer].is_some_and(|l| seq <= l) {
                        s.1[producer].reordered += 1;
                    }
                    last[producer] = Some(seq);
                    let seen = &mut s.0[producer];
                    let i = seq as usize;
                    if seen.len() <= i {
                        seen.resize(i + 1, false);
                    }
                    if seen[i] {
                        s.1[producer].duplicated += 1;
                    } else {
                        seen[i] = true;
                        s.1[producer].received += 1;
                    }
                    if s.2.iter().all(Option::is_some)
                        && (0..2).all(|p| Some(s.1[p].received) == s.2[p])
                    {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let sent: Vec<u64> = children
        .into_iter()
        .map(|c| {
            let out = c.wait(Duration::from_secs(60));
            out.assert_success();
            out.report("sent")
        })
        .collect();
    let s = state.into_inner().expect("no poisoned lock");
    for (p, (&sent, c)) in sent.iter().zip(s.1).enumerate() {
        let lost = sent.saturating_sub(c.received);
        println!(
            "soak {secs}s producer {p}: sent {} received {} lost {lost} duplicated {} reordered {} damaged {}",
            sent, c.received, c.duplicated, c.reordered, c.damaged
        );
        assert!(sent > 0);
        assert_eq!(c.received, sent, "producer {p}: lost {lost}");
        assert_eq!(c.duplicated, 0);
        assert_eq!(c.reordered, 0);
        assert_eq!(c.damaged, 0);
    }
}
