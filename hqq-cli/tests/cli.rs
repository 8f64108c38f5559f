//! Runs the built `hqq` binary: echo + ping, send into recv, inspect and
//! list on a live segment, inspect on garbage and scribbled slots, idle
//! timeouts, clean, errors, `--help`. Every child process is bounded by a
//! watchdog and killed if it overstays.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest any one `hqq` process may run (debug build, loaded machine).
const WATCHDOG: Duration = Duration::from_secs(60);

/// What a finished `hqq` process left.
struct Finished {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

impl Finished {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A running `hqq` process; killed if dropped before it finished.
struct Running {
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    })
}

/// Starts `hqq args`, with `stdin` written to it on a thread (then closed).
fn start(args: &[&str], stdin: Option<Vec<u8>>) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hqq"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hqq");
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    Running {
        child,
        stdout,
        stderr,
    }
}

impl Running {
    /// Waits for the process, killing it and failing after [`WATCHDOG`].
    fn finish(mut self) -> Finished {
        let deadline = Instant::now() + WATCHDOG;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for hqq") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("hqq did not finish within {WATCHDOG:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let join = |handle: Option<JoinHandle<Vec<u8>>>| {
            handle.map(|h| h.join().expect("drain")).unwrap_or_default()
        };
        Finished {
            status,
            stdout: join(self.stdout.take()),
            stderr: String::from_utf8_lossy(&join(self.stderr.take())).into_owned(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn run(args: &[&str]) -> Finished {
    start(args, None).finish()
}

/// A segment name unique to this test; the name is removed at the end
/// even if a test fails with a child still holding it.
struct Name(String);

impl Name {
    fn new(test: &str) -> Name {
        Name(format!("hqq-cli-test-{}-{test}", std::process::id()))
    }

    fn path(&self) -> String {
        format!("/dev/shm/{}", self.0)
    }

    /// How many statistics blocks (`NAME.stat-*`) are published for it.
    fn published(&self) -> usize {
        let prefix = format!("{}.stat-", self.0);
        std::fs::read_dir("/dev/shm")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count()
    }

    /// Waits until the segment's superblock says ready (the creator
    /// published it), failing after [`WATCHDOG`].
    fn wait_ready(&self) {
        let deadline = Instant::now() + WATCHDOG;
        loop {
            if let Ok(bytes) = std::fs::read(self.path()) {
                let word = |i: usize| {
                    bytes
                        .get(i * 8..i * 8 + 8)
                        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                };
                if word(0) == Some(0x4851_515f_5354_4c31) && word(1) == Some(2) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "segment {} never became ready",
                self.0
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
        // Statistics published by children that were killed.
        let prefix = format!("{}.stat-", self.0);
        for entry in std::fs::read_dir("/dev/shm")
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[test]
fn echo_and_ping_print_rtts() {
    let name = Name::new("ping");
    let echo = start(&["echo", &name.0, "--create", "--count", "50"], None);
    name.wait_ready();
    let ping = run(&["ping", &name.0, "--size", "100", "--count", "50"]);
    assert!(ping.status.success(), "ping failed: {}", ping.stderr);
    let out = ping.stdout();
    for figure in ["median", "p99", "max"] {
        let value = out
            .split(&format!("{figure} "))
            .nth(1)
            .and_then(|rest| rest.split(" us").next())
            .and_then(|number| number.parse::<f64>().ok());
        assert!(
            value.is_some_and(|v| v > 0.0),
            "no positive {figure} in {out:?}"
        );
    }
    let echo = echo.finish();
    assert!(echo.status.success(), "echo failed: {}", echo.stderr);
}

#[test]
fn send_into_recv_moves_a_file_intact() {
    let name = Name::new("file");
    // Not a multiple of the chunk, and bytes of every value.
    let file: Vec<u8> = (0..300_001u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let recv = start(
        &["recv", &name.0, "--create", "--raw", "--slots", "16"],
        None,
    );
    name.wait_ready();
    let send = start(&["send", &name.0, "--chunk", "4000"], Some(file.clone())).finish();
    assert!(send.status.success(), "send failed: {}", send.stderr);
    let recv = recv.finish();
    assert!(recv.status.success(), "recv failed: {}", recv.stderr);
    assert_eq!(recv.stdout.len(), file.len());
    assert!(recv.stdout == file, "received bytes differ");
}

#[test]
fn send_lines_into_recv_keeps_the_text() {
    let name = Name::new("lines");
    // An empty line, and a line longer than the 64-byte buffer (split into
    // several messages, which recv prints as several lines).
    let long = "x".repeat(100);
    let text = format!("hello\n\nworld\n{long}\nend\n");
    let recv = start(
        &[
            "recv",
            &name.0,
            "--create",
            "--slots",
            "8",
            "--buffer-size",
            "64",
            "--trace",
        ],
        None,
    );
    name.wait_ready();
    let send = start(&["send", &name.0], Some(text.into_bytes())).finish();
    assert!(send.status.success(), "send failed: {}", send.stderr);
    let recv = recv.finish();
    assert!(recv.status.success(), "recv failed: {}", recv.stderr);
    let expected = format!("hello\n\nworld\n{}\n{}\nend\n", &long[..64], &long[64..]);
    assert_eq!(recv.stdout(), expected);
    // --trace: one decoded event per packet (6 messages + end of stream).
    let copies = recv.stderr.matches("StandardLinkCopy {").count();
    assert_eq!(copies, 6, "{}", recv.stderr);
    assert!(recv.stderr.contains("opcode: 0xef"), "{}", recv.stderr);
}

/// Starts `hqq echo NAME --create` on an 8 x 64 segment with `extra`
/// arguments and waits until the segment is ready.
fn start_small_echo(name: &Name, extra: &[&str]) -> Running {
    let mut args = vec![
        "echo",
        &name.0,
        "--create",
        "--slots",
        "8",
        "--buffer-size",
        "64",
    ];
    args.extend_from_slice(extra);
    let echo = start(&args, None);
    name.wait_ready();
    echo
}

#[test]
fn inspect_and_list_show_a_live_segment() {
    let name = &Name::new("live");
    let echo = start_small_echo(name, &["--count", "1"]);

    let text = run(&["inspect", &name.0]);
    assert!(text.status.success(), "inspect failed: {}", text.stderr);
    let out = text.stdout();
    assert!(out.contains("state        2 (ready)"), "{out}");
    assert!(out.contains("slots        8"), "{out}");
    assert!(out.contains("primary->secondary"), "{out}");
    assert!(out.contains("problems: none"), "{out}");

    let json = run(&["inspect", &name.0, "--json"]);
    assert!(
        json.status.success(),
        "inspect --json failed: {}",
        json.stderr
    );
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(report["superblock"]["slots"], 8);
    assert_eq!(report["superblock"]["buffer_size"], 64);
    assert_eq!(report["rings"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(0));
    // The echo registered itself in the process table, as the primary.
    let echo_pid = u64::from(echo.child.id());
    let processes = report["extension"]["processes"]
        .as_array()
        .expect("processes");
    let entry = processes
        .iter()
        .find(|p| p["pid"] == echo_pid)
        .unwrap_or_else(|| panic!("echo {echo_pid} not in {processes:?}"));
    assert_eq!(entry["status"], "alive");
    assert_eq!(entry["role"], "primary");

    let list = run(&["list", "--json"]);
    assert!(list.status.success(), "list failed: {}", list.stderr);
    let segments: serde_json::Value = serde_json::from_slice(&list.stdout).expect("valid JSON");
    let listed = segments
        .as_array()
        .expect("an array")
        .iter()
        .find(|s| s["name"] == name.0.as_str())
        .unwrap_or_else(|| panic!("{} not listed: {segments}", name.0));
    assert_eq!(listed["ready"], true);
    assert_eq!(listed["slots"], 8);
    assert_eq!(listed["owner"], "alive");
    assert!(run(&["list"]).stdout().contains(&name.0));

    // One message ends the echo (--count 1).
    let send = start(&["send", &name.0], Some(b"bye\n".to_vec())).finish();
    assert!(send.status.success(), "send failed: {}", send.stderr);
    let echo = echo.finish();
    assert!(echo.status.success(), "echo failed: {}", echo.stderr);
}

#[test]
fn inspect_reports_garbage_and_exits_non_zero() {
    let name = Name::new("garbage");
    let garbage: Vec<u8> = (0..20480u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(name.path(), garbage).expect("write a garbage segment");
    let inspect = run(&["inspect", &name.0, "--json"]);
    assert_eq!(inspect.status.code(), Some(1), "{}", inspect.stderr);
    assert!(
        inspect.stderr.contains("problem(s) found"),
        "{}",
        inspect.stderr
    );
    let report: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("valid JSON");
    assert_eq!(report["superblock"]["magic_ok"], false);
    assert!(report["problems"].as_array().is_some_and(|p| !p.is_empty()));
}

/// Starts `hqq echo NAME --create` on an 8 x 64 segment, waits until it is
/// ready and SIGKILLs it: its segment stays, with a dead owner.
fn segment_of_a_killed_echo(name: &Name) {
    let echo = start_small_echo(name, &[]);
    let pid = libc::pid_t::try_from(echo.child.id()).expect("pid fits");
    // Registered once inspect sees it alive.
    let deadline = Instant::now() + WATCHDOG;
    while !run(&["inspect", &name.0])
        .stdout()
        .contains("primary    alive")
    {
        assert!(Instant::now() < deadline, "the echo never registered");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: sends SIGKILL to our own child, which is still running.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let echo = echo.finish();
    assert!(!echo.status.success());
}

/// Writes little-endian `words` into segment `name` at byte `offset`.
fn scribble(name: &Name, offset: u64, words: &[u64]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(name.path())
        .expect("open the segment file");
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    file.write_all_at(&bytes, offset).expect("write");
}

/// Ring 0 of an 8 x 64 segment: its read and write positions, slot `i`.
const RING0: u64 = 4096;
const fn slot(i: u64) -> u64 {
    RING0 + 256 + 72 * i
}

#[test]
fn inspect_finds_scribbled_slots_injected_packets_and_dead_owners() {
    let name = Name::new("scribbled");
    segment_of_a_killed_echo(&name);
    let problems = |name: &Name| {
        let out = run(&["inspect", &name.0, "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
        let problems: Vec<String> = report["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .map(|p| p.as_str().unwrap_or_default().to_owned())
            .collect();
        (out.status.code(), problems)
    };
    let (code, found) = problems(&name);
    assert_eq!(code, Some(1));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("is dead"), "{found:?}");

    // A sequence word no ring state allows.
    scribble(&name, slot(3) + 64, &[999]);
    // A published packet naming another slot's buffer, one too large for
    // the buffers, and a packet that does not decode.
    let copy = |buffer: u64, size: u64| [0xFF, 1, buffer, size, 0, 0, 0, 0];
    scribble(&name, slot(0), &copy(5, 10));
    scribble(&name, slot(0) + 64, &[1]);
    scribble(&name, slot(1), &copy(1, 1000));
    scribble(&name, slot(1) + 64, &[2]);
    scribble(&name, slot(2), &[0x42, 0, 0, 0, 0, 0, 0, 0]);
    scribble(&name, slot(2) + 64, &[3]);
    scribble(&name, RING0 + 128, &[3]);
    let (code, found) = problems(&name);
    assert_eq!(code, Some(1));
    let has = |text: &str| found.iter().any(|p| p.contains(text));
    assert!(has("slot 3 has sequence word 999"), "{found:?}");
    assert!(has("slot 0: StandardLinkCopy names buffer 5"), "{found:?}");
    assert!(has("slot 1: StandardLinkCopy"), "{found:?}");
    assert!(has("slot 2: packet does not decode"), "{found:?}");
}

#[test]
fn link_commands_exit_when_nothing_moves_for_the_timeout() {
    let name = Name::new("idle-recv");
    let recv = run(&["recv", &name.0, "--create", "--timeout", "300ms"]);
    assert_eq!(recv.status.code(), Some(1));
    assert_eq!(
        recv.stderr.trim_end(),
        "hqq recv: waiting for a message: nothing moved for 300ms (--timeout)"
    );

    // Nobody consumes: the third line finds both slots full.
    let name = Name::new("idle-send");
    let send = start(
        &[
            "send",
            &name.0,
            "--create",
            "--slots",
            "2",
            "--buffer-size",
            "64",
            "--timeout",
            "0.3",
        ],
        Some(b"a\nb\nc\nd\n".to_vec()),
    )
    .finish();
    assert_eq!(send.status.code(), Some(1));
    assert!(
        send.stderr
            .contains("waiting for a free slot: nothing moved for 300ms (--timeout)"),
        "{}",
        send.stderr
    );

    let name = Name::new("idle-echo");
    let echo = run(&["echo", &name.0, "--create", "--timeout", "200ms"]);
    assert_eq!(echo.status.code(), Some(1));
    assert!(
        echo.stderr.contains("nothing moved for 200ms"),
        "{}",
        echo.stderr
    );

    let bad = run(&["recv", &name.0, "--timeout", "soon"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "clap rejects it: {}",
        bad.stderr
    );
}

#[test]
fn clean_removes_only_segments_whose_processes_are_all_dead() {
    let stale = Name::new("clean-stale");
    segment_of_a_killed_echo(&stale);
    // The killed echo's statistics stayed behind.
    assert_eq!(stale.published(), 1);
    // --create on the dead owner's name says what to do.
    let create = run(&["recv", &stale.0, "--create"]);
    assert_eq!(create.status.code(), Some(1));
    assert!(
        create.stderr.contains(&format!("hqq clean {}", stale.0)),
        "{}",
        create.stderr
    );
    // A process that never registered (this test) still has it open.
    let holder = std::fs::File::open(stale.path()).expect("open");
    let kept = run(&["clean", &stale.0]);
    assert_eq!(kept.status.code(), Some(1), "{}", kept.stderr);
    assert!(
        kept.stdout().contains(&format!(
            "still mapped or open by pid {}",
            std::process::id()
        )),
        "{}",
        kept.stdout()
    );
    assert!(std::path::Path::new(&stale.path()).exists());
    // The dead echo's statistics go even so: nothing maps them.
    assert!(
        kept.stdout()
            .contains(&format!("removed {}.stat-", stale.0)),
        "{}",
        kept.stdout()
    );
    assert_eq!(stale.published(), 0);
    drop(holder);

    // A live owner's segment and a Go-style one (no process table) stay.
    let live = Name::new("clean-live");
    let echo = start(&["echo", &live.0, "--create", "--count", "1"], None);
    live.wait_ready();
    let unregistered = Name::new("clean-go");
    let mut superblock = vec![0u8; 8192];
    superblock[..8].copy_from_slice(&0x4851_515f_5354_4c31u64.to_le_bytes());
    std::fs::write(unregistered.path(), superblock).expect("write");

    let clean = run(&["clean", &stale.0, &live.0, &unregistered.0]);
    assert_eq!(clean.status.code(), Some(1), "two kept: {}", clean.stderr);
    let out = clean.stdout();
    assert!(out.contains(&format!("removed {}", stale.0)), "{out}");
    assert!(
        out.contains(&format!("kept {}: a registered process is alive", live.0)),
        "{out}"
    );
    assert!(
        out.contains(&format!("kept {}: no process registered", unregistered.0)),
        "{out}"
    );
    assert!(!std::path::Path::new(&stale.path()).exists());
    assert!(std::path::Path::new(&live.path()).exists());
    assert_eq!(live.published(), 1, "a live echo's statistics stay");
    assert!(std::path::Path::new(&unregistered.path()).exists());

    let forced = run(&["clean", &unregistered.0, "--force"]);
    assert!(forced.status.success(), "{}", forced.stderr);
    assert!(!std::path::Path::new(&unregistered.path()).exists());

    let send = start(&["send", &live.0], Some(b"bye\n".to_vec())).finish();
    assert!(send.status.success(), "send failed: {}", send.stderr);
    assert!(echo.finish().status.success());
}

#[test]
fn errors_are_one_line_and_a_failure_status() {
    let missing = Name::new("missing");
    for args in [
        vec!["inspect", missing.0.as_str()],
        vec!["ping", missing.0.as_str(), "--count", "1"],
        vec!["recv", missing.0.as_str()],
        vec!["inspect", "not/a/name"],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let expected_prefix = format!("hqq {}: ", args[0]);
        assert!(
            out.stderr.starts_with(&expected_prefix),
            "{args:?}: {:?}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {:?}", out.stderr);
    }
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "echo", "ping", "send", "recv", "inspect", "stat", "list", "clean", "bench",
    ] {
        let out = run(&[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help failed");
        assert!(
            out.stdout().contains(&format!("Usage: hqq {sub}")),
            "{sub} --help: {}",
            out.stdout()
        );
    }
}

#[test]
fn interrupting_the_creator_removes_the_segment() {
    let name = Name::new("sigint");
    let echo = start(&["echo", &name.0, "--create"], None);
    name.wait_ready();
    let deadline = Instant::now() + WATCHDOG;
    while name.published() == 0 {
        assert!(
            Instant::now() < deadline,
            "the echo never published statistics"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = libc::pid_t::try_from(echo.child.id()).expect("pid fits");
    // SAFETY: sends SIGINT to our own child, which is still running (it
    // waits for messages forever).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let echo = echo.finish();
    assert_eq!(echo.status.code(), Some(128 + libc::SIGINT));
    assert!(
        !std::path::Path::new(&name.path()).exists(),
        "the segment outlived its creator"
    );
    assert_eq!(name.published(), 0, "its statistics outlived it");
}

/// A segment made by a hostile process: a ready superblock announcing 2
/// slots of 32 GiB. The tools adopt an existing segment's configuration,
/// so they must refuse it by their limits with one line and status 1,
/// instead of aborting on a 32 GiB allocation.
#[test]
fn absurd_announced_sizes_fail_cleanly() {
    let name = Name::new("absurd");
    let mut page = vec![0u8; 4096];
    let words: [(usize, u64); 4] = [(0, 0x4851_515f_5354_4c31), (1, 2), (5, 2), (6, 32 << 30)];
    for (index, value) in words {
        page[index * 8..index * 8 + 8].copy_from_slice(&value.to_le_bytes());
    }
    std::fs::write(name.path(), page).expect("write the hostile segment");
    for command in ["echo", "recv"] {
        let out = run(&[command, &name.0]);
        assert_eq!(out.status.code(), Some(1), "{command}: {}", out.stderr);
        assert!(
            out.stderr.contains("buffer size 34359738368 exceeds"),
            "{command}: {:?}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{command}: {:?}", out.stderr);
    }
}

/// The one process of `report` (a `hqq stat --json` object) with `pid`.
fn stat_of(report: &serde_json::Value, pid: u32) -> &serde_json::Value {
    report["processes"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["pid"] == u64::from(pid)))
        .unwrap_or_else(|| panic!("pid {pid} not in {report}"))
}

#[test]
fn stat_shows_what_each_process_published() {
    let name = &Name::new("stat");
    let echo = start_small_echo(name, &[]);
    let lines = ["one", "three", "fifteen", "x", "seventeen"];
    // `hqq send` sends each line with its newline.
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let input = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let send = start(&["send", &name.0], Some(input.into_bytes())).finish();
    assert!(send.status.success(), "send failed: {}", send.stderr);
    // The echo has echoed all five once its tx counters say so.
    let echo_pid = echo.child.id();
    let deadline = Instant::now() + WATCHDOG;
    let report = loop {
        let out = run(&["stat", &name.0, "--json"]);
        assert!(out.status.success(), "stat failed: {}", out.stderr);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
        if stat_of(&report, echo_pid)["tx"]["packets"] == 5 {
            break report;
        }
        assert!(Instant::now() < deadline, "the echo never sent 5: {report}");
        std::thread::sleep(Duration::from_millis(5));
    };
    let echo_stat = stat_of(&report, echo_pid);
    assert_eq!(echo_stat["role"], "primary");
    assert_eq!(echo_stat["owner"], "alive");
    assert_eq!(echo_stat["tx"]["bytes"], bytes as u64);
    // The five lines and `hqq send`'s end of stream, which is a packet
    // handed to the echo, not an error.
    assert_eq!(echo_stat["rx"]["packets"], 6, "{report}");
    assert_eq!(echo_stat["rx"]["errors"], 0, "{report}");
    assert_eq!(echo_stat["rx"]["bytes"], bytes as u64);
    assert!(echo_stat["advanced"].is_null());
    // The sender exited and took its statistics along: nobody on the
    // secondary side publishes, and the report says so.
    assert_eq!(report["processes"].as_array().map(Vec::len), Some(1));
    let notes = report["notes"].to_string();
    assert!(notes.contains("no secondary process publishes"), "{notes}");

    // Watching: two samples, the second with rates over the interval.
    let watch = run(&[
        "stat",
        &name.0,
        "--watch",
        "--json",
        "--interval",
        "50ms",
        "--count",
        "2",
    ]);
    assert!(
        watch.status.success(),
        "stat --watch failed: {}",
        watch.stderr
    );
    let samples: Vec<serde_json::Value> = watch
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(samples.len(), 2);
    assert!(samples[0]["interval_seconds"].is_null());
    assert!(samples[1]["interval_seconds"]
        .as_f64()
        .is_some_and(|s| s > 0.0));
    assert_eq!(
        stat_of(&samples[1], echo_pid)["tx"]["packets_per_second"],
        0.0
    );

    // Text, and inspect lists the published block.
    let text = run(&["stat", &name.0]).stdout();
    assert!(
        text.contains(&format!("pid {echo_pid} primary alive")),
        "{text}"
    );
    let inspect = run(&["inspect", &name.0]).stdout();
    assert!(
        inspect.contains(&format!("{}.stat-{echo_pid}: pid {echo_pid}", name.0)),
        "{inspect}"
    );
}

#[test]
fn stat_names_processes_that_publish_nothing() {
    let name = &Name::new("stat-silent");
    let echo = start_small_echo(name, &["--no-stats"]);
    let echo_pid = echo.child.id();
    // Registered in the process table, publishing nothing (like a Go peer).
    let deadline = Instant::now() + WATCHDOG;
    let report = loop {
        let out = run(&["stat", &name.0, "--json"]);
        assert!(out.status.success(), "stat failed: {}", out.stderr);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
        if report["notes"]
            .to_string()
            .contains(&format!("pid {echo_pid} (primary)"))
        {
            break report;
        }
        assert!(Instant::now() < deadline, "the echo never showed: {report}");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(report["processes"].as_array().map(Vec::len), Some(0));
    assert!(report["notes"]
        .to_string()
        .contains("no primary process publishes"));
    // A segment a Go primary made (no process table): what is known.
    let go = Name::new("stat-go");
    let image = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/golden/std-4x64-2-primary-wrote-hello.bin"
    );
    std::fs::copy(image, go.path()).expect("copy the golden segment");
    let out = run(&["stat", &go.0]);
    assert!(out.status.success(), "stat failed: {}", out.stderr);
    let text = out.stdout();
    assert!(text.contains("0 process(es) publish statistics"), "{text}");
    assert!(text.contains("no process table (a Go primary)"), "{text}");
    // A segment nobody made: a clean error.
    let missing = run(&["stat", "hqq-cli-test-no-such-segment"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );
}

#[test]
fn stat_reports_a_scribbled_block_without_failing() {
    let name = &Name::new("stat-garbage");
    let echo = start_small_echo(name, &[]);
    let stat_path = format!("{}.stat-{}", name.path(), echo.child.id());
    let deadline = Instant::now() + WATCHDOG;
    while !std::path::Path::new(&stat_path).exists() {
        assert!(Instant::now() < deadline, "no {stat_path}");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A wrong version word, then garbage over the whole block.
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&stat_path)
        .expect("open");
    file.write_all_at(&99u64.to_le_bytes(), 8).expect("write");
    let out = run(&["stat", &name.0, "--json"]);
    assert!(out.status.success(), "stat failed: {}", out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let error = report["processes"][0]["error"].to_string();
    assert!(error.contains("version is 99"), "{report}");
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    file.write_all_at(&garbage, 0).expect("write");
    let out = run(&["stat", &name.0]);
    assert!(out.status.success(), "stat failed: {}", out.stderr);
    assert!(out.stdout().contains("unreadable"), "{}", out.stdout());
}
