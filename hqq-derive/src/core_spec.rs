//! The core protocol as the macros see it: `spec/hqq.yaml`, parsed with
//! hqq-gen once per compiler process. Opcode checks read the ranges and
//! opcode names from here, never from a table of their own.

use std::sync::OnceLock;

use hqq_gen::Spec;

/// `spec/hqq.yaml`; `include_str!` also makes this crate rebuild when it changes.
const SOURCE: &str = include_str!("../../spec/hqq.yaml");

/// The checked core spec.
pub fn core() -> &'static Spec {
    static CORE: OnceLock<Spec> = OnceLock::new();
    CORE.get_or_init(|| {
        Spec::parse(SOURCE, "spec/hqq.yaml")
            .unwrap_or_else(|e| panic!("spec/hqq.yaml must pass hqq-gen's checks:\n{e}"))
    })
}

/// Why `code` cannot be an application opcode, or `None` if it can.
pub fn application_opcode_problem(code: u8) -> Option<String> {
    let spec = core();
    let app = &spec.ranges.application;
    if app.contains(&code) {
        return None;
    }
    let fix = application_range_hint();
    if let Some(op) = spec.opcodes.iter().find(|op| op.code == code) {
        return Some(format!(
            "opcode 0x{code:02X} is the core opcode {}; {fix}",
            op.name
        ));
    }
    match spec.ranges.core.iter().find(|r| r.contains(&code)) {
        Some(r) => Some(format!(
            "opcode 0x{code:02X} is in the core protocol's range 0x{:02X}..=0x{:02X}; {fix}",
            r.start(),
            r.end()
        )),
        None => Some(format!(
            "opcode 0x{code:02X} is outside the application range; {fix}"
        )),
    }
}

/// How to pick an application opcode, for messages.
pub fn application_range_hint() -> String {
    let app = &core().ranges.application;
    format!(
        "application opcodes lie in 0x{:02X}..=0x{:02X} (spec/hqq.yaml `ranges.application`): pick a free one there",
        app.start(),
        app.end()
    )
}
