//! `spec/PROTOCOL.md` must be what `hqq-gen doc spec/hqq.yaml` generates.

use hqq_gen::{emit_doc, Spec};

#[test]
fn protocol_md_is_up_to_date() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let source = std::fs::read_to_string(format!("{root}/spec/hqq.yaml")).expect("spec/hqq.yaml");
    let spec = Spec::parse(&source, "spec/hqq.yaml").unwrap_or_else(|e| panic!("{e}"));
    let committed = std::fs::read_to_string(format!("{root}/spec/PROTOCOL.md")).unwrap_or_default();
    assert!(
        emit_doc(&spec) == committed,
        "spec/PROTOCOL.md is stale; regenerate it with\n  cargo run -p hqq-gen -- doc spec/hqq.yaml -o spec/PROTOCOL.md"
    );
}
