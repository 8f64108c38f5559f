//! `hqq recv --spec FILE`: application packets a peer sends (here the test,
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
struct Recv {
    child: Child,
    name: String,
}

impl Drop for Recv {
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

#[test]
fn recv_prints_application_packets_by_name() {
    let name = format!("hqq-cli-app-spec-{}", std::process::id());
    let child = Command::new(env!("CARGO_BIN_EXE_hqq"))
        .args([
            "recv",
            &name,
            "--create",
            "--slots",
            "8",
            "--buffer-size",
            "64",
        ])
        .args(["--count", "3", "--trace", "--spec", KV_SPEC])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hqq recv");
    let mut recv = Recv { child, name };
    let link = open(&recv.name);
    let put = Packet::new(0x80, [42, 3, 0b11, 0, 0, 0, 0]);
    link.send_packet(put, b"abc").expect("send Put");
    link.send(b"between").expect("send a message");
    let stats = Packet::new(0x83, [1, 2, 3, (-4i64) as u64, 0, 0, 0]);
    link.send_packet(stats, &[]).expect("send Stats");

    let deadline = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = recv.child.try_wait().expect("wait for hqq") {
            break status;
        }
        assert!(Instant::now() < deadline, "hqq recv did not finish");
        std::thread::sleep(Duration::from_millis(5));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let child = &mut recv.child;
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
    assert!(status.success(), "hqq recv failed: {stderr}");
    assert_eq!(
        stdout,
        "Put { key: 42, len: 3, put_flags: Create | Replace }\nbetween\n\
         Stats { shard: 1, port: 2, keys: 3, delta: -4, read_only: false }\n"
    );
    assert!(stderr.contains("Stats { shard: 1"), "trace: {stderr}");
}
