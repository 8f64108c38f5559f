//! `imports:` an application spec uses another spec's enums and flag sets
//! (here a core-layer spec, like spec/hqq.yaml); checks and error positions
//! span files.

use std::path::PathBuf;

use hqq_gen::{emit_c, generate_rust, EmitOptions, Spec};

const CORE: &str = "\
protocol: { name: Base, layer: core, version: { major: 1, minor: 0 } }
packet: { size: 64, words: 8, byte_order: little, opcode: low byte of word 0, operands: 7 }
ranges: { core: [{ first: 0, last: 0x7F }], application: { first: 0x80, last: 0xEF } }
enums:
  - name: ErrorCode
    values:
      - { name: InvalidOp, value: 6 }
flags:
  - name: Features
    bits:
      - { name: LargeCopy, bit: 0 }
";

const APP: &str = "\
protocol: { name: App, layer: application, version: { major: 1, minor: 0 } }
imports:
  - { path: core.yaml }
opcodes:
  - code: 0x80
    name: Failed
    direction: both
    operands:
      - { name: code, type: ErrorCode }
      - { name: features, type: Features }
";

/// A fresh directory holding `files`.
fn dir(test: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hqq-gen-imports-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("a spec file");
    }
    dir
}

fn errors(dir: &std::path::Path, file: &str) -> Vec<String> {
    match Spec::read(&dir.join(file)) {
        Ok(_) => panic!("{file} was accepted"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn imported_types_are_usable_and_core_ones_reexported() {
    let dir = dir("ok", &[("core.yaml", CORE), ("app.yaml", APP)]);
    let spec = Spec::read(&dir.join("app.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.enums[0].name, "ErrorCode");
    let from = spec.enums[0].imported.as_ref().expect("imported");
    assert!(from.file.ends_with("core.yaml") && from.protocol == "Base");
    let rust = generate_rust(&spec, &EmitOptions::default());
    assert!(
        rust.contains("pub use ::hqq::runtime::protocol::ErrorCode;"),
        "{rust}"
    );
    assert!(
        rust.contains("pub use ::hqq::runtime::protocol::Features;"),
        "{rust}"
    );
    assert!(!rust.contains("pub enum ErrorCode"), "{rust}");
    // C has no shared runtime: the header carries its own copy.
    let c = emit_c(&spec);
    assert!(
        c.contains("#define APP_ERROR_CODE_INVALID_OP UINT64_C(0x06)"),
        "{c}"
    );
    let failed = hqq_gen::interpret::decode(&spec, [0x80, 6, 1, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(
        failed.to_string(),
        "Failed { code: InvalidOp, features: LargeCopy }"
    );
}

#[test]
fn errors_in_an_imported_spec_name_its_file_and_the_import() {
    let bad_core = CORE.replace(
        "value: 6",
        "value: 6 }\n      - { name: InvalidOp, value: 7",
    );
    let dir = dir("bad", &[("core.yaml", &bad_core), ("app.yaml", APP)]);
    let errors = errors(&dir, "app.yaml");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("app.yaml:3:") && e.contains("does not check")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("core.yaml:8:") && e.contains("duplicate value name")),
        "{errors:?}"
    );
}

#[test]
fn a_missing_import_and_a_cycle_are_errors() {
    let dir = dir(
        "cycle",
        &[
            ("missing.yaml", &APP.replace("core.yaml", "nowhere.yaml")),
            ("a.yaml", &APP.replace("core.yaml", "b.yaml")),
            (
                "b.yaml",
                &CORE.replace("enums:", "imports: [{ path: a.yaml }]\nenums:"),
            ),
        ],
    );
    let missing = errors(&dir, "missing.yaml");
    assert!(
        missing.iter().any(|e| e.contains("cannot read the spec")),
        "{missing:?}"
    );
    let cycle = errors(&dir, "a.yaml");
    assert!(cycle.iter().any(|e| e.contains("a cycle")), "{cycle:?}");
}

#[test]
fn a_local_type_may_not_shadow_an_imported_one() {
    let app = APP.replace(
        "opcodes:",
        "enums:\n  - name: ErrorCode\n    values: [{ name: Mine, value: 1 }]\nopcodes:",
    );
    let dir = dir("shadow", &[("core.yaml", CORE), ("app.yaml", &app)]);
    let errors = errors(&dir, "app.yaml");
    assert!(
        errors.iter().any(|e| e.contains("app.yaml:5:")
            && e.contains("duplicate type name `ErrorCode`, first defined at imports[0] (")
            && e.contains("core.yaml) (line 3)")),
        "{errors:?}"
    );
}
