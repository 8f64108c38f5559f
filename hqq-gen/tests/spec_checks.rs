//! Every spec check, each with a small bad spec and the message it must give
//! (file, line and column of the offending entry included).

use hqq_gen::{Spec, SpecErrors};

const HEADER: &str =
    "protocol: { name: Test, layer: application, version: { major: 1, minor: 0 } }\n";

/// The errors of `HEADER + body`, one display line each.
fn errors(body: &str) -> Vec<String> {
    let source = format!("{HEADER}{body}");
    match Spec::parse(&source, "test.yaml") {
        Ok(_) => panic!("the spec was accepted:\n{source}"),
        Err(SpecErrors(errors)) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn assert_one(body: &str, expected: &str) {
    let errors = errors(body);
    assert!(
        errors.iter().any(|e| e.starts_with(expected)),
        "expected an error starting with\n  {expected}\ngot\n  {}",
        errors.join("\n  ")
    );
}

#[test]
fn a_good_spec_passes() {
    let source = format!(
        "{HEADER}opcodes:\n  - code: 0x80\n    name: Ping\n    direction: both\n    operands:\n      - {{ name: nonce, type: u64 }}\n"
    );
    let spec = Spec::parse(&source, "test.yaml").expect("valid spec");
    assert_eq!(spec.opcodes[0].name, "Ping");
}

#[test]
fn duplicate_opcode_code() {
    assert_one(
        "opcodes:\n  - { code: 0x80, name: Ping, direction: both }\n  - { code: 0x80, name: Pong, direction: both }\n",
        "test.yaml:4:7: opcode `Pong`: duplicate opcode code 0x80: `Pong` reuses the code of `Ping` (line 3)",
    );
}

#[test]
fn duplicate_opcode_name() {
    assert_one(
        "opcodes:\n  - { code: 0x80, name: Ping, direction: both }\n  - { code: 0x81, name: Ping, direction: both }\n",
        "test.yaml:4:19: opcode `Ping`: duplicate opcode name `Ping`, first defined at opcodes[0] (line 3)",
    );
}

#[test]
fn opcode_outside_the_allowed_ranges() {
    assert_one(
        "opcodes:\n  - { code: 0x04, name: Ping, direction: both }\n",
        "test.yaml:3:7: opcode `Ping`: opcode 0x04 is outside the application opcode ranges (0x80..=0xef)",
    );
    assert_one(
        "opcodes:\n  - { code: 0x100, name: Ping, direction: both }\n",
        "test.yaml:3:7: opcode `Ping`: opcode 0x100 is outside the application opcode ranges",
    );
}

#[test]
fn more_than_seven_operands() {
    let operands: String = (0..8)
        .map(|i| format!("      - {{ name: o{i}, type: u64 }}\n"))
        .collect();
    assert_one(
        &format!("opcodes:\n  - code: 0x80\n    name: Big\n    direction: both\n    operands:\n{operands}"),
        "test.yaml:14:11: opcode `Big`: 8 operands, but a packet carries at most 7",
    );
}

#[test]
fn duplicate_operand_names() {
    assert_one(
        "opcodes:\n  - code: 0x80\n    name: Ping\n    direction: both\n    operands:\n      - { name: id, type: u64 }\n      - { name: id, type: u64 }\n",
        "test.yaml:8:11: opcode `Ping`: duplicate operand name `id` (operands 0 and 1) (line 7)",
    );
}

#[test]
fn unknown_type() {
    assert_one(
        "flags:\n  - name: Mode\n    bits: [{ name: Fast, bit: 0 }]\nopcodes:\n  - code: 0x80\n    name: Ping\n    direction: both\n    operands:\n      - { name: mode, type: Mod }\n",
        "test.yaml:10:23: opcode `Ping`: operand `mode` refers to unknown type `Mod` (hint: did you mean `Mode`?",
    );
}

#[test]
fn overlapping_bits() {
    assert_one(
        "flags:\n  - name: Mode\n    bits:\n      - { name: Fast, bit: 0 }\n      - { name: Slow, bit: 0 }\n",
        "test.yaml:6:23: flag set `Mode`: overlapping bits: flag `Slow` uses bit 0, already used by `Fast` (line 5)",
    );
}

#[test]
fn invalid_identifiers() {
    assert_one(
        "opcodes:\n  - { code: 0x80, name: ping-pong, direction: both }\n",
        "test.yaml:3:19: opcode `ping-pong`: name is not a valid UpperCamelCase identifier",
    );
    assert_one(
        "opcodes:\n  - code: 0x80\n    name: Ping\n    direction: both\n    operands:\n      - { name: type, type: u64 }\n",
        "test.yaml:7:11: opcode `Ping`: operand name `type` is not a valid snake_case identifier",
    );
    assert_one(
        "enums:\n  - name: Color\n    values: [{ name: dark red, value: 1 }]\n",
        "test.yaml:4:16: enum value `dark red`: name is not a valid UpperCamelCase identifier",
    );
}

#[test]
fn unknown_keys() {
    assert_one(
        "opcodes:\n  - code: 0x80\n    name: Ping\n    direction: both\n    dco: typo\n",
        "test.yaml:6:5: `opcodes[0]`: unknown field `dco`, expected one of `code`, `name`, `direction`, `doc`, `operands`",
    );
}

#[test]
fn rules_name_known_operands_and_limits() {
    let body = |check: &str| {
        format!(
            "opcodes:\n  - code: 0x80\n    name: Ping\n    direction: both\n    operands:\n      - name: size\n        type: u64\n        rules:\n          - check: {check}\n"
        )
    };
    assert_one(
        &body("size <= limits.buffer_sise"),
        "test.yaml:10:13: opcode `Ping`: operand `size`: rule `size <= limits.buffer_sise` refers to unknown limit",
    );
    assert_one(
        &body("size <= total"),
        "test.yaml:10:13: opcode `Ping`: operand `size`: rule `size <= total` refers to unknown operand `total`",
    );
    assert_one(
        &body("size"),
        "test.yaml:10:13: opcode `Ping`: operand `size`: rule `size` has no comparison",
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let errors = errors(
        "opcodes:\n  - { code: 0x80, name: Ping, direction: both }\n  - { code: 0x80, name: Ping, direction: sideways }\n",
    );
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors.iter().all(|e| e.starts_with("test.yaml:4:")),
        "{errors:#?}"
    );
}

#[test]
fn type_and_syntax_errors_carry_their_position() {
    assert_one(
        "opcodes:\n  - code: [1]\n    name: Ping\n    direction: both\n",
        "test.yaml:3:11: `opcodes[0].code`: invalid type: sequence, expected u64",
    );
    assert_one(
        "opcodes:\n  - code: 0x80\n    name: Ping: Pong\n    direction: both\n",
        "test.yaml:4:15: mapping values are not allowed in this context",
    );
}

#[test]
fn methods_are_resolved() {
    let source = format!(
        "{HEADER}methods:\n  - {{ id: 1, name: echo, doc: Returns the request. }}\n  - {{ id: 7, name: sum }}\n"
    );
    let spec = Spec::parse(&source, "test.yaml").expect("valid spec");
    let methods: Vec<(u64, &str)> = spec
        .methods
        .iter()
        .map(|m| (m.id, m.name.as_str()))
        .collect();
    assert_eq!(methods, [(1, "echo"), (7, "sum")]);
    assert_eq!(spec.methods[0].doc, "Returns the request.");
}

#[test]
fn duplicate_method_id() {
    assert_one(
        "methods:\n  - { id: 1, name: echo }\n  - { id: 1, name: sum }\n",
        "test.yaml:4:7: method `sum`: duplicate method id 1: `sum` reuses the id of `echo` (line 3)",
    );
}

#[test]
fn duplicate_method_name() {
    assert_one(
        "methods:\n  - { id: 1, name: echo }\n  - { id: 2, name: echo }\n",
        "test.yaml:4:14: method `echo`: duplicate method name `echo`, first defined at methods[0] (line 3)",
    );
}

#[test]
fn method_name_not_snake_case() {
    assert_one(
        "methods:\n  - { id: 1, name: GetValue }\n",
        "test.yaml:3:14: method `GetValue`: name is not a valid snake_case identifier",
    );
    assert_one(
        "methods:\n  - { id: 1, name: fn }\n",
        "test.yaml:3:14: method `fn`: name is not a valid snake_case identifier",
    );
}

#[test]
fn method_name_the_generated_code_uses() {
    assert_one(
        "methods:\n  - { id: 1, name: should_stop }\n",
        "test.yaml:3:14: method `should_stop`: `should_stop` is a name the generated client and server use themselves",
    );
}

#[test]
fn method_id_zero() {
    assert_one(
        "methods:\n  - { id: 0, name: echo }\n",
        "test.yaml:3:7: method `echo`: method id 0 is not allowed",
    );
}

#[test]
fn narrow_operand_types_are_accepted() {
    use hqq_gen::model::{OperandType, Scalar};
    let source = format!(
        "{HEADER}opcodes:\n  - code: 0x80\n    name: Stats\n    direction: both\n    operands:\n      \
         - {{ name: a, type: u8 }}\n      - {{ name: b, type: u16 }}\n      - {{ name: c, type: u32 }}\n      \
         - {{ name: d, type: i64 }}\n      - {{ name: e, type: bool }}\n"
    );
    let spec = Spec::parse(&source, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    let types: Vec<OperandType> = spec.opcodes[0]
        .operands
        .iter()
        .map(|o| o.ty.clone())
        .collect();
    assert_eq!(
        types,
        Scalar::ALL.map(OperandType::Scalar).to_vec(),
        "operand types in spec order"
    );
}

#[test]
fn unknown_operand_type_lists_the_narrow_types() {
    let errors = errors(
        "opcodes:\n  - code: 0x80\n    name: Stats\n    direction: both\n    operands:\n      - { name: a, type: u9 }\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("u8") && e.contains("bool") && e.contains("i64")),
        "{errors:?}"
    );
}

#[test]
fn rules_take_unsigned_operands_of_every_width() {
    use hqq_gen::model::Term;
    let source = format!(
        "{HEADER}opcodes:\n  - code: 0x80\n    name: Stats\n    direction: both\n    operands:\n      \
         - {{ name: a, type: u8 }}\n      - {{ name: b, type: u16 }}\n      - {{ name: c, type: u32 }}\n      \
         - {{ name: d, type: u64, rules: [{{ check: a + b + c <= d }}] }}\n"
    );
    let spec = Spec::parse(&source, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    let rule = &spec.opcodes[0].operands[3].rules[0];
    assert_eq!(rule.text, "a + b + c <= d");
    assert_eq!(
        rule.lhs,
        ["a", "b", "c"].map(|n| Term::Operand(n.into())).to_vec()
    );
}

#[test]
fn rules_refuse_signed_boolean_and_enum_operands() {
    for ty in ["i64", "bool", "version"] {
        assert_one(
            &format!(
                "opcodes:\n  - code: 0x80\n    name: Stats\n    direction: both\n    operands:\n      \
                 - {{ name: a, type: {ty} }}\n      - {{ name: b, type: u64, rules: [{{ check: b >= a }}] }}\n"
            ),
            "test.yaml:8:41: opcode `Stats`: operand `b`: rule `b >= a` does arithmetic on `a`, \
             which is not an unsigned integer operand",
        );
    }
}

#[test]
fn rpc_types_are_bytes_or_packets() {
    assert_one(
        "opcodes:\n  - { code: 0x80, name: Ping, direction: both }\nmethods:\n  - { id: 1, name: ping, request: Pong }\n",
        "test.yaml:5:26: method `ping`: unknown request or response type `Pong` (hint: a method takes and returns `bytes`, `{ serde: path::Type }` or a packet of the spec: bytes, Ping)",
    );
}
