//! `hqq bench`: the cross-process suite next to its baselines, with a
//! progress indicator on stderr.

use std::io::{IsTerminal, Write};

use clap::Args;

use crate::bench::{run_suite, Step, SuiteConfig, SuiteRunError};

/// Arguments of `hqq bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fewer iterations: every row in a few seconds, rough figures.
    #[arg(long)]
    pub quick: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Why `hqq bench` failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchCommandError {
    /// A measurement failed.
    #[error("benchmark failed")]
    Suite(#[from] SuiteRunError),
    /// The report could not be written as JSON.
    #[error("serializing the report")]
    Json(#[from] serde_json::Error),
}

/// Runs the suite and prints its report on stdout.
pub fn run(args: &BenchArgs) -> Result<(), BenchCommandError> {
    let config = if args.quick {
        SuiteConfig::quick()
    } else {
        SuiteConfig::full()
    };
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
