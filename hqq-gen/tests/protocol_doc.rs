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

#[test]
fn rpc_methods_are_listed() {
    let source = "protocol: { name: Demo, layer: application, version: { major: 1, minor: 0 } }\n\
                  methods:\n  - { id: 1, name: echo, doc: Returns the request. }\n  - { id: 9, name: sum }\n";
    let spec = Spec::parse(source, "demo.yaml").unwrap_or_else(|e| panic!("{e}"));
    let doc = emit_doc(&spec);
    assert!(doc.contains("## RPC methods"), "{doc}");
    assert!(
        doc.contains("| 1 | `echo` | Returns the request. |"),
        "{doc}"
    );
    assert!(doc.contains("| 9 | `sum` |  |"), "{doc}");
    // A spec without methods has no such section.
    let plain = Spec::parse(
        "protocol: { name: Demo, layer: application, version: { major: 1, minor: 0 } }\n",
        "demo.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!emit_doc(&plain).contains("## RPC methods"));
}
