//! `spec/PROTOCOL.md` must be what `hqq-gen doc spec/hqq.yaml` generates
//! (both in this crate's directory).

use hqq_gen::{emit_doc, Spec};

#[test]
fn protocol_md_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/spec/PROTOCOL.md");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        emit_doc(hqq_gen::core_spec()) == committed,
        "{path} is stale; regenerate it with\n  \
         cargo run -p hqq-gen -- doc hqq-gen/spec/hqq.yaml -o hqq-gen/spec/PROTOCOL.md"
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
