//! The suite's result: rows of figures, each with its ratios to the
//! baselines measured in the same run, printable as an aligned table or
//! serializable as JSON.

use std::fmt;

use serde::Serialize;

use super::machine::Machine;

/// What a row's value measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Median round-trip time, in nanoseconds.
    RttMedianNs,
    /// 99th-percentile round-trip time, in nanoseconds.
    RttP99Ns,
    /// One-way messages per second.
    MessagesPerSec,
    /// One-way payload throughput, in 10^9 bytes per second.
    GigabytesPerSec,
    /// CPU use of a blocked receiver, in percent of one core.
    IdleCpuPercent,
}

impl Metric {
    /// Short label for the table.
    pub const fn label(self) -> &'static str {
        match self {
            Metric::RttMedianNs => "RTT median",
            Metric::RttP99Ns => "RTT p99",
            Metric::MessagesPerSec => "stream msgs/s",
            Metric::GigabytesPerSec => "stream GB/s",
            Metric::IdleCpuPercent => "idle CPU",
        }
    }

    /// `value` with its unit, for the table.
    pub fn format_value(self, value: f64) -> String {
        match self {
            Metric::RttMedianNs | Metric::RttP99Ns => format!("{value:.0} ns"),
            Metric::MessagesPerSec => format!("{:.3} M/s", value / 1e6),
            Metric::GigabytesPerSec => format!("{value:.3} GB/s"),
            Metric::IdleCpuPercent => format!("{value:.2} % core"),
        }
    }
}

/// A row's value divided by a baseline's value for the same size and
/// metric (for times: below 1 is faster than the baseline; for rates:
/// above 1 is faster).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The baseline's transport name.
    pub baseline: String,
    /// `value / baseline value`.
    pub ratio: f64,
}

/// One figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The transport measured (for example `"socketpair"`).
    pub transport: String,
    /// Message size in bytes; `None` where size does not apply (idle CPU).
    pub size: Option<usize>,
    /// What `value` measures.
    pub metric: Metric,
    /// The figure, in the metric's unit.
    pub value: f64,
    /// Ratios to the baselines named when the row was added.
    pub comparisons: Vec<Comparison>,
}

/// All figures of one suite run and the machine they were measured on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Where the figures come from.
    pub machine: Machine,
    /// Whether the run used the reduced `--quick` iteration counts.
    pub quick: bool,
    /// The figures, in the order they were measured.
    pub rows: Vec<Row>,
    /// Warnings about the run as a whole, printed after the table.
    pub notes: Vec<String>,
}

impl Report {
    /// An empty report.
    pub fn new(machine: Machine, quick: bool) -> Self {
        Self {
            machine,
            quick,
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a figure, compared with each of `baselines` that already has a
    /// row of the same size and metric (baselines are measured first; a
    /// baseline without such a row is skipped).
    pub fn push(
        &mut self,
        transport: &str,
        size: Option<usize>,
        metric: Metric,
        value: f64,
        baselines: &[&str],
    ) {
        let comparisons = baselines
            .iter()
            .filter_map(|baseline| {
                let base = self.row(baseline, size, metric)?;
                Some(Comparison {
                    baseline: (*baseline).to_owned(),
                    ratio: value / base.value,
                })
            })
            .collect();
        self.rows.push(Row {
            transport: transport.to_owned(),
            size,
            metric,
            value,
            comparisons,
        });
    }

    /// The row of `transport` for `size` and `metric`, if measured.
    pub fn row(&self, transport: &str, size: Option<usize>, metric: Metric) -> Option<&Row> {
        self.rows
            .iter()
            .find(|row| row.transport == transport && row.size == size && row.metric == metric)
    }
}

/// `64 B`, `4 KiB`, `1 MiB`: a message size for people.
pub fn format_size(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// The aligned plain-text table `hqq bench` prints.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "machine: {}", self.machine)?;
        if self.quick {
            writeln!(
                f,
                "(quick run: reduced iteration counts, figures are rough)"
            )?;
        }
        let header = [
            "transport",
            "size",
            "metric",
            "value",
            "vs baseline (value / baseline)",
        ];
        let cells: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|row| {
                let comparisons: Vec<String> = row
                    .comparisons
                    .iter()
                    .map(|c| format!("{:.3}x {}", c.ratio, c.baseline))
                    .collect();
                [
                    row.transport.clone(),
                    row.size.map(format_size).unwrap_or_default(),
                    row.metric.label().to_owned(),
                    row.metric.format_value(row.value),
                    comparisons.join(", "),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let [w0, w1, w2, w3, _] = widths;
        let mut line = |cols: [&str; 5]| {
            let [transport, size, metric, value, vs] = cols;
            let text = format!("{transport:<w0$}  {size:>w1$}  {metric:<w2$}  {value:>w3$}  {vs}");
            writeln!(f, "{}", text.trim_end())
        };
        line(header)?;
        for row in &cells {
            let [a, b, c, d, e] = row;
            line([a, b, c, d, e])?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            cpu_model: "Test CPU".to_owned(),
            cores: 2,
            kernel: "6.0".to_owned(),
            load_average: Some(0.5),
            pinned: None,
        }
    }

    #[test]
    fn ratios_use_the_baseline_of_the_same_size_and_metric() {
        let mut report = Report::new(machine(), false);
        report.push("floor", Some(64), Metric::RttMedianNs, 200.0, &[]);
        report.push("floor", Some(64), Metric::RttP99Ns, 400.0, &[]);
        report.push(
            "socket",
            Some(64),
            Metric::RttMedianNs,
            10_000.0,
            &["floor"],
        );
        report.push(
            "socket",
            Some(4096),
            Metric::RttMedianNs,
            12_000.0,
            &["floor"],
        );
        let row = report
            .row("socket", Some(64), Metric::RttMedianNs)
            .expect("pushed");
        assert_eq!(
            row.comparisons,
            [Comparison {
                baseline: "floor".to_owned(),
                ratio: 50.0
            }]
        );
        let row = report
            .row("socket", Some(4096), Metric::RttMedianNs)
            .expect("pushed");
        assert!(row.comparisons.is_empty(), "no 4 KiB floor row");
    }

    #[test]
    fn table_is_aligned_and_names_every_row() {
        let mut report = Report::new(machine(), true);
        report.push("a", Some(64), Metric::RttMedianNs, 150.0, &[]);
        report.push("longer name", Some(4096), Metric::GigabytesPerSec, 1.5, &[]);
        report.push("b", None, Metric::IdleCpuPercent, 0.25, &[]);
        let table = report.to_string();
        assert!(
            table.contains("Test CPU, 2 cores, Linux 6.0, load average 0.50"),
            "{table}"
        );
        let rows: Vec<&str> = table
            .lines()
            .skip_while(|line| !line.starts_with("transport"))
            .collect();
        assert_eq!(rows.len(), 4, "{table}");
        // Right-aligned columns end, and left-aligned ones start, at the
        // header's offsets.
        for column in ["size", "value"] {
            let end = rows[0].find(column).expect("header") + column.len();
            for row in &rows[1..] {
                let cell = row.get(..end).expect("row reaches the column");
                let blank = row.get(end - column.len()..end) == Some("    ")
                    && row.get(end - column.len() - 2..end - column.len()) == Some("  ");
                assert!(
                    !cell.ends_with(' ') || (column == "size" && blank),
                    "{column} misaligned:\n{table}"
                );
            }
        }
        let metric = rows[0].find("metric").expect("header");
        for row in &rows[1..] {
            let gutter = row.get(metric - 2..=metric).expect("row reaches metric");
            assert!(
                gutter.starts_with("  ") && !gutter.ends_with(' '),
                "{table}"
            );
        }
        assert!(
            rows[1].starts_with("a  ") && rows[1].contains("150 ns"),
            "{table}"
        );
        assert!(
            rows[2].contains("4 KiB") && rows[2].contains("1.500 GB/s"),
            "{table}"
        );
        assert!(rows[3].contains("0.25 % core"), "{table}");
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(format_size(64), "64 B");
        assert_eq!(format_size(4096), "4 KiB");
        assert_eq!(format_size(1 << 20), "1 MiB");
        assert_eq!(format_size(1500), "1500 B");
    }
}
