//! Quickstart: two processes talk over one HQQ segment.
//!
//! The program creates a Standard link on a named segment, starts a second
//! copy of itself as the peer (which opens the same segment), then:
//!
//! 1. sends a greeting and reads the peer's reply (both directions);
//! 2. measures round trips of 64-byte messages (the peer echoes them);
//! 3. streams 4 KiB messages one way and reads the peer's byte count.
//!
//! Run with `cargo run --release --example quickstart` (a few seconds in a
//! debug build too).

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use hqq::{LinkConfig, StandardLink};

/// Set in the peer's environment to the segment name: tells `main` to play
/// the peer.
const PEER_ENV: &str = "HQQ_QUICKSTART_PEER";
/// Round trips of [`RTT_SIZE`] bytes.
const ROUNDS: usize = 20_000;
/// Bytes per round-trip message.
const RTT_SIZE: usize = 64;
/// Messages of [`STREAM_SIZE`] bytes streamed one way.
const STREAM_MESSAGES: usize = 50_000;
/// Bytes per streamed message: a whole payload buffer.
const STREAM_SIZE: usize = 4096;
/// No receive waits longer than this: a vanished peer is an error, not a hang.
const PATIENCE: Duration = Duration::from_secs(10);

type Error = Box<dyn std::error::Error>;

fn config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config.slots(256).buffer_size(STREAM_SIZE as u64);
    config
}

fn main() -> ExitCode {
    let result = match std::env::var(PEER_ENV) {
        Ok(name) => peer(&name),
        Err(_) => parent(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("quickstart: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parent() -> Result<(), Error> {
    let name = format!("hqq-quickstart-{}", std::process::id());
    // The creator is the primary; the segment is removed when `link` drops.
    let link = StandardLink::create(&name, &config())?;
    link.set_read_timeout(Some(PATIENCE));
    link.set_write_timeout(Some(PATIENCE));
    let mut child = Command::new(std::env::current_exe()?)
        .env(PEER_ENV, &name)
        .spawn()?;
    println!(
        "segment /dev/shm/{name}: {} slots x {} B per direction; peer pid {}",
        link.slots(),
        link.buffer_size(),
        child.id()
    );

    // 1. Both directions.
    let greeting = b"hello from the parent";
    link.send(greeting)?;
    let mut buf = vec![0u8; link.buffer_size()];
    let n = link.recv(&mut buf)?;
    println!(
        "parent -> peer: {:?}\npeer -> parent: {:?}",
        String::from_utf8_lossy(greeting),
        String::from_utf8_lossy(&buf[..n])
    );

    // 2. Round trips.
    let message = [7u8; RTT_SIZE];
    let mut rtts = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        link.send(&message)?;
        link.recv(&mut buf)?;
        rtts.push(start.elapsed());
    }
    rtts.sort_unstable();
    let median = rtts[ROUNDS / 2];
    let p99 = rtts[ROUNDS * 99 / 100];
    println!(
        "round trips: {ROUNDS} x {RTT_SIZE} B, median {:.2} us, p99 {:.2} us",
        median.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );

    // 3. One-way stream, written in place in the slot's buffer (zero copy).
    let start = Instant::now();
    for i in 0..STREAM_MESSAGES {
        link.send_with(|buffer| {
            buffer[..8].copy_from_slice(&(i as u64).to_le_bytes());
            STREAM_SIZE
        })?;
    }
    let n = link.recv(&mut buf)?;
    let elapsed = start.elapsed().as_secs_f64();
    let bytes = (STREAM_MESSAGES * STREAM_SIZE) as f64;
    println!(
        "zero-copy stream: {STREAM_MESSAGES} x {STREAM_SIZE} B buffers handed over (8 B of each written and read) in {:.3} s = {:.2} GB/s of buffers, {:.0} k messages/s",
        elapsed,
        bytes / elapsed / 1e9,
        STREAM_MESSAGES as f64 / elapsed / 1e3
    );
    println!("peer says: {}", String::from_utf8_lossy(&buf[..n]));

    let status = child.wait()?;
    if !status.success() {
        return Err(format!("peer exited with {status}").into());
    }
    let stats = link.stats();
    println!(
        "this side: sent {} messages ({} bytes), received {}",
        stats.tx.packets, stats.tx.bytes, stats.rx.packets
    );
    Ok(())
}

fn peer(name: &str) -> Result<(), Error> {
    // Opening an existing segment: this process is a secondary.
    let link = StandardLink::open(name, &config())?;
    link.set_read_timeout(Some(PATIENCE));
    link.set_write_timeout(Some(PATIENCE));
    let mut buf = vec![0u8; link.buffer_size()];

    let n = link.recv(&mut buf)?;
    let reply = format!("hello from pid {}, I got {n} bytes", std::process::id());
    link.send(reply.as_bytes())?;

    for _ in 0..ROUNDS {
        let n = link.recv(&mut buf)?;
        link.send(&buf[..n])?;
    }

    let mut bytes = 0;
    let mut in_order = true;
    for i in 0..STREAM_MESSAGES {
        // Read in place: the closure sees the message in the slot's buffer.
        // Its bytes are in shared memory, which the peer could change while
        // we read: the view reads each word once; never trust the result.
        let (len, index) = link.recv_with(|message| (message.len(), message.read_u64_le(0)))?;
        bytes += len;
        in_order &= index == Some(i as u64);
    }
    let summary = format!(
        "received {STREAM_MESSAGES} messages, {bytes} bytes, {}",
        if in_order { "in order" } else { "OUT OF ORDER" }
    );
    link.send(summary.as_bytes())?;
    Ok(())
}
