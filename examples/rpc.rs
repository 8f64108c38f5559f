//! RPC between two processes over an Advanced link, with the server trait
//! and client generated from `examples/rpc.yaml` by `include_spec!`.
//!
//! The program creates the segment, starts itself again as the server
//! process (the `HQQ_RPC_ROLE` environment variable says which role a
//! process plays), negotiates, calls every method (including a request
//! larger than one buffer and one that gets an error status), measures the
//! round trip of small calls, and closes its connection, which ends the
//! server's `serve`.
//!
//! Run with `cargo run --release --example rpc`.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use hqq::runtime::advanced::{CallContext, DialError, DialFailure, RpcCallError, Status};
use hqq::runtime::protocol::ErrorCode;
use hqq::{AdvancedConfig, AdvancedLink, LinkConfig};

mod calculator {
    hqq::include_spec!("examples/rpc.yaml");
}
use calculator::rpc;

const ROLE: &str = "HQQ_RPC_ROLE";
const SEGMENT: &str = "HQQ_RPC_SEGMENT";
const INVALID_ARGUMENT: u64 = 3;
const ROUND_TRIPS: u32 = 20_000;

fn link_config() -> LinkConfig {
    let mut config = LinkConfig::new();
    config
        .slots(64)
        .buffer_size(4096)
        .ready_timeout(Duration::from_secs(5));
    config
}

/// The server's state: what `stats` reports.
#[derive(Default)]
struct Calculator {
    answered: u64,
}

impl rpc::Server for Calculator {
    fn echo(&mut self, _cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        Ok(request.to_vec())
    }

    fn sum(&mut self, _cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        if request.len() % 8 != 0 {
            return Err(Status::new(
                INVALID_ARGUMENT,
                format!("{} bytes is not a list of u64 values", request.len()),
            ));
        }
        let sum = request
            .chunks_exact(8)
            .map(|word| u64::from_le_bytes(word.try_into().unwrap_or_default()))
            .fold(0u64, u64::wrapping_add);
        Ok(sum.to_le_bytes().to_vec())
    }

    fn stats(&mut self, _cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        Ok(format!("{} requests answered", self.answered).into_bytes())
    }

    fn stop(&mut self, _cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        // The client closes its connection after this answer, which ends
        // `serve`.
        Ok(b"stopping".to_vec())
    }
}

fn server(segment: &str) -> Result<(), Box<dyn std::error::Error>> {
    let link = AdvancedLink::open(segment, &link_config(), AdvancedConfig::default())?;
    link.wait_for_negotiation()?;
    link.listen()?;
    let connection = link.accept()?;
    let mut calculator = Calculator::default();
    let end = rpc::serve(&link, connection, &mut calculator)?;
    println!(
        "[server {}] {end:?} after {} requests",
        std::process::id(),
        calculator.answered
    );
    Ok(())
}

fn client() -> Result<(), Box<dyn std::error::Error>> {
    let segment = format!("hqq-rpc-example-{}", std::process::id());
    let link = AdvancedLink::create(&segment, &link_config(), AdvancedConfig::default())?;
    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE, "server")
        .env(SEGMENT, &segment)
        .spawn()?;
    let outcome = calls(&link);
    let status = child.wait()?;
    drop(link);
    let left = std::path::Path::new("/dev/shm").join(&segment).exists();
    println!("server exited with {status}; segment left behind: {left}");
    outcome?;
    if !status.success() || left {
        return Err("the server failed or the segment was left behind".into());
    }
    Ok(())
}

fn calls(link: &AdvancedLink) -> Result<(), Box<dyn std::error::Error>> {
    let negotiated = link.negotiate(AdvancedConfig::default().offer)?;
    println!(
        "negotiated {} features {:?}",
        negotiated.version, negotiated.features
    );
    // The server listens once it negotiated; until then a dial is refused.
    let connection = loop {
        match link.dial() {
            Ok(connection) => break connection,
            Err(DialError::Refused(DialFailure::Refused(ErrorCode::ConnNotFound))) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let client = rpc::Client::on_connection(link, connection);

    let hello = client.echo(b"hello over shared memory")?;
    println!("echo: {:?}", String::from_utf8_lossy(&hello));

    let large: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let back = client.echo(&large)?;
    println!(
        "echo of {} bytes (buffers hold 4096): {}",
        large.len(),
        if back == large {
            "identical"
        } else {
            "DIFFERENT"
        }
    );
    if back != large {
        return Err("the large echo came back different".into());
    }

    let numbers: Vec<u8> = (1..=100u64).flat_map(u64::to_le_bytes).collect();
    let sum = client.sum(&numbers)?;
    println!(
        "sum of 1..=100: {}",
        u64::from_le_bytes(sum.as_slice().try_into()?)
    );

    match client.sum(b"seven bytes") {
        Err(RpcCallError::Status(status)) => println!("sum of 11 bytes: error {status}"),
        other => return Err(format!("expected an error status, got {other:?}").into()),
    }

    let request = [0u8; 64];
    let started = Instant::now();
    for _ in 0..ROUND_TRIPS {
        client.echo(&request)?;
    }
    let per_call = started.elapsed() / ROUND_TRIPS;
    println!("64-byte echo round trip: {per_call:?} per call ({ROUND_TRIPS} calls)");

    println!("stats: {}", String::from_utf8_lossy(&client.stats(b"")?));
    println!("stop: {}", String::from_utf8_lossy(&client.stop(b"")?));
    link.close(connection)?;
    Ok(())
}

fn main() -> ExitCode {
    let outcome = match std::env::var(ROLE).as_deref() {
        Ok("server") => std::env::var(SEGMENT)
            .map_err(Into::into)
            .and_then(|segment| server(&segment)),
        _ => client(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rpc example failed: {e}");
            ExitCode::FAILURE
        }
    }
}
