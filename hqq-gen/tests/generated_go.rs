//! The generated Go file: a golden-file test of the output for
//! `tests/data/kv.yaml` (rewrite it with
//! `HQQ_BLESS=1 cargo test -p hqq-gen --test generated_go`), and, when a Go
//! toolchain is on PATH, `gofmt -l`, `go vet` and `tests/go/golden_test.go`
//! (the golden segment images decoded by the Go file of spec/hqq.yaml).
//! Without Go the toolchain test passes with a note, unless
//! `HQQ_REQUIRE_GO` is set (CI installs Go and sets it).

use std::path::{Path, PathBuf};
use std::process::Command;

use hqq_gen::{emit_go, GoOptions, Spec};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

fn spec(path: &str, name: &str) -> Spec {
    let source = std::fs::read_to_string(Path::new(MANIFEST).join(path)).expect("the spec");
    Spec::parse(&source, name).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn generated_go_matches_the_golden_file() {
    let code = emit_go(
        &spec("tests/data/kv.yaml", "hqq-gen/tests/data/kv.yaml"),
        &GoOptions::default(),
    );
    let expected_path = Path::new(MANIFEST).join("tests/data/kv.go");
    if std::env::var_os("HQQ_BLESS").is_some() {
        std::fs::write(&expected_path, &code).expect("write kv.go");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert!(
        code == expected,
        "generated Go for kv.yaml differs from {}; if the change is intended, run\n  \
         HQQ_BLESS=1 cargo test -p hqq-gen --test generated_go\n--- generated ---\n{code}",
        expected_path.display()
    );
}

#[test]
fn the_package_name_is_an_option() {
    let kv = spec("tests/data/kv.yaml", "kv.yaml");
    assert!(emit_go(&kv, &GoOptions::default()).contains("\npackage keyvalue\n"));
    let options = GoOptions {
        package: Some("kvproto".into()),
    };
    assert!(emit_go(&kv, &options).contains("\npackage kvproto\n"));
}

/// Runs a Go tool in `dir` offline (no toolchain or module downloads).
fn go(dir: &Path, program: &Path, args: &[&str]) -> String {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("go-cache");
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOCACHE", cache)
        .env(
            "HQQ_GOLDEN",
            Path::new(MANIFEST).join("../tests/data/golden"),
        )
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{} {args:?} failed:\n{text}",
        program.display()
    );
    text
}

/// A Go module in the test's temporary directory: `files` (name, contents)
/// and a go.mod.
fn module(name: &str, files: &[(&str, String)]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("generated_go_{name}"));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    for (file, contents) in files {
        std::fs::write(dir.join(file), contents).expect("write a Go file");
    }
    let go_mod = format!("module example.invalid/{name}\n\ngo 1.21\n");
    std::fs::write(dir.join("go.mod"), go_mod).expect("go.mod");
    dir
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(MANIFEST).join(path)).expect("a test file")
}

#[test]
fn go_toolchain_formats_vets_and_tests_the_generated_files() {
    let Ok(root) = Command::new("go").args(["env", "GOROOT"]).output() else {
        assert!(
            std::env::var_os("HQQ_REQUIRE_GO").is_none(),
            "HQQ_REQUIRE_GO is set but `go` is not on PATH"
        );
        eprintln!("no Go toolchain on PATH: only the golden-file test of the Go output ran");
        return;
    };
    let gofmt = Path::new(String::from_utf8_lossy(&root.stdout).trim()).join("bin/gofmt");
    let core = emit_go(
        &spec("spec/hqq.yaml", "spec/hqq.yaml"),
        &GoOptions::default(),
    );
    let core = module(
        "hqq",
        &[
            ("hqq.go", core),
            ("golden_test.go", read("tests/go/golden_test.go")),
        ],
    );
    let kv = module(
        "keyvalue",
        &[
            ("kv.go", read("tests/data/kv.go")),
            ("kv_test.go", read("tests/go/kv_test.go")),
        ],
    );
    let go_bin = Path::new("go");
    for dir in [&core, &kv] {
        let unformatted = go(dir, &gofmt, &["-l", "."]);
        assert!(
            unformatted.trim().is_empty(),
            "gofmt would change: {unformatted}"
        );
        go(dir, go_bin, &["vet", "./..."]);
        let report = go(dir, go_bin, &["test", "-count=1", "./..."]);
        assert!(report.contains("ok"), "{report}");
    }
}

#[test]
fn names_the_go_file_defines_itself_are_refused() {
    let spec = Spec::parse(
        "protocol: { name: App, layer: application, version: { major: 1, minor: 0 } }\n\
         opcodes:\n  - { code: 0x80, name: Limits, direction: both }\n",
        "app.yaml",
    )
    .unwrap();
    assert_eq!(
        hqq_gen::emit_go::name_clashes(&spec),
        ["`Limits` is a name the Go file defines itself"]
    );
    let core = spec_file("spec/hqq.yaml");
    assert!(hqq_gen::emit_go::name_clashes(&core).is_empty());
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("limits.yaml");
    std::fs::write(
        &file,
        "protocol: { name: App, layer: application, version: { major: 1, minor: 0 } }\n\
         opcodes:\n  - { code: 0x80, name: Limits, direction: both }\n",
    )
    .expect("a spec file");
    let out = Command::new(env!("CARGO_BIN_EXE_hqq-gen"))
        .arg("go")
        .arg(&file)
        .output()
        .expect("run hqq-gen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("cannot generate Go"),
        "{stderr}"
    );
}

fn spec_file(path: &str) -> Spec {
    spec(path, path)
}
