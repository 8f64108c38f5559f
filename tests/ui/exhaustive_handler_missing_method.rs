//! With `exhaustive_handler`, every opcode of the spec needs its handler
//! method: a handler that skips one does not compile.
mod telemetry {
    hqq::include_spec!("tests/derive/app.yaml", exhaustive_handler);
}

struct Sink;

impl telemetry::Handler for Sink {}

fn main() {}
