// A received payload lives in shared memory that a peer can write at any
// moment, so no safe API may lend it out as `&[u8]`: a view is all there is.
use hqq::{LinkConfig, StandardLink};

fn main() {
    let (a, b) = StandardLink::pair(LinkConfig::new().slots(2).buffer_size(8)).unwrap();
    a.send(b"x").unwrap();
    let message = b.reserve_recv().unwrap();
    let borrowed: &[u8] = message.payload();
    let derefed: &[u8] = &message.payload()[..];
    let _ = (borrowed, derefed);
    let _ = b.recv_with(|view| -> usize { view.as_ref().len() });
}
