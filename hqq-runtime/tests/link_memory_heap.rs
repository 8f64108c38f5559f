//! The conformance suite of the in-memory layer, on heap memory.

mod conformance;

use std::time::Duration;

use conformance::{with_watchdog, HeapRegion, Region, REGION_LEN};

fn run(test: fn(Region)) {
    with_watchdog(Duration::from_secs(60), move || {
        let heap = HeapRegion::new(REGION_LEN);
        test(Region(heap.ptr(), heap.len()));
    });
}

#[test]
fn primary_and_secondary_exchange() {
    run(conformance::primary_and_secondary_exchange);
}

#[test]
fn concurrent_open_elects_one_primary() {
    run(conformance::concurrent_open_elects_one_primary);
}

#[test]
fn secondary_rejects_mismatched_config() {
    run(conformance::secondary_rejects_mismatched_config);
}

#[test]
fn secondary_times_out_on_stuck_primary() {
    run(conformance::secondary_times_out_on_stuck_primary);
}

#[test]
fn region_is_checked() {
    run(conformance::region_is_checked);
}

#[test]
fn garbage_superblock_is_an_error() {
    run(conformance::garbage_superblock_is_an_error);
}

#[test]
fn corrupted_live_segment_reports_errors() {
    run(conformance::corrupted_live_segment_reports_errors);
}
