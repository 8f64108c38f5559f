//! `hqq recv/echo --spec FILE`: application packets a peer sends (here the test,
//! through hqq-runtime) are printed by name, between ordinary messages, and
//! `--trace` shows them by name too. The child is killed if it overstays.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hqq_runtime::link::{LinkConfig, StandardLink};
use hqq_runtime::Packet;

/// Longest the `hqq` process may run (debug build, loaded machine).
const WATCHDOG: Duration = Duration::from_secs(60);

const KV_SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../hqq-gen/tests/data/kv.yaml");

/// Kills the child if the test fails before it exits, and removes the segment.
struct Process {
    child: Child,
    name: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(format!("/dev/shm/{}", self.name));
    }
}

/// Opens the segment `recv` creates, retrying until it is ready.
fn open(name: &str) -> StandardLink {
    let deadline = Instant::now() + WATCHDOG;
    let mut config = LinkConfig::new();
    config.slots(8).buffer_size(64);
    loop {
        match StandardLink::open(name, &config) {
            Ok(link) => return link,
            Err(e) => assert!(Instant::now() < deadline, "cannot open {name}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts `hqq args...` (which creates segment `name`) and opens the link.
fn start(name: &str, args: &[&str]) -> (Process, StandardLink) {
    let child = Command::new(env!("CARGO_BIN_EXE_hqq"))
        .args(args)
        .args([name, "--create", "--slots", "8", "--buffer-size", "64"])
        .args(["--spec", KV_SPEC])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hqq");
    let process = Process {
        child,
        name: name.to_owned(),
    };
    let link = open(name);
    (process, link)
}

/// Waits for the process (killing it after [`WATCHDOG`]); its success and
/// its stdout and stderr.
fn finish(process: &mut Process) -> (bool, String, String) {
    let deadline = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = process.child.try_wait().expect("wait for hqq") {
            break status;
        }
        assert!(Instant::now() < deadline, "hqq did not finish");
        std::thread::sleep(Duration::from_millis(5));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let child = &mut process.child;
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    (status.success(), stdout, stderr)
}

#[test]
fn recv_prints_application_packets_by_name() {
    let name = format!("hqq-cli-app-spec-recv-{}", std::process::id());
    let (mut recv, link) = start(&name, &["recv", "--count", "3", "--trace"]);
    let put = Packet::new(0x80, [42, 3, 0b11, 0, 0, 0, 0]);
    link.send_packet(put, b"abc").expect("send Put");
    link.send(b"between").expect("send a message");
    let stats = Packet::new(0x83, [1, 2, 3, (-4i64) as u64, 0, 0, 0]);
    link.send_packet(stats, &[]).expect("send Stats");
    let (ok, stdout, stderr) = finish(&mut recv);
    assert!(ok, "hqq recv failed: {stderr}");
    assert_eq!(
        stdout,
        "Put { key: 42, len: 3, put_flags: Create | Replace }\nbetween\n\
         Stats { shard: 1, port: 2, keys: 3, delta: -4, read_only: false }\n"
    );
    assert!(stderr.contains("Stats { shard: 1"), "trace: {stderr}");
}

#[test]
fn recv_fails_on_an_application_packet_the_spec_rejects() {
    let name = format!("hqq-cli-app-spec-bad-{}", std::process::id());
    let (mut recv, link) = start(&name, &["recv", "--count", "1"]);
    // Sync without Replace breaks a rule of PutFlags.
    link.send_packet(Packet::new(0x80, [1, 0, 0b10000, 0, 0, 0, 0]), &[])
        .expect("send Put");
    let (ok, _, stderr) = finish(&mut recv);
    assert!(!ok);
    assert!(
        stderr.contains("breaks `Sync requires Replace`"),
        "{stderr}"
    );
}

#[test]
fn echo_prints_application_packets_and_echoes_messages() {
    let name = format!("hqq-cli-app-spec-echo-{}", std::process::id());
    let (mut echo, link) = start(&name, &["echo", "--count", "1"]);
    link.send_packet(Packet::new(0x81, [9, 1, 0x0003, 0, 0, 0, 0]), &[])
        .expect("send Reply");
    link.send(b"ping").expect("send a message");
    let mut buf = [0u8; 64];
    let len = link
        .recv_timeout(&mut buf, WATCHDOG)
        .expect("the echo of the message");
    assert_eq!(&buf[..len], b"ping");
    let (ok, _, stderr) = finish(&mut echo);
    assert!(ok, "hqq echo failed: {stderr}");
    assert!(
        stderr.contains("Reply { key: 9, status: Missing, version: 0.3 }"),
        "{stderr}"
    );
}
