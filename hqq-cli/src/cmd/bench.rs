//! `hqq bench`: the cross-process suite next to its baselines, with a
//! progress indicator on stderr.

use std::io::{IsTerminal, Write};

use clap::Args;

use crate::bench::alternate::round_line;
use crate::bench::{
    run_alternate, run_suite, AlternateConfig, AlternateError, Pinning, Step, SuiteConfig,
    SuiteRunError,
};

/// Arguments of `hqq bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fewer iterations: every row in a few seconds, rough figures.
    #[arg(long)]
    pub quick: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Pin the measuring side to CPU CLIENT and every peer to CPU PEER
    /// (like `taskset -c CLIENT` and `taskset -c PEER`), e.g. `--pin 0,1`.
    #[arg(long, value_name = "CLIENT,PEER", value_parser = parse_pinning)]
    pub pin: Option<Pinning>,
    /// Run only the steps whose label contains one of these texts (as the
    /// progress lines print them, e.g. `--only "RTT 64 B" --only stream`).
    #[arg(long, value_name = "TEXT", conflicts_with = "alternate")]
    pub only: Vec<String>,
    /// Instead of the suite, measure these rows (two or more, labelled as
    /// the progress lines print them, or by a text only one label has) in
    /// turn, in short batches, for `--rounds` rounds, with the cache-line
    /// floor before and after each round; prints each round and the ratios
    /// of the rows to the first one, e.g. `--alternate "RTT 64 B hqq
    /// StandardLink" --alternate "RTT 64 B socketpair"`.
    #[arg(long, value_name = "ROW")]
    pub alternate: Vec<String>,
    /// Rounds of `--alternate`.
    #[arg(long, default_value_t = 10, requires = "alternate")]
    pub rounds: usize,
}

fn parse_pinning(text: &str) -> Result<Pinning, String> {
    let (client, peer) = text
        .split_once(',')
        .ok_or_else(|| "expected CLIENT,PEER, e.g. 0,1".to_owned())?;
    let cpu = |s: &str| s.trim().parse::<usize>().map_err(|e| format!("{s:?}: {e}"));
    let pinning = Pinning {
        client: cpu(client)?,
        peer: cpu(peer)?,
    };
    if pinning.client == pinning.peer {
        return Err("the two sides need different CPUs".to_owned());
    }
    Ok(pinning)
}

/// Why `hqq bench` failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchCommandError {
    /// A measurement failed.
    #[error("benchmark failed")]
    Suite(#[from] SuiteRunError),
    /// An alternating measurement failed.
    #[error("alternating benchmark failed")]
    Alternate(#[from] AlternateError),
    /// The report could not be written as JSON.
    #[error("serializing the report")]
    Json(#[from] serde_json::Error),
}

/// Runs the suite (or `--alternate`) and prints its report on stdout.
pub fn run(args: &BenchArgs) -> Result<(), BenchCommandError> {
    if !args.alternate.is_empty() {
        return alternate(args);
    }
    let mut config = if args.quick {
        SuiteConfig::quick()
    } else {
        SuiteConfig::full()
    };
    config.pin = args.pin;
    config.only = args.only.clone();
    let mut progress = Progress::new();
    let result = run_suite(&config, |step| progress.show(step));
    progress.finish();
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

/// Runs `--alternate`, printing each round on stderr as it ends.
fn alternate(args: &BenchArgs) -> Result<(), BenchCommandError> {
    let config = AlternateConfig {
        rows: args.alternate.clone(),
        rounds: args.rounds,
        quick: args.quick,
        pin: args.pin,
    };
    let report = run_alternate(&config, |rows, index, round| {
        if index == 0 {
            for (number, row) in rows.iter().enumerate() {
                eprintln!("[{}] {}", number + 1, row.label);
            }
        }
        eprintln!("{}", round_line(index, round, rows));
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
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
