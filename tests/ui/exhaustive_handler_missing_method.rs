//! With `exhaustive_handler`, every opcode of the spec needs its handler
//! method: a handler that skips one does not compile.
mod telemetry {
    // trybuild builds this file in target/tests/trybuild/hqq.
    hqq::include_spec!("../../../../tests/derive/app.yaml", exhaustive_handler);
}

struct Sink;

impl telemetry::Handler for Sink {}

fn main() {}
