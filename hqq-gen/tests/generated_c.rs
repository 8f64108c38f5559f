//! The generated C header: gcc compiles it with `-Wall -Wextra -Werror
//! -std=c11 -pedantic` (the core spec's and an application spec's header in
//! one translation unit), and `tests/c/golden_packets.c` checks its codecs
//! against the packets of the Go implementation's golden segment images.

use std::path::{Path, PathBuf};
use std::process::Command;

use hqq_gen::{emit_c, Spec};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

fn header(spec: &str, file: &str, dir: &Path) {
    let spec = Spec::read(&Path::new(MANIFEST).join(spec)).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join(file), emit_c(&spec)).expect("write the header");
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

#[test]
fn gcc_compiles_the_header_and_its_codecs_match_the_golden_packets() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("generated_c");
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    header("spec/hqq.yaml", "hqq.h", &dir);
    header("tests/data/kv.yaml", "kv.h", &dir);
    let program = dir.join("golden_packets");
    run(Command::new("gcc")
        .args([
            "-Wall",
            "-Wextra",
            "-Werror",
            "-std=c11",
            "-pedantic",
            "-O1",
        ])
        .arg("-I")
        .arg(&dir)
        .arg(Path::new(MANIFEST).join("tests/c/golden_packets.c"))
        .arg("-o")
        .arg(&program));
    let report = run(Command::new(&program).arg(Path::new(MANIFEST).join("../tests/data/golden")));
    assert!(report.contains("ok: 16 golden packets"), "{report}");
}

#[test]
fn the_header_names_everything_with_the_protocol_prefix() {
    let spec = Spec::read(&Path::new(MANIFEST).join("tests/data/kv.yaml")).unwrap();
    let code = emit_c(&spec);
    assert!(code.contains("#define KEY_VALUE_OP_PUT 0x80u"));
    assert!(code.contains("#define KEY_VALUE_PUT_FLAGS_SYNC (UINT64_C(1) << 4)"));
    assert!(code.contains("typedef struct key_value_reply {"));
    assert!(code.contains("#define KEY_VALUE_METHOD_PUT UINT64_C(2)"));
    for line in code.lines().filter(|l| l.starts_with("static inline")) {
        let name = line.split('(').next().unwrap_or(line);
        let name = name.rsplit([' ', '*']).next().unwrap_or(name);
        assert!(name.starts_with("key_value_"), "{line}");
    }
}

#[test]
fn names_the_header_defines_itself_are_refused() {
    let spec = Spec::parse(
        "protocol: { name: App, layer: application, version: { major: 1, minor: 0 } }\n\
         opcodes:\n  - { code: 0x80, name: Result, direction: both }\n  - { code: 0x81, name: Fine, direction: both }\n",
        "app.yaml",
    )
    .unwrap();
    assert_eq!(
        hqq_gen::emit_c::name_clashes(&spec),
        ["`Result` would be `app_result`, which the C header defines itself"]
    );
    assert!(hqq_gen::emit_go::name_clashes(&spec).is_empty());
    assert!(hqq_gen::emit_c::name_clashes(
        &Spec::read(&Path::new(MANIFEST).join("spec/hqq.yaml")).unwrap()
    )
    .is_empty());
}
