//! Generates `$OUT_DIR/protocol.rs` from `spec/beacon.yaml`, as the hqq-gen
//! documentation shows it: spec errors fail the build with readable lines.

fn main() {
    hqq_gen::Builder::new()
        .spec("spec/beacon.yaml")
        .runtime_path("::ipc::runtime")
        .exhaustive_handler(true)
        .compile();
}
