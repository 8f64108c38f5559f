//! Quickstart: encode a packet and show its wire bytes.
//!
//! Run with `cargo run --example quickstart`.

use hqq::Packet;

fn main() {
    let packet = Packet::new(0xFF, [1, 0, 5, 0, 0, 0, 0]);
    println!("{packet:?}");
    println!("wire bytes: {:02x?}", packet.to_bytes());
}
