//! Golden test of generated Rust: the code for `tests/data/kv.yaml` must
//! equal `tests/data/kv.rs`. After an intended change of the emitter, rewrite
//! the expected file with `HQQ_BLESS=1 cargo test -p hqq-gen --test generated_rust`.
//! (hqq-runtime/tests/protocol_app.rs compiles and runs that file.)

use hqq_gen::{generate_rust, EmitOptions, Spec};

#[test]
fn generated_rust_matches_the_golden_file() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let source = std::fs::read_to_string(format!("{dir}/kv.yaml")).expect("kv.yaml");
    let spec = Spec::parse(&source, "hqq-gen/tests/data/kv.yaml").unwrap_or_else(|e| panic!("{e}"));
    let options = EmitOptions::new("::hqq_runtime").expect("a path");
    let code = generate_rust(&spec, &options);
    let expected_path = format!("{dir}/kv.rs");
    if std::env::var_os("HQQ_BLESS").is_some() {
        std::fs::write(&expected_path, &code).expect("write kv.rs");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    assert!(
        code == expected,
        "generated code for kv.yaml differs from {expected_path}; if the change is intended, run\n  \
         HQQ_BLESS=1 cargo test -p hqq-gen --test generated_rust\n--- generated ---\n{code}"
    );
}

#[test]
fn generated_code_uses_only_qualified_paths() {
    let code = generate_rust(hqq_gen::core_spec(), &EmitOptions::default());
    for bare in [" Result<", " Option<", " Ok(", " Some(", " Err(", " None"] {
        assert!(
            !code.contains(bare),
            "generated code uses the unqualified `{}`",
            bare.trim()
        );
    }
    assert!(code.contains("::hqq::runtime::codec::PacketCodec for ConnCopy"));
}

#[test]
fn generated_rpc_uses_only_qualified_paths() {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kv.yaml"))
            .expect("kv.yaml");
    let spec = Spec::parse(&source, "kv.yaml").unwrap_or_else(|e| panic!("{e}"));
    let code = generate_rust(&spec, &EmitOptions::default());
    let rpc = &code[code.find("pub mod rpc").expect("an rpc module")..];
    for bare in [
        " Result<", " Option<", " Ok(", " Some(", " Err(", " None", " Vec<", " Sized",
    ] {
        assert!(
            !rpc.contains(bare),
            "generated RPC code uses the unqualified `{}`",
            bare.trim()
        );
    }
    assert!(rpc.contains("fn get("));
    assert!(rpc.contains("pub const METHOD_PUT: u64 = 2;"));
}
