//! Support shared by the integration tests: unique segment names and a
//! child-process harness.
//!
//! # Child processes
//!
//! A multi-process test re-runs its own test binary as the peer. The peer's
//! code is an ordinary `#[test]` function that does nothing unless this
//! harness started the process for it:
//!
//! ```ignore
//! mod support;
//! use support::{child_env, Child};
//!
//! #[test]
//! fn peer_reads_hello() {
//!     // In a normal test run this returns None and the test passes at once.
//!     let Some(env) = child_env("peer_reads_hello") else { return };
//!     let name = env.var("HQQ_SEGMENT");
//!     // ... open the segment, do the peer's half, assert ...
//!     env.report("latency_ns", 1234);
//! }
//!
//! #[test]
//! fn hello_reaches_the_peer() {
//!     let child = Child::spawn("peer_reads_hello", &[("HQQ_SEGMENT", &name)]);
//!     // ... the parent's half ...
//!     let output = child.wait(Duration::from_secs(30)); // watchdog
//!     output.assert_success();
//!     let latency: u64 = output.report("latency_ns");
//! }
//! ```
//!
//! The child runs `current_exe() <test> --exact --nocapture --test-threads=1`
//! with `HQQ_CHILD_ROLE=<test>`; the role name is the test's path inside its
//! test binary (just the function name for a top-level test). A child that
//! panics fails the parent through [`ChildOutput::assert_success`]; a child
//! that outlives the watchdog is killed and the parent panics with the
//! child's output; a child still running when its [`Child`] is dropped (the
//! parent panicked) is killed and reaped.
//!
//! Other test crates can use this file with
//! `#[path = "../hqq-runtime/tests/support/mod.rs"] mod support;`.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::fmt::Display;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Environment variable naming the role (test) a child process runs.
pub const ROLE_ENV: &str = "HQQ_CHILD_ROLE";

/// Line prefix of a child's reports on its stdout.
const REPORT_PREFIX: &str = "hqq-child-report ";

/// Line a child prints when its role starts, so that a misspelled role
/// (which makes libtest run nothing and exit 0) is caught.
const STARTED_PREFIX: &str = "hqq-child-started ";

/// A segment name unique to this process, this call and `test`.
pub fn unique_segment_name(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("hqq-test-{}-{n}-{test}", std::process::id())
}

/// The environment of a child process started for `role`, or `None` when
/// this process is not such a child (a normal test run).
pub fn child_env(role: &str) -> Option<ChildEnv> {
    if std::env::var(ROLE_ENV).ok()? != role {
        return None;
    }
    // libtest has already printed "test <name> ... " without a newline.
    println!("\n{STARTED_PREFIX}{role}");
    Some(ChildEnv { _private: () })
}

/// What a child process sees of its parent's request.
pub struct ChildEnv {
    _private: (),
}

impl ChildEnv {
    /// The environment variable `key` the parent passed; panics (failing the
    /// child) if it is missing.
    pub fn var(&self, key: &str) -> String {
        std::env::var(key).unwrap_or_else(|_| panic!("the parent did not pass {key}"))
    }

    /// Reports `key = value` to the parent (see [`ChildOutput::report`]).
    pub fn report(&self, key: &str, value: impl Display) {
        println!("{REPORT_PREFIX}{key}={value}");
    }
}

/// A running child process (this test binary, running one role).
pub struct Child {
    role: String,
    process: std::process::Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Child {
    /// Starts this test binary as a child running the test `role`, with the
    /// extra environment variables `env`.
    pub fn spawn(role: &str, env: &[(&str, &str)]) -> Child {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut command = Command::new(exe);
        command
            .args([role, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE_ENV, role)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut process = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawning child {role}: {e}"));
        // Drain both pipes on threads so a chatty child never blocks.
        let stdout = process.stdout.take().map(drain);
        let stderr = process.stderr.take().map(drain);
        Child {
            role: role.to_owned(),
            process,
            stdout,
            stderr,
        }
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.process.id()
    }

    /// Sends the child SIGKILL (it is unreaped, so the pid is still ours);
    /// returns when it was sent.
    pub fn sigkill(&mut self) -> Instant {
        self.process.kill().expect("SIGKILL the child");
        Instant::now()
    }

    /// Waits for the child to exit, for at most `timeout` (the watchdog).
    /// On timeout, kills it and panics with its output.
    pub fn wait(mut self, timeout: Duration) -> ChildOutput {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.process.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(None) => break None,
                Err(e) => panic!("waiting for child {}: {e}", self.role),
            }
        };
        let Some(status) = status else {
            self.kill_and_reap();
            let output = self.collect(None);
            panic!(
                "watchdog: child {} still running after {timeout:?}; killed it\n{output}",
                self.role
            );
        };
        self.collect(Some(status))
    }

    fn kill_and_reap(&mut self) {
        // The child may have exited in the meantime; either way reap it.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }

    fn collect(&mut self, status: Option<ExitStatus>) -> ChildOutput {
        let join = |handle: Option<JoinHandle<String>>| {
            handle
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default()
        };
        ChildOutput {
            role: self.role.clone(),
            status,
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.process.try_wait() {
            self.kill_and_reap();
        }
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// How a child process ended and what it printed.
#[derive(Debug)]
pub struct ChildOutput {
    /// The role the child ran.
    pub role: String,
    /// Its exit status (`None` if the watchdog killed it).
    pub status: Option<ExitStatus>,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl ChildOutput {
    /// Panics (with the child's output) unless the child exited with status 0
    /// after actually running its role.
    pub fn assert_success(&self) {
        let ran = self
            .stdout
            .lines()
            .any(|line| after(line, STARTED_PREFIX) == Some(self.role.as_str()));
        assert!(
            ran,
            "child role {} never started (is it a test in this binary, called via child_env?)\n{self}",
            self.role
        );
        assert!(
            self.status.is_some_and(|s| s.success()),
            "child {} failed\n{self}",
            self.role
        );
    }

    /// The value the child reported for `key` with [`ChildEnv::report`];
    /// panics if it reported none or it does not parse.
    pub fn report<T: FromStr>(&self, key: &str) -> T {
        let text = self
            .stdout
            .lines()
            .filter_map(|line| after(line, REPORT_PREFIX))
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("child {} reported no {key}\n{self}", self.role));
        text.parse()
            .unwrap_or_else(|_| panic!("child {} reported unparsable {key}={text}", self.role))
    }
}

/// The rest of `line` after `marker`, wherever the marker starts.
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.split_once(marker).map(|(_, rest)| rest)
}

impl std::fmt::Display for ChildOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "--- child {} status: {:?}", self.role, self.status)?;
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        write!(f, "--- stderr:\n{}", self.stderr)
    }
}

/// Opens (as primary, or joins as secondary) the link memory of `layout` on
/// the whole of `segment`, waiting up to 5 s for the primary.
pub fn open_link_memory(
    segment: &hqq_runtime::segment::Segment,
    layout: hqq_runtime::Layout,
) -> hqq_runtime::LinkMemory {
    let region = std::ptr::NonNull::new(segment.as_ptr()).expect("mapping is non-null");
    // SAFETY: the returned LinkMemory borrows nothing, so every caller keeps
    // `segment` alive longer (declared first, dropped last) and touches the
    // region only through LinkMemory and atomics.
    unsafe {
        hqq_runtime::LinkMemory::open(
            region,
            segment.len(),
            layout,
            Instant::now() + Duration::from_secs(5),
        )
    }
    .expect("open link memory")
}

/// A link configuration of `slots` x `buffer` bytes that waits up to 5 s
/// for the segment and removes it when the creating link is dropped.
pub fn link_config(slots: u64, buffer: u64) -> hqq_runtime::link::LinkConfig {
    let mut config = hqq_runtime::link::LinkConfig::new();
    config
        .slots(slots)
        .buffer_size(buffer)
        .ready_timeout(Duration::from_secs(5))
        .keep_on_drop(false);
    config
}
