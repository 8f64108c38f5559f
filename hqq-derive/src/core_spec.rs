//! The core protocol as the macros see it: hqq-gen's core spec
//! ([`hqq_gen::core_spec`]), parsed once per compiler process. Opcode checks
//! read the ranges and opcode names from here, never from a table of their
//! own.

use hqq_gen::Spec;

/// The checked core spec.
pub fn core() -> &'static Spec {
    hqq_gen::core_spec()
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
        "application opcodes lie in 0x{:02X}..=0x{:02X} (`hqq::protocol::APPLICATION_OPCODES`): pick a free one there",
        app.start(),
        app.end()
    )
}
