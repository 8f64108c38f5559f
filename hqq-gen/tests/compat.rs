//! `hqq-gen compat`: a table of spec pairs (a base spec and one edit of it)
//! with the changes each must report, and the command's exit codes.

use std::process::Command;

use hqq_gen::{compare, Spec};

const BASE: &str = "\
protocol: { name: Store, layer: application, version: { major: 1, minor: 0 } }
enums:
  - name: Status
    values:
      - { name: Ok, value: 0 }
      - { name: Missing, value: 1 }
flags:
  - name: PutFlags
    bits:
      - { name: Create, bit: 0 }
      - { name: Replace, bit: 1 }
opcodes:
  - code: 0x80
    name: Put
    direction: primary->secondary
    operands:
      - { name: key, type: u64 }
      - { name: len, type: u64 }
      - { name: put_flags, type: PutFlags }
  - code: 0x81
    name: Reply
    direction: secondary->primary
    operands:
      - { name: key, type: u64 }
      - { name: status, type: Status }
methods:
  - { id: 1, name: get }
";

/// One spec pair: the base with `edits` applied (each `from` -> `to`, which
/// must occur), the changes the report must list (exactly), and whether the
/// pair passes.
struct Case {
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    changes: &'static [&'static str],
    allowed: bool,
}

const MAJOR_2: (&str, &str) = ("major: 1, minor: 0", "major: 2, minor: 0");
const MINOR_1: (&str, &str) = ("major: 1, minor: 0", "major: 1, minor: 1");

const CASES: &[Case] = &[
    Case {
        name: "identical",
        edits: &[],
        changes: &[],
        allowed: true,
    },
    Case {
        name: "doc-only edit",
        edits: &[("name: Missing, value: 1", "name: Missing, value: 1, doc: No such key.")],
        changes: &[],
        allowed: true,
    },
    Case {
        name: "opcode removed",
        edits: &[("  - code: 0x81\n    name: Reply\n    direction: secondary->primary\n    operands:\n      - { name: key, type: u64 }\n      - { name: status, type: Status }\n", "")],
        changes: &["breaking: opcode Reply (0x81): removed"],
        allowed: false,
    },
    Case {
        name: "opcode renumbered",
        edits: &[("code: 0x81", "code: 0x85")],
        changes: &["breaking: opcode Reply (0x81): renumbered to 0x85"],
        allowed: false,
    },
    Case {
        name: "opcode byte reused",
        edits: &[("name: Reply", "name: Answer")],
        changes: &[
            "breaking: opcode Reply (0x81): removed",
            "breaking: opcode Reply (0x81): opcode byte reused by Answer",
            "compatible: opcode Answer (0x81): added",
        ],
        allowed: false,
    },
    Case {
        name: "opcode added, minor version up",
        edits: &[MINOR_1, ("methods:", "  - { code: 0x82, name: Scan, direction: both }\nmethods:")],
        changes: &["compatible: opcode Scan (0x82): added"],
        allowed: true,
    },
    Case {
        name: "operand moved",
        edits: &[("      - { name: key, type: u64 }\n      - { name: len, type: u64 }", "      - { name: len, type: u64 }\n      - { name: key, type: u64 }")],
        changes: &[
            "breaking: opcode Put (0x80): operand 0 `key` moved to operand 1",
            "breaking: opcode Put (0x80): operand 1 `len` moved to operand 0",
        ],
        allowed: false,
    },
    Case {
        name: "operand retyped",
        edits: &[("{ name: status, type: Status }", "{ name: status, type: u64 }")],
        changes: &["breaking: opcode Reply (0x81): operand 1 `status` retyped from Status to u64"],
        allowed: false,
    },
    Case {
        name: "operand renamed",
        edits: &[("{ name: len, type: u64 }", "{ name: length, type: u64 }")],
        changes: &["compatible: opcode Put (0x80): operand 1 `len` renamed to `length`"],
        allowed: true,
    },
    Case {
        name: "operand added",
        edits: &[("{ name: status, type: Status }", "{ name: status, type: Status }\n      - { name: extra, type: u64 }")],
        changes: &["breaking: opcode Reply (0x81): operand 2 `extra` added (old decoders reject a non-zero unused operand; add a new opcode instead)"],
        allowed: false,
    },
    Case {
        name: "operand gains a rule",
        edits: &[("{ name: len, type: u64 }", "{ name: len, type: u64, rules: [{ check: len >= 1 }] }")],
        changes: &["breaking: opcode Put (0x80): operand 1 `len` gained rule `len >= 1`"],
        allowed: false,
    },
    Case {
        name: "enum value changed",
        edits: &[("name: Missing, value: 1", "name: Missing, value: 2")],
        changes: &["breaking: enum Status: value Missing changed from 0x1 to 0x2"],
        allowed: false,
    },
    Case {
        name: "enum value reused",
        edits: &[("name: Missing, value: 1", "name: Gone, value: 1")],
        changes: &[
            "breaking: enum Status: value Missing (0x1) removed",
            "breaking: enum Status: value 0x1 of Missing reused by Gone",
            "compatible: enum Status: value Gone (0x1) added",
        ],
        allowed: false,
    },
    Case {
        name: "enum value added",
        edits: &[("name: Missing, value: 1 }", "name: Missing, value: 1 }\n      - { name: Busy, value: 2 }")],
        changes: &["compatible: enum Status: value Busy (0x2) added"],
        allowed: true,
    },
    Case {
        name: "flag bit changed",
        edits: &[("name: Replace, bit: 1", "name: Replace, bit: 2")],
        changes: &["breaking: flag set PutFlags: bit Replace changed from 0x1 to 0x2"],
        allowed: false,
    },
    Case {
        name: "flag bit reused",
        edits: &[("name: Replace, bit: 1", "name: Overwrite, bit: 1")],
        changes: &[
            "breaking: flag set PutFlags: bit Replace (0x1) removed",
            "breaking: flag set PutFlags: bit 0x1 of Replace reused by Overwrite",
            "compatible: flag set PutFlags: bit Overwrite (0x1) added",
        ],
        allowed: false,
    },
    Case {
        name: "flag set gains a rule",
        edits: &[("name: Replace, bit: 1 }", "name: Replace, bit: 1 }\n    rules:\n      - exclusive: [Create, Replace]")],
        changes: &["breaking: flag set PutFlags: gained rule `Create and Replace are exclusive`"],
        allowed: false,
    },
    Case {
        name: "method id reused",
        edits: &[("{ id: 1, name: get }", "{ id: 1, name: fetch }")],
        changes: &[
            "breaking: methods: method get (0x1) removed",
            "breaking: methods: method 0x1 of get reused by fetch",
            "compatible: methods: method fetch (0x1) added",
        ],
        allowed: false,
    },
    Case {
        name: "method added",
        edits: &[("{ id: 1, name: get }", "{ id: 1, name: get }\n  - { id: 2, name: put }")],
        changes: &["compatible: methods: method put (0x2) added"],
        allowed: true,
    },
    Case {
        name: "breaking change with a new major version",
        edits: &[MAJOR_2, ("code: 0x81", "code: 0x85")],
        changes: &["breaking: opcode Reply (0x81): renumbered to 0x85"],
        allowed: true,
    },
    Case {
        name: "direction widened",
        edits: &[("direction: secondary->primary", "direction: both")],
        changes: &["compatible: opcode Reply (0x81): direction secondary->primary -> both"],
        allowed: true,
    },
];

fn edited(case: &Case) -> String {
    case.edits.iter().fold(BASE.to_owned(), |text, (from, to)| {
        assert!(
            text.contains(from),
            "{}: `{from}` not in the spec",
            case.name
        );
        text.replacen(from, to, 1)
    })
}

#[test]
fn every_spec_pair_reports_its_changes() {
    let old = Spec::parse(BASE, "old.yaml").unwrap_or_else(|e| panic!("{e}"));
    for case in CASES {
        let new =
            Spec::parse(&edited(case), "new.yaml").unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let report = compare(&old, &new);
        let lines: Vec<String> = report.changes.iter().map(ToString::to_string).collect();
        assert_eq!(lines, case.changes, "{}", case.name);
        assert_eq!(report.is_allowed(), case.allowed, "{}: {report}", case.name);
    }
}

#[test]
fn compat_exits_non_zero_on_a_breaking_change_only() {
    let dir = std::env::temp_dir().join(format!("hqq-gen-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let old = dir.join("old.yaml");
    std::fs::write(&old, BASE).expect("old spec");
    for (case, file) in [(&CASES[3], "renumbered.yaml"), (&CASES[5], "added.yaml")] {
        let new = dir.join(file);
        std::fs::write(&new, edited(case)).expect("new spec");
        let out = Command::new(env!("CARGO_BIN_EXE_hqq-gen"))
            .arg("compat")
            .args([&old, &new])
            .output()
            .expect("run hqq-gen");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.success(),
            case.allowed,
            "{}: {stdout}",
            case.name
        );
        assert!(stdout.contains(case.changes[0]), "{stdout}");
    }
}
