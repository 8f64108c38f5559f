//! `hqq bench --alternate`: a few rows of the suite measured in turn, in
//! short batches, round after round, so that each ratio between them comes
//! from one placement of the two CPUs.
//!
//! On a VM the host moves the two vCPUs closer together or farther apart
//! every few seconds to minutes, and every cross-process figure follows the
//! cache distance by up to 7x. A full run takes a minute, so two rows of it
//! may have been measured at different distances. Here every round measures
//! the process cache-line floor, each chosen row once, and the floor again;
//! a round whose floor moved more than 1.5x is shown but
//! left out of the summary.
//!
//! Each batch starts its transport and peer and stops them afterwards, as
//! the suite does for a row: several peers kept alive on the peer CPU
//! would share it, since the floor's echo and polling peers never park.

use std::fmt;

use serde::Serialize;

use super::error::BenchError;
use super::machine::Machine;
use super::pin::Pinning;
use super::report::{Metric, Report};
use super::suite::{Plan, SuiteConfig, FLOOR_DRIFT_LIMIT, FLOOR_PROCESSES};

/// What `hqq bench --alternate` measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlternateConfig {
    /// The rows, by the labels `hqq bench` prints as progress (for example
    /// `"RTT 64 B hqq StandardLink"`), or a text that only one label
    /// contains. The first is the one the others are divided by.
    pub rows: Vec<String>,
    /// How many rounds to run.
    pub rounds: usize,
    /// Shorter batches (`--quick`): rough figures, for tests.
    pub quick: bool,
    /// Where to pin the two sides.
    pub pin: Option<Pinning>,
}

/// Why `hqq bench --alternate` could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlternateError {
    /// Fewer than two rows were named: there is nothing to compare.
    #[error("--alternate needs at least two rows to compare, got {0}")]
    TooFewRows(usize),
    /// No row has this label, and no single label contains it.
    #[error("no row is labelled {text:?}{}", candidates_hint(candidates))]
    UnknownRow {
        /// The text given.
        text: String,
        /// The labels that contain it (more than one, or none).
        candidates: Vec<String>,
    },
    /// Idle-CPU rows block for seconds and have no ratio to take.
    #[error("{0:?} is an idle-CPU row, which cannot alternate")]
    IdleRow(String),
    /// Pinning this process to its CPU failed.
    #[error("pinning to CPU {cpu} failed")]
    Pin {
        /// The CPU asked for.
        cpu: usize,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// Starting or measuring a row failed.
    #[error("measuring {row} failed")]
    Measure {
        /// The row's label.
        row: String,
        /// Why it failed.
        #[source]
        source: BenchError,
    },
}

fn candidates_hint(candidates: &[String]) -> String {
    if candidates.is_empty() {
        "; the labels are the step names `hqq bench` prints, e.g. \"RTT 64 B hqq StandardLink\""
            .to_owned()
    } else {
        format!("; it is part of: {}", candidates.join(", "))
    }
}

/// Round trips per RTT batch: a few ms, so a round takes well under a
/// second and the placement rarely changes within it.
const RTT_LAPS: usize = 5000;
/// Round trips per RTT batch with `--quick`.
const QUICK_RTT_LAPS: usize = 200;
/// Round trips per parked batch (2 ms apart: 0.2 s).
const PARKED_LAPS: usize = 100;
/// Parked round trips per batch with `--quick`.
const QUICK_PARKED_LAPS: usize = 10;

/// The suite configuration of one batch.
fn batch_config(quick: bool) -> SuiteConfig {
    let mut config = if quick {
        SuiteConfig::quick()
    } else {
        SuiteConfig::full()
    };
    config.rtt_laps = if quick { QUICK_RTT_LAPS } else { RTT_LAPS };
    config.parked_laps = if quick {
        QUICK_PARKED_LAPS
    } else {
        PARKED_LAPS
    };
    config.stream_run_time = config
        .stream_run_time
        .min(std::time::Duration::from_millis(50));
    config.stream_runs = config.stream_runs.min(3);
    config
}

/// Finds the row `text` names: the label equal to it, or the only label
/// containing it.
fn find_row(text: &str) -> Result<Plan, AlternateError> {
    let plans = Plan::all();
    if let Some(plan) = plans.iter().find(|plan| plan.label() == text) {
        return Ok(*plan);
    }
    let matching: Vec<Plan> = plans
        .into_iter()
        .filter(|plan| plan.label().contains(text))
        .collect();
    match matching.as_slice() {
        [plan] => Ok(*plan),
        _ => Err(AlternateError::UnknownRow {
            text: text.to_owned(),
            candidates: matching.iter().map(|plan| plan.label()).collect(),
        }),
    }
}

/// The figure a batch of `plan` yields: the median for round trips,
/// messages per second for 64 B streams, GB/s for larger ones.
fn headline(plan: Plan) -> Metric {
    match plan {
        Plan::Rtt(..) | Plan::Parked(_) => Metric::RttMedianNs,
        Plan::Stream(_, size) if size <= 64 => Metric::MessagesPerSec,
        Plan::Stream(..) | Plan::Large(_) => Metric::GigabytesPerSec,
        Plan::Idle(_) => Metric::IdleCpuPercent,
    }
}

/// One batch of `plan`: its transport and peer are started, measured and
/// stopped, so that no peer of another row spins on the peer CPU while
/// this one is measured (the floor's echo and polling peers never park).
fn batch(plan: Plan, config: &SuiteConfig, machine: &Machine) -> Result<f64, AlternateError> {
    let mut report = Report::new(machine.clone(), config.quick);
    plan.run(config, &mut report)
        .map_err(|source| AlternateError::Measure {
            row: plan.label(),
            source,
        })?;
    let metric = headline(plan);
    report
        .rows
        .iter()
        .find(|row| row.metric == metric)
        .map(|row| row.value)
        .ok_or_else(|| AlternateError::Measure {
            row: plan.label(),
            source: BenchError::Protocol {
                role: "benchmark",
                detail: format!("the measurement gave no {}", metric.label()),
            },
        })
}

/// One round: the floor before, each row's figure, the floor after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    /// The process floor's median RTT at the start of the round, in ns.
    pub floor_before_ns: f64,
    /// Each row's figure, in the order of [`AlternateReport::rows`].
    pub values: Vec<f64>,
    /// The process floor's median RTT at the end of the round, in ns.
    pub floor_after_ns: f64,
}

impl Round {
    /// Whether the floor held within 1.5x during the round.
    pub fn floor_held(&self) -> bool {
        let ratio = self.floor_after_ns / self.floor_before_ns;
        (1.0 / FLOOR_DRIFT_LIMIT..=FLOOR_DRIFT_LIMIT).contains(&ratio)
    }
}

/// A row of an alternating run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlternateRow {
    /// Its label, as `hqq bench` prints it.
    pub label: String,
    /// What its figures measure.
    pub metric: Metric,
}

/// The median and range of per-round figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Median over the rounds.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` if there are none.
    fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.sort_by(f64::total_cmp);
        let (min, max) = (*values.first()?, *values.last()?);
        let mid = values.len() / 2;
        let median = if values.len() % 2 == 0 {
            (values[mid - 1] + values[mid]) / 2.0
        } else {
            values[mid]
        };
        Some(Spread { median, min, max })
    }
}

/// One row's figures next to an earlier row's of the same metric, over the
/// rounds whose floor held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatioSummary {
    /// Index (into [`AlternateReport::rows`]) of the row compared.
    pub row: usize,
    /// Index of the row it is compared with.
    pub baseline: usize,
    /// `row / baseline`, per round.
    pub ratio: Spread,
    /// `row - baseline`, per round, in the metric's unit.
    pub difference: Spread,
    /// Rounds the figures come from.
    pub rounds: usize,
}

/// Everything an alternating run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlternateReport {
    /// Where the figures come from.
    pub machine: Machine,
    /// Whether the batches were the reduced `--quick` ones.
    pub quick: bool,
    /// The rows, the first being the one the others are divided by.
    pub rows: Vec<AlternateRow>,
    /// The rounds, in order.
    pub rounds: Vec<Round>,
    /// Every row divided by every earlier row of the same metric; empty if
    /// no round's floor held.
    pub ratios: Vec<RatioSummary>,
}

/// Each row divided by each earlier row of the same metric, per round,
/// summarized over the rounds whose floor held.
fn summarize(rounds: &[Round], rows: &[AlternateRow]) -> Vec<RatioSummary> {
    let held: Vec<&Round> = rounds.iter().filter(|r| r.floor_held()).collect();
    let count = rows.len();
    let pairs =
        (0..count).flat_map(|baseline| (baseline + 1..count).map(move |row| (baseline, row)));
    pairs
        .filter(|&(baseline, row)| rows[baseline].metric == rows[row].metric)
        .filter_map(|(baseline, row)| {
            let pairs: Vec<(f64, f64)> = held
                .iter()
                .filter_map(|round| Some((*round.values.get(row)?, *round.values.get(baseline)?)))
                .collect();
            Some(RatioSummary {
                row,
                baseline,
                ratio: Spread::of(pairs.iter().map(|(r, b)| r / b).collect())?,
                difference: Spread::of(pairs.iter().map(|(r, b)| r - b).collect())?,
                rounds: pairs.len(),
            })
        })
        .collect()
}

/// Runs the alternating measurement, calling `on_round` with the rows,
/// the round's index and the round after each round.
pub fn run_alternate(
    config: &AlternateConfig,
    mut on_round: impl FnMut(&[AlternateRow], usize, &Round),
) -> Result<AlternateReport, AlternateError> {
    if config.rows.len() < 2 {
        return Err(AlternateError::TooFewRows(config.rows.len()));
    }
    let plans = config
        .rows
        .iter()
        .map(|text| find_row(text))
        .collect::<Result<Vec<Plan>, _>>()?;
    if let Some(Plan::Idle(entry)) = plans.iter().find(|plan| matches!(plan, Plan::Idle(_))) {
        return Err(AlternateError::IdleRow(entry.name.to_owned()));
    }
    let mut machine = Machine::current();
    if let Some(pinning) = config.pin {
        super::pin::pin_client(pinning).map_err(|source| AlternateError::Pin {
            cpu: pinning.client,
            source,
        })?;
        machine.pinned = Some(pinning);
    }
    let floor = find_row(&format!("RTT 64 B {FLOOR_PROCESSES}"))?;
    let rows: Vec<AlternateRow> = plans
        .iter()
        .map(|&plan| AlternateRow {
            label: plan.label(),
            metric: headline(plan),
        })
        .collect();
    let config_of_batch = batch_config(config.quick);
    let measure = |plan| batch(plan, &config_of_batch, &machine);
    let mut rounds = Vec::with_capacity(config.rounds);
    for index in 0..config.rounds {
        let floor_before_ns = measure(floor)?;
        let values = plans
            .iter()
            .map(|&plan| measure(plan))
            .collect::<Result<Vec<f64>, _>>()?;
        let round = Round {
            floor_before_ns,
            values,
            floor_after_ns: measure(floor)?,
        };
        on_round(&rows, index, &round);
        rounds.push(round);
    }
    Ok(AlternateReport {
        machine,
        quick: config.quick,
        ratios: summarize(&rounds, &rows),
        rows,
        rounds,
    })
}

/// The per-round table and the summary `hqq bench --alternate` prints.
impl fmt::Display for AlternateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "machine: {}", self.machine)?;
        if self.quick {
            writeln!(f, "(quick run: short batches, figures are rough)")?;
        }
        for (index, row) in self.rows.iter().enumerate() {
            writeln!(f, "[{}] {} ({})", index + 1, row.label, row.metric.label())?;
        }
        let mut header = format!("{:>5}  {:>15}", "round", "floor (ns)");
        for index in 1..=self.rows.len() {
            header.push_str(&format!("  {:>14}", format!("[{index}]")));
        }
        writeln!(f, "{header}")?;
        for (index, round) in self.rounds.iter().enumerate() {
            writeln!(f, "{}", round_line(index, round, &self.rows))?;
        }
        if !self.rounds.iter().any(Round::floor_held) {
            return writeln!(
                f,
                "no round held its floor within {FLOOR_DRIFT_LIMIT}x: no ratios"
            );
        }
        writeln!(
            f,
            "ratios over the rounds whose floor held within {FLOOR_DRIFT_LIMIT}x:"
        )?;
        for r in &self.ratios {
            let (row, baseline) = (r.row + 1, r.baseline + 1);
            let (ratio, difference) = (r.ratio, r.difference);
            let signed = |value: f64| {
                let text = self.rows[r.row].metric.format_value(value);
                if value >= 0.0 {
                    format!("+{text}")
                } else {
                    text
                }
            };
            writeln!(
                f,
                "[{row}] / [{baseline}]: median {:.3}x, range {:.3}x to {:.3}x; \
                 [{row}] - [{baseline}]: median {}, range {} to {} ({} rounds)",
                ratio.median,
                ratio.min,
                ratio.max,
                signed(difference.median),
                signed(difference.min),
                signed(difference.max),
                r.rounds
            )?;
        }
        Ok(())
    }
}

/// One round of the table: its floor, each figure, and `*` when the floor
/// moved too far for the round to count.
pub fn round_line(index: usize, round: &Round, rows: &[AlternateRow]) -> String {
    let floor = format!(
        "{:.0} -> {:.0}",
        round.floor_before_ns, round.floor_after_ns
    );
    let mut line = format!("{:>5}  {floor:>15}", index + 1);
    for (value, row) in round.values.iter().zip(rows) {
        line.push_str(&format!("  {:>14}", row.metric.format_value(*value)));
    }
    if !round.floor_held() {
        line.push_str("  * floor moved: not counted");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, metric: Metric) -> AlternateRow {
        AlternateRow {
            label: label.to_owned(),
            metric,
        }
    }

    fn report(rounds: Vec<Round>) -> AlternateReport {
        let rows = vec![row("a", Metric::RttMedianNs), row("b", Metric::RttMedianNs)];
        let ratios = summarize(&rounds, &rows);
        AlternateReport {
            machine: Machine {
                cpu_model: "Test CPU".to_owned(),
                cores: 2,
                kernel: "6.0".to_owned(),
                load_average: None,
                pinned: None,
            },
            quick: false,
            rows,
            rounds,
            ratios,
        }
    }

    fn round(floor: (f64, f64), values: [f64; 2]) -> Round {
        Round {
            floor_before_ns: floor.0,
            values: values.to_vec(),
            floor_after_ns: floor.1,
        }
    }

    #[test]
    fn rounds_whose_floor_moved_are_left_out_of_the_ratios() {
        let report = report(vec![
            round((70.0, 75.0), [100.0, 300.0]),
            round((70.0, 400.0), [100.0, 900.0]),
            round((400.0, 420.0), [500.0, 1000.0]),
            round((72.0, 70.0), [100.0, 250.0]),
        ]);
        let [summary] = report.ratios.as_slice() else {
            panic!("one pair: {:?}", report.ratios);
        };
        assert_eq!((summary.row, summary.baseline, summary.rounds), (1, 0, 3));
        let ratio = summary.ratio;
        assert_eq!((ratio.min, ratio.median, ratio.max), (2.0, 2.5, 3.0));
        let difference = summary.difference;
        assert_eq!(
            (difference.min, difference.median, difference.max),
            (150.0, 200.0, 500.0)
        );
        let table = report.to_string();
        assert!(table.contains("70 -> 400"), "{table}");
        assert!(table.contains("* floor moved: not counted"), "{table}");
        assert!(
            table.contains(
                "[2] / [1]: median 2.500x, range 2.000x to 3.000x; \
                 [2] - [1]: median +200 ns, range +150 ns to +500 ns (3 rounds)"
            ),
            "{table}"
        );
    }

    #[test]
    fn every_row_is_divided_by_every_earlier_row_of_its_metric() {
        let rounds = [
            Round {
                floor_before_ns: 70.0,
                values: vec![100.0, 200.0, 800.0],
                floor_after_ns: 70.0,
            },
            Round {
                floor_before_ns: 70.0,
                values: vec![100.0, 400.0, 800.0],
                floor_after_ns: 71.0,
            },
        ];
        let rate = Metric::MessagesPerSec;
        let rows = [
            row("a", rate),
            row("b", Metric::GigabytesPerSec),
            row("c", rate),
        ];
        let pairs: Vec<(usize, usize, f64)> = summarize(&rounds, &rows)
            .iter()
            .map(|r| (r.row, r.baseline, r.ratio.median))
            .collect();
        assert_eq!(pairs, [(2, 0, 8.0)]);
        let rows = [row("a", rate), row("b", rate), row("c", rate)];
        let pairs: Vec<(usize, usize, f64)> = summarize(&rounds, &rows)
            .iter()
            .map(|r| (r.row, r.baseline, r.ratio.median))
            .collect();
        assert_eq!(pairs, [(1, 0, 3.0), (2, 0, 8.0), (2, 1, 3.0)]);
    }

    #[test]
    fn no_summary_when_no_round_held() {
        let report = report(vec![round((70.0, 400.0), [1.0, 2.0])]);
        assert!(report.ratios.is_empty());
        assert!(report.to_string().contains("no round held its floor"));
    }

    #[test]
    fn rows_are_found_by_label_or_by_the_only_label_containing_the_text() {
        let exact = find_row("RTT 64 B hqq StandardLink").expect("a label");
        assert_eq!(exact.label(), "RTT 64 B hqq StandardLink");
        let part = find_row("hqq StandardLink, 2 ms apart").expect("one label has it");
        assert_eq!(part.label(), "RTT 64 B hqq StandardLink, 2 ms apart");
        match find_row("StandardLink") {
            Err(AlternateError::UnknownRow { candidates, .. }) => {
                assert!(candidates.len() > 1, "{candidates:?}");
            }
            other => panic!("ambiguous text accepted: {:?}", other.map(Plan::label)),
        }
        assert!(matches!(
            find_row("no such row"),
            Err(AlternateError::UnknownRow { candidates, .. }) if candidates.is_empty()
        ));
    }

    #[test]
    fn idle_rows_and_single_rows_are_refused_before_anything_starts() {
        let config = |rows: &[&str]| AlternateConfig {
            rows: rows.iter().map(|&r| r.to_owned()).collect(),
            rounds: 1,
            quick: true,
            pin: None,
        };
        let single = run_alternate(&config(&["RTT 64 B pipe pair"]), |_, _, _| {});
        assert!(matches!(single, Err(AlternateError::TooFewRows(1))));
        let idle = run_alternate(
            &config(&["RTT 64 B pipe pair", "idle CPU socketpair blocked read"]),
            |_, _, _| {},
        );
        assert!(matches!(idle, Err(AlternateError::IdleRow(_))));
    }
}
