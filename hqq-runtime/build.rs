//! Generates the core protocol module (`hqq_runtime::protocol`) from
//! `spec/hqq.yaml`; cargo reruns this when the spec changes.

fn main() {
    if let Err(e) = hqq_gen::Builder::new()
        .spec("../spec/hqq.yaml")
        .runtime_path("crate")
        .out_file("protocol.rs")
        .generate()
    {
        // Spec errors carry file:line:column; show each on its own line.
        for line in e.to_string().lines() {
            println!("cargo:warning={line}");
        }
        std::process::exit(1);
    }
}
