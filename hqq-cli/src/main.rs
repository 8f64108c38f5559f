//! `hqq`: the command-line tool of HQQ.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hqq_cli::bench::run_peer_from_env;
use hqq_cli::cmd::{self, error_line};

/// Shared-memory IPC toolkit for the HQQ protocol.
#[derive(Debug, Parser)]
#[command(name = "hqq", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Echo every received message back (the peer of `hqq ping`).
    Echo(cmd::echo::EchoArgs),
    /// Round trips against `hqq echo`; prints median, p99 and max RTT.
    Ping(cmd::ping::PingArgs),
    /// Send stdin: one message per line, or per `--chunk B` bytes.
    Send(cmd::send::SendArgs),
    /// Write received messages to stdout: one per line, or `--raw` bytes.
    Recv(cmd::recv::RecvArgs),
    /// Show a segment: superblock, rings, extension block, processes.
    Inspect(cmd::inspect::InspectArgs),
    /// Show the statistics each process on a segment publishes: rates per
    /// direction and process, latency percentiles (`--watch` to follow).
    Stat(cmd::stat::StatArgs),
    /// List the HQQ segments in /dev/shm.
    List(cmd::list::ListArgs),
    /// Remove segments whose registered processes are all dead and that
    /// nothing else uses (`--force`: whatever their state).
    Clean(cmd::clean::CleanArgs),
    /// Run the cross-process benchmark suite (RTT, stream, idle CPU) next to
    /// its socketpair, pipe and cache-line baselines, and print the figures.
    Bench(cmd::bench::BenchArgs),
}

fn main() -> ExitCode {
    // A re-executed benchmark peer runs its role and nothing else.
    if let Some(code) = run_peer_from_env() {
        return code;
    }
    let cli = Cli::parse();
    let (name, result) = match &cli.command {
        Command::Echo(args) => ("echo", cmd::echo::run(args).map_err(boxed)),
        Command::Ping(args) => ("ping", cmd::ping::run(args).map_err(boxed)),
        Command::Send(args) => ("send", cmd::send::run(args).map_err(boxed)),
        Command::Recv(args) => ("recv", cmd::recv::run(args).map_err(boxed)),
        Command::Inspect(args) => ("inspect", cmd::inspect::run(args).map_err(boxed)),
        Command::Stat(args) => ("stat", cmd::stat::run(args).map_err(boxed)),
        Command::List(args) => ("list", cmd::list::run(args).map_err(boxed)),
        Command::Clean(args) => ("clean", cmd::clean::run(args).map_err(boxed)),
        Command::Bench(args) => ("bench", cmd::bench::run(args).map_err(boxed)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hqq {name}: {}", error_line(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn boxed(error: impl std::error::Error + 'static) -> Box<dyn std::error::Error> {
    Box::new(error)
}
