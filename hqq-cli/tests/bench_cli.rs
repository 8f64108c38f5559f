//! Runs the built `hqq` binary's `bench --quick` (which re-executes the
//! binary as its peers) and checks the shape of its output. No timing
//! assertions: the figures depend on the machine.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Watchdog for one `hqq bench --quick` run (debug build, loaded machine).
const WATCHDOG: Duration = Duration::from_secs(120);

/// Every (transport, size, metric label) row the suite must print.
const EXPECTED_ROWS: &[(&str, &str, &str)] = &[
    ("cache-line floor (processes)", "64 B", "RTT median"),
    ("cache-line floor (processes)", "64 B", "RTT p99"),
    ("cache-line floor (threads)", "64 B", "RTT median"),
    (
        "cache-line floor (processes), again at the end",
        "64 B",
        "RTT median",
    ),
    ("socketpair", "64 B", "RTT median"),
    ("socketpair", "4 KiB", "RTT p99"),
    ("pipe pair", "64 B", "RTT median"),
    ("pipe pair", "4 KiB", "RTT median"),
    ("socketpair", "64 B", "stream msgs/s"),
    ("socketpair", "4 KiB", "stream GB/s"),
    ("pipe pair", "64 B", "stream GB/s"),
    ("pipe pair", "4 KiB", "stream msgs/s"),
    ("socketpair blocked read", "", "idle CPU"),
    ("hqq event-count wait", "", "idle CPU"),
    ("hqq AdvancedLink send_large text", "1 MiB", "stream GB/s"),
    (
        "hqq AdvancedLink send_large text LZ4",
        "1 MiB",
        "stream GB/s",
    ),
    (
        "hqq AdvancedLink send_large random LZ4",
        "1 MiB",
        "stream GB/s",
    ),
    (
        "hqq AdvancedLink send_large/recv_large encrypted",
        "1 MiB",
        "stream GB/s",
    ),
    ("hqq AdvancedLink call encrypted", "64 B", "RTT median"),
    (
        "ceiling: AES-256-GCM seal 64 KiB frames, one core",
        "1 MiB",
        "stream GB/s",
    ),
    (
        "ceiling: ChaCha20-Poly1305 seal 64 KiB frames, one core",
        "1 MiB",
        "stream GB/s",
    ),
    (
        "ceiling: LZ4 compress text 64 KiB blocks, one core",
        "1 MiB",
        "stream GB/s",
    ),
    (
        "ceiling: LZ4 decompress text 64 KiB blocks, one core",
        "1 MiB",
        "stream GB/s",
    ),
];

/// Runs `hqq` with `args`, killing it (and failing) after [`WATCHDOG`].
fn run_hqq(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hqq"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hqq");
    let drain = |pipe: Option<Box<dyn Read + Send>>| -> JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for hqq") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "watchdog: hqq {args:?} still running after {WATCHDOG:?}; killed it\nstderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn assert_success(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "hqq failed: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn quick_bench_prints_every_row_of_the_table() {
    let output = run_hqq(&["bench", "--quick"]);
    let stdout = assert_success(&output);
    assert!(stdout.starts_with("machine: "), "{stdout}");
    let header = stdout
        .lines()
        .find(|line| line.starts_with("transport"))
        .unwrap_or_else(|| panic!("no table header\n{stdout}"));
    let metric_column = header.find("metric").expect("metric column");
    for (transport, size, metric) in EXPECTED_ROWS {
        let found = stdout.lines().any(|line| {
            let Some((left, right)) = line.split_at_checked(metric_column) else {
                return false;
            };
            let mut left_words = left.trim_end();
            let has_size = size.is_empty() || left_words.ends_with(size);
            left_words = left_words
                .strip_suffix(size)
                .unwrap_or(left_words)
                .trim_end();
            left_words == *transport && has_size && right.starts_with(metric)
        });
        assert!(found, "no row {transport} / {size} / {metric}\n{stdout}");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[1/") && stderr.contains("RTT 64 B socketpair"),
        "no progress on stderr:\n{stderr}"
    );
}

#[test]
fn quick_bench_json_parses_and_has_comparisons() {
    let output = run_hqq(&["bench", "--quick", "--json"]);
    let stdout = assert_success(&output);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--json output does not parse: {e}\n{stdout}"));
    assert!(report["machine"]["cores"].as_u64().is_some_and(|n| n >= 1));
    let rows = report["rows"].as_array().expect("rows array");
    assert!(rows.len() >= EXPECTED_ROWS.len(), "{stdout}");
    for row in rows {
        let value = row["value"].as_f64().expect("numeric value");
        assert!(value.is_finite() && value >= 0.0, "{row}");
    }
    let pipe_rtt = rows
        .iter()
        .find(|row| {
            row["transport"] == "pipe pair" && row["size"] == 64 && row["metric"] == "rtt_median_ns"
        })
        .unwrap_or_else(|| panic!("no pipe RTT row\n{stdout}"));
    let baselines: Vec<&str> = pipe_rtt["comparisons"]
        .as_array()
        .expect("comparisons array")
        .iter()
        .filter_map(|c| c["baseline"].as_str())
        .collect();
    assert_eq!(baselines, ["cache-line floor (processes)", "socketpair"]);
}

#[test]
fn bench_rejects_unknown_options() {
    let output = run_hqq(&["bench", "--no-such-option"]);
    assert!(!output.status.success());
}

/// `--only` runs just the matching steps, and `--pin` says in the machine
/// line where the sides ran.
#[test]
fn only_and_pin_select_steps_and_cpus() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut args = vec!["bench", "--quick", "--only", "cache-line floor (threads)"];
    if cpus >= 2 {
        args.extend(["--pin", "0,1"]);
    }
    let output = run_hqq(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let rows: Vec<&str> = stdout.lines().filter(|line| line.contains(" ns")).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(rows
        .iter()
        .all(|row| row.starts_with("cache-line floor (threads)")));
    if cpus >= 2 {
        assert!(
            stdout.contains("client pinned to CPU 0, peers to CPU 1"),
            "{stdout}"
        );
    }
}

/// A pinning that names one CPU twice is refused before anything runs.
#[test]
fn pin_needs_two_cpus() {
    let output = run_hqq(&["bench", "--quick", "--pin", "1,1"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("different CPUs"));
}

/// `--alternate` measures the named rows once per round, with the floor
/// around each round, and prints every round and the ratios (or why there
/// are none: the floor may move on a loaded machine).
#[test]
fn alternate_prints_each_round_and_the_ratios() {
    let output = run_hqq(&[
        "bench",
        "--quick",
        "--alternate",
        "RTT 64 B pipe pair",
        "--alternate",
        "RTT 64 B hqq StandardLink",
        "--rounds",
        "2",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("[1] RTT 64 B pipe pair (RTT median)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[2] RTT 64 B hqq StandardLink (RTT median)"),
        "{stdout}"
    );
    let rounds: Vec<&str> = stdout
        .lines()
        .filter(|line| line.matches(" ns").count() == 2 && line.contains(" -> "))
        .collect();
    assert_eq!(rounds.len(), 2, "{stdout}");
    assert!(
        stdout.contains("[2] / [1]: median") || stdout.contains("no round held its floor"),
        "{stdout}"
    );
}

/// A text that names no row, or more than one, is refused with the
/// candidates.
#[test]
fn alternate_refuses_an_ambiguous_row() {
    let output = run_hqq(&[
        "bench",
        "--alternate",
        "StandardLink",
        "--alternate",
        "RTT 64 B pipe pair",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("it is part of: "), "{stderr}");
}
