//! `hqq`: the command-line tool of HQQ.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hqq_cli::bench::{run_peer_from_env, run_suite, Step, SuiteConfig};

/// Shared-memory IPC toolkit for the HQQ protocol.
#[derive(Debug, Parser)]
#[command(name = "hqq", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the cross-process benchmark suite (RTT, stream, idle CPU) next to
    /// its socketpair, pipe and cache-line baselines, and print the figures.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Fewer iterations: every row in a few seconds, rough figures.
    #[arg(long)]
    quick: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    // A re-executed benchmark peer runs its role and nothing else.
    if let Some(code) = run_peer_from_env() {
        return code;
    }
    match Cli::parse().command {
        Command::Bench(args) => bench(&args),
    }
}

fn bench(args: &BenchArgs) -> ExitCode {
    let config = if args.quick {
        SuiteConfig::quick()
    } else {
        SuiteConfig::full()
    };
    let mut progress = Progress::new();
    let result = run_suite(&config, |step| progress.show(step));
    progress.finish();
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("error: serializing the report: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{report}");
    }
    ExitCode::SUCCESS
}

/// The progress indicator on stderr: one line rewritten in place on a
/// terminal, one line per step otherwise.
struct Progress {
    terminal: bool,
    width: usize,
}

impl Progress {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            width: 0,
        }
    }

    fn show(&mut self, step: &Step) {
        let text = format!("[{}/{}] {}", step.index + 1, step.total, step.label);
        let mut stderr = std::io::stderr().lock();
        if self.terminal {
            let pad = self.width.saturating_sub(text.len());
            let _ = write!(stderr, "\r{text}{:pad$}", "");
            self.width = text.len();
        } else {
            let _ = writeln!(stderr, "{text}");
        }
        let _ = stderr.flush();
    }

    fn finish(&mut self) {
        if self.terminal && self.width > 0 {
            let _ = write!(std::io::stderr(), "\r{:width$}\r", "", width = self.width);
        }
    }
}
