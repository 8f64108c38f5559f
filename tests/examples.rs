//! Runs every example program (each starts its own peer processes) and
//! checks that it succeeds and prints its final line. `cargo test` builds
//! the examples before running tests; when this test target is run on its
//! own, the missing example is built first.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest one example may run (debug build, loaded machine).
const WATCHDOG: Duration = Duration::from_secs(120);

/// `target/<profile>/examples/<name>`, built if it is not there.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--example", name]);
        if cfg!(feature = "tokio") {
            build.args(["--features", "tokio"]);
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building example {name} failed");
    }
    path
}

/// Runs example `name` under a watchdog and returns its stdout.
fn run(name: &str) -> String {
    let mut child = Command::new(example(name))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start example");
    let deadline = Instant::now() + WATCHDOG;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("example {name} did not finish within {WATCHDOG:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().expect("collect output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "example {name} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn quickstart_exchanges_and_measures() {
    let out = run("quickstart");
    assert!(out.contains("peer -> parent: \"hello from pid"), "{out}");
    assert!(out.contains("round trips: "), "{out}");
    assert!(out.contains("in order"), "{out}");
}

#[test]
fn custom_opcode_round_trips() {
    let out = run("custom_opcode");
    assert!(out.contains("server: refused"), "{out}");
    assert!(
        out.contains("round trip ok: 3 Pings answered by 3 Pongs"),
        "{out}"
    );
}

#[test]
fn worker_pool_does_every_job_once() {
    let out = run("worker_pool");
    assert!(out.contains("was done exactly once"), "{out}");
}

#[test]
fn large_file_arrives_intact() {
    let out = run("large_file");
    assert!(out.contains("file arrived intact"), "{out}");
}

#[test]
fn rpc_calls_a_server_process() {
    let out = run("rpc");
    assert!(out.contains("sum of 1..=100: 5050"), "{out}");
    assert!(out.contains("(buffers hold 4096): identical"), "{out}");
    assert!(out.contains("sum of 11 bytes: error status 3"), "{out}");
    assert!(out.contains("Closed after"), "{out}");
    assert!(out.contains("segment left behind: false"), "{out}");
}

#[cfg(feature = "tokio")]
#[test]
fn async_rpc_answers_concurrent_calls() {
    let out = run("async_rpc");
    assert!(out.contains("sum of 11 bytes: error status 3"), "{out}");
    assert!(
        out.contains("6400 calls from 32 concurrent tasks, all answered correctly"),
        "{out}"
    );
    assert!(out.contains("[server"), "{out}");
    assert!(out.contains("Closed after 6403 requests"), "{out}");
    assert!(out.contains("segment left behind: false"), "{out}");
}
