//! Async RPC between two processes: an async server and an async client on
//! tokio, with the `AsyncServer` trait and `AsyncClient` generated from
//! `examples/rpc.yaml` by `include_spec!` (they exist with the `tokio`
//! feature).
//!
//! The program creates the segment, starts itself again as the server
//! process (the `HQQ_RPC_ROLE` environment variable says which role a
//! process plays), and both run on tokio: the server on a current-thread
//! runtime with `rpc::serve_async`, the client on a multi-thread runtime,
//! where many tasks call at once over one link (each woken by its own
//! response). Closing the connection ends the server's serve loop.
//!
//! Run with `cargo run --release --features tokio --example async_rpc`.

use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hqq::runtime::advanced::{CallContext, DialError, DialFailure, RpcCallError, Status};
use hqq::runtime::async_link::AsyncAdvancedLink;
use hqq::runtime::protocol::ErrorCode;
use hqq::{AdvancedConfig, AdvancedLink, LinkConfig};

mod calculator {
    hqq::include_spec!("examples/rpc.yaml");
}
use calculator::rpc;

const ROLE: &str = "HQQ_RPC_ROLE";
const SEGMENT: &str = "HQQ_RPC_SEGMENT";
const INVALID_ARGUMENT: u64 = 3;
/// Tasks calling at once, and calls per task.
const TASKS: u64 = 32;
const CALLS_PER_TASK: u64 = 200;

type Error = Box<dyn std::error::Error + Send + Sync>;

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

impl rpc::AsyncServer for Calculator {
    async fn echo(&mut self, _cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        Ok(request.to_vec())
    }

    async fn sum(&mut self, _cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, Status> {
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

    async fn stats(&mut self, _cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        self.answered += 1;
        Ok(format!("{} requests answered", self.answered).into_bytes())
    }

    async fn stop(&mut self, _cx: &CallContext, _request: &[u8]) -> Result<Vec<u8>, Status> {
        Ok(b"stopping".to_vec())
    }
}

async fn server(segment: &str) -> Result<(), Error> {
    let link = AdvancedLink::open(segment, &link_config(), AdvancedConfig::default())?;
    let link = AsyncAdvancedLink::new(link);
    link.accept_negotiation().await?;
    link.get_ref().listen()?;
    let connection = link.accept().await?;
    let mut calculator = Calculator::default();
    let end = rpc::serve_async(&link, connection, &mut calculator).await?;
    println!(
        "[server {}] {end:?} after {} requests",
        std::process::id(),
        calculator.answered
    );
    Ok(())
}

fn client() -> Result<(), Error> {
    let segment = format!("hqq-async-rpc-example-{}", std::process::id());
    let link = AdvancedLink::create(&segment, &link_config(), AdvancedConfig::default())?;
    let link = Arc::new(AsyncAdvancedLink::new(link));
    let mut child = Command::new(std::env::current_exe()?)
        .env(ROLE, "server")
        .env(SEGMENT, &segment)
        .spawn()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;
    let outcome = runtime.block_on(calls(Arc::clone(&link)));
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

async fn dial(link: &AsyncAdvancedLink) -> Result<u64, Error> {
    // The server listens once it negotiated; until then a dial is refused.
    loop {
        match link.dial().await {
            Ok(connection) => return Ok(connection),
            Err(DialError::Refused(DialFailure::Refused(ErrorCode::ConnNotFound))) => {
                tokio::task::yield_now().await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn calls(link: Arc<AsyncAdvancedLink>) -> Result<(), Error> {
    let negotiated = link.negotiate(AdvancedConfig::default().offer).await?;
    println!(
        "negotiated {} features {:?}",
        negotiated.version, negotiated.features
    );
    let connection = dial(&link).await?;
    let client = rpc::AsyncClient::on_connection(&link, connection);
    let hello = client.echo(b"hello over shared memory").await?;
    println!("echo: {:?}", String::from_utf8_lossy(&hello));
    match client.sum(b"seven bytes").await {
        Err(RpcCallError::Status(status)) => println!("sum of 11 bytes: error {status}"),
        other => return Err(format!("expected an error status, got {other:?}").into()),
    }

    // Many tasks call at once on the one link.
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let link = Arc::clone(&link);
            tokio::spawn(async move {
                let client = rpc::AsyncClient::on_connection(&link, connection);
                for call in 0..CALLS_PER_TASK {
                    let numbers = [task, call, 1];
                    let request: Vec<u8> = numbers.iter().flat_map(|n| n.to_le_bytes()).collect();
                    let sum = client.sum(&request).await?;
                    if sum != (task + call + 1).to_le_bytes() {
                        return Err::<(), Error>("a sum came back wrong".into());
                    }
                }
                Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let calls = TASKS * CALLS_PER_TASK;
    let elapsed = started.elapsed();
    println!(
        "{calls} calls from {TASKS} concurrent tasks, all answered correctly in {elapsed:?} ({:.0} calls/s)",
        calls as f64 / elapsed.as_secs_f64()
    );
    println!(
        "stats: {}",
        String::from_utf8_lossy(&client.stats(b"").await?)
    );
    println!(
        "stop: {}",
        String::from_utf8_lossy(&client.stop(b"").await?)
    );
    link.close(connection).await?;
    Ok(())
}

fn main() -> ExitCode {
    let outcome = match std::env::var(ROLE).as_deref() {
        Ok("server") => std::env::var(SEGMENT)
            .map_err(Into::into)
            .and_then(|segment| {
                tokio::runtime::Builder::new_current_thread()
                    .build()?
                    .block_on(server(&segment))
            }),
        _ => client(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("async_rpc example failed: {e}");
            ExitCode::FAILURE
        }
    }
}
