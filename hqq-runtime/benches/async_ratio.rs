//! The async Standard link's round trip next to the blocking one's, taken
//! in alternating batches a fraction of a second apart (feature `tokio`):
//!
//! ```text
//! cargo bench -p hqq-runtime --features tokio --bench async_ratio [-- ROUNDS]
//! ```
//!
//! Each round times 20,000 blocking 64 B round trips, then 20,000 async
//! ones (a current-thread tokio runtime with every driver enabled), to a
//! blocking echo child on CPU 1, the measuring side on CPU 0, and the
//! cache-line floor between the two CPUs before and after; it prints the
//! median and the mean of each batch (the mean carries the tail). On a VM the
//! host moves the two vCPUs closer or farther apart every few seconds,
//! which moves every cross-process figure several-fold; `hqq bench` times
//! its rows one after another, tens of seconds apart, so their ratio can
//! come from two placements. Here both halves of a ratio come from one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hqq_runtime::async_link::AsyncStandardLink;
use hqq_runtime::link::{LinkConfig, StandardLink};

/// Round trips per batch.
const BATCH: usize = 20_000;

/// Round trips of the floor measurement.
const FLOOR_ROUND_TRIPS: u64 = 100_000;

/// Pins the calling thread to `cpu` (best effort: an error leaves it
/// unpinned, which only makes the figures noisier).
fn pin(cpu: usize) {
    // SAFETY: `set` is a plain bit set that CPU_ZERO/CPU_SET initialize,
    // and sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A cache line to bounce between the two CPUs.
#[repr(align(128))]
struct Line(AtomicU64);

/// Mean round trip of a cache line between CPU 0 (caller) and CPU 1, in ns.
fn floor() -> f64 {
    let line = Arc::new(Line(AtomicU64::new(0)));
    let peer = Arc::clone(&line);
    let echo = std::thread::spawn(move || {
        pin(1);
        for i in 0..FLOOR_ROUND_TRIPS {
            while peer.0.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            peer.0.store(2 * i + 2, Ordering::Release);
        }
    });
    let start = Instant::now();
    for i in 0..FLOOR_ROUND_TRIPS {
        line.0.store(2 * i + 1, Ordering::Release);
        while line.0.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let elapsed = start.elapsed();
    echo.join().expect("floor peer");
    elapsed.as_nanos() as f64 / FLOOR_ROUND_TRIPS as f64
}

fn config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(512)
        .buffer_size(64)
        .ready_timeout(Duration::from_secs(10));
    config
}

/// The child: echoes every message until a 1-byte one.
fn echo(name: &str) {
    pin(1);
    let link = StandardLink::open(name, &config()).expect("open the link");
    let mut buf = [0; 64];
    loop {
        let n = link.recv(&mut buf).expect("receive");
        if n == 1 {
            return;
        }
        link.send(&buf[..n]).expect("send");
    }
}

/// The median and the mean of `laps`, in ns (the mean is what `hqq
/// bench` reports per lap, so it carries the tail: a round trip whose
/// waiter had to register and be woken).
fn median_and_mean_ns(mut laps: Vec<Duration>) -> (f64, f64) {
    laps.sort_unstable();
    let total: Duration = laps.iter().sum();
    (
        laps[laps.len() / 2].as_nanos() as f64,
        total.as_nanos() as f64 / laps.len() as f64,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = args.as_slice() {
        if role == "echo" {
            return echo(name);
        }
    }
    let rounds = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    let name = format!("hqq-async-ratio-{}", std::process::id());
    let link = StandardLink::create(&name, &config()).expect("create the link");
    let exe = std::env::current_exe().expect("own path");
    let mut child = std::process::Command::new(exe)
        .args(["echo", &name])
        .spawn()
        .expect("spawn the echo child");
    pin(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let link = AsyncStandardLink::new(link);
    let (ping, mut pong) = ([7; 64], [0; 64]);
    println!(
        "floor before -> after | blocking RTT median, mean | async RTT median, mean | async / blocking: median, mean"
    );
    for _ in 0..rounds {
        let before = floor();
        let blocking: Vec<Duration> = (0..BATCH)
            .map(|_| {
                let start = Instant::now();
                link.get_ref().send(&ping).expect("send");
                link.get_ref().recv(&mut pong).expect("receive");
                start.elapsed()
            })
            .collect();
        let asynchronous = runtime.block_on(async {
            let mut laps = Vec::with_capacity(BATCH);
            for _ in 0..BATCH {
                let start = Instant::now();
                link.send(&ping).await.expect("send");
                link.recv(&mut pong).await.expect("receive");
                laps.push(start.elapsed());
            }
            laps
        });
        let after = floor();
        let (blocking, blocking_mean) = median_and_mean_ns(blocking);
        let (asynchronous, asynchronous_mean) = median_and_mean_ns(asynchronous);
        println!(
            "{before:4.0} -> {after:4.0} ns | {blocking:5.0}, {blocking_mean:5.0} ns | \
             {asynchronous:5.0}, {asynchronous_mean:5.0} ns | {:.2}, {:.2}",
            asynchronous / blocking,
            asynchronous_mean / blocking_mean
        );
    }
    link.get_ref().send(&[0]).expect("stop the child");
    child.wait().expect("child exit");
}
