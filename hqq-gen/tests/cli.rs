//! The `hqq-gen` command line: exit codes and messages.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_hqq-gen");
const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/spec/hqq.yaml");

fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hqq-gen-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("temp file");
    path
}

#[test]
fn check_accepts_the_core_spec() {
    let out = Command::new(BIN)
        .args(["check", SPEC])
        .output()
        .expect("run hqq-gen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_rejects_a_duplicate_opcode_and_prints_its_line() {
    let source = std::fs::read_to_string(SPEC).expect("spec");
    // A second opcode 0x04 appended at the end of the file.
    let bad = format!("{source}\n  - code: 0x04\n    name: ConnCopyAgain\n    direction: both\n");
    let line = bad.lines().count() - 2;
    let path = temp_file("duplicate.yaml", &bad);
    let out = Command::new(BIN)
        .arg("check")
        .arg(&path)
        .output()
        .expect("run hqq-gen");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{}:{line}:5: opcode `ConnCopyAgain`: duplicate opcode code 0x04: `ConnCopyAgain` reuses the code of `ConnCopy`",
        path.display()
    );
    assert!(
        stderr.contains(&expected),
        "expected {expected}\ngot {stderr}"
    );
}

#[test]
fn rust_and_doc_write_their_files() {
    let rust = temp_file("protocol.rs", "");
    let doc = temp_file("protocol.md", "");
    for (cmd, out) in [("rust", &rust), ("doc", &doc)] {
        let status = Command::new(BIN)
            .args([cmd, SPEC, "-o"])
            .arg(out)
            .status()
            .expect("run hqq-gen");
        assert!(status.success(), "hqq-gen {cmd}");
    }
    assert!(std::fs::read_to_string(&rust)
        .expect("rust")
        .contains("pub struct ConnCopy"));
    let expected =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/spec/PROTOCOL.md"))
            .expect("md");
    assert_eq!(std::fs::read_to_string(&doc).expect("doc"), expected);
}
