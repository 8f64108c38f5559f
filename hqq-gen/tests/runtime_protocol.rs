//! The core protocol checked in to hqq-runtime
//! (`hqq-runtime/src/generated/protocol.rs`) must be what hqq-gen generates
//! from its core spec today. After a change of the spec or of the emitter,
//! rewrite it with `HQQ_BLESS=1 cargo test -p hqq-gen --test runtime_protocol`.
//! (The test lives here so that hqq-runtime's own builds, loom's and Miri's
//! included, never compile hqq-gen.)

#[test]
fn generated_protocol_is_up_to_date() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hqq-runtime/src/generated/protocol.rs"
    );
    let options = hqq_gen::EmitOptions::new("crate").expect("a path");
    let code = hqq_gen::generate_rust(hqq_gen::core_spec(), &options);
    if std::env::var_os("HQQ_BLESS").is_some() {
        std::fs::write(path, &code).expect("write hqq-runtime/src/generated/protocol.rs");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        code == committed,
        "{path} is stale (the core spec or hqq-gen's emitter changed); regenerate it with\n  \
         HQQ_BLESS=1 cargo test -p hqq-gen --test runtime_protocol"
    );
}
