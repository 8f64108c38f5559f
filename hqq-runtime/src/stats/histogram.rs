//! A latency histogram that threads record into with one relaxed atomic
//! add, read as an [`hdrhistogram::Histogram`].
//!
//! `hdrhistogram`'s own histograms need `&mut` to record (or a recorder per
//! thread and a lock to merge), which the send and call paths must not
//! take. So the live histogram is a fixed array of atomic buckets in the
//! HDR manner: values below 8 ns have a bucket each, and every power of two
//! above is split into 8 equal buckets, so a bucket is at most 12.5% of its
//! value wide. A snapshot records each bucket's midpoint, with its count,
//! into an `hdrhistogram::Histogram`, whose percentiles are then within
//! 6.25% of the recorded values. Values from 2^41 ns (about 37 minutes) up
//! share the last bucket.
//!
//! The array has a fixed size and no pointers, so it lives as well in a
//! published statistics block (see [`super`]) as on the heap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 3;
/// Sub-buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;
/// The highest power of two with buckets of its own.
const MAX_EXPONENT: u32 = 40;

/// Buckets of a latency histogram: one per value below 8 ns, then 8 per
/// power of two up to 2^40 ns.
pub const LATENCY_BUCKETS: usize = (SUB + (MAX_EXPONENT - SUB_BITS + 1) as u64 * SUB) as usize;

/// The largest value a bucket of its own holds, in nanoseconds.
pub const MAX_TRACKED_NANOS: u64 = (1 << (MAX_EXPONENT + 1)) - 1;

/// The bucket of `nanos` (values above [`MAX_TRACKED_NANOS`] go to the last).
pub(crate) fn bucket_of(nanos: u64) -> usize {
    let v = nanos.min(MAX_TRACKED_NANOS);
    if v < SUB {
        return v as usize;
    }
    let exponent = 63 - v.leading_zeros();
    let sub = (v >> (exponent - SUB_BITS)) & (SUB - 1);
    (SUB + u64::from(exponent - SUB_BITS) * SUB + sub) as usize
}

/// The smallest value and the width of bucket `index` (< [`LATENCY_BUCKETS`]).
pub(crate) fn bucket_range(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < SUB {
        return (index, 1);
    }
    let shift = (index - SUB) / SUB;
    let sub = (index - SUB) % SUB;
    ((SUB + sub) << shift, 1 << shift)
}

/// Live latency buckets: [`record`](Self::record) is one relaxed atomic add
/// (plus one for the sum and a `fetch_max`), safe from any thread.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct LatencyBuckets {
    /// Sum of the recorded values, in nanoseconds (wrapping).
    pub(crate) sum_nanos: AtomicU64,
    /// The largest value recorded, in nanoseconds.
    pub(crate) max_nanos: AtomicU64,
    pub(crate) counts: [AtomicU64; LATENCY_BUCKETS],
}

impl Default for LatencyBuckets {
    fn default() -> Self {
        LatencyBuckets {
            sum_nanos: AtomicU64::new(0),
            max_nanos: AtomicU64::new(0),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl LatencyBuckets {
    /// Records one latency.
    #[inline]
    pub(crate) fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.max_nanos.fetch_max(nanos, Ordering::Relaxed);
        if let Some(count) = self.counts.get(bucket_of(nanos)) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The bucket counts now (each exact, not all taken at one instant).
    pub(crate) fn load(&self) -> BucketCounts {
        BucketCounts {
            sum_nanos: self.sum_nanos.load(Ordering::Relaxed),
            max_nanos: self.max_nanos.load(Ordering::Relaxed),
            counts: std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)),
        }
    }
}

/// The most samples a histogram snapshot holds (far more than any process
/// records).
pub const MAX_TOTAL_COUNT: u64 = 1 << 62;

/// Plain copies of a [`LatencyBuckets`]' words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketCounts {
    pub(crate) sum_nanos: u64,
    pub(crate) max_nanos: u64,
    pub(crate) counts: [u64; LATENCY_BUCKETS],
}

impl BucketCounts {
    /// The counts as a histogram of nanoseconds. Counts are not trusted (a
    /// published block may hold any words): their total is capped at
    /// [`MAX_TOTAL_COUNT`], so that no sum inside the histogram overflows.
    pub(crate) fn to_histogram(&self) -> Histogram<u64> {
        let mut histogram = empty_histogram();
        let mut total = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            let count = count.min(MAX_TOTAL_COUNT - total);
            if count == 0 {
                continue;
            }
            total += count;
            let (low, width) = bucket_range(index);
            histogram.saturating_record_n(low + width / 2, count);
        }
        histogram
    }
}

/// An empty histogram of nanoseconds with the range and precision of the
/// buckets: 1 ns to [`MAX_TRACKED_NANOS`], two significant digits.
///
/// ```
/// let h = hqq_runtime::stats::empty_histogram();
/// assert_eq!(h.len(), 0);
/// ```
pub fn empty_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NANOS, 2)
        .expect("constant bounds that hdrhistogram accepts (low >= 1, high >= 2 * low, 2 digits)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range() {
        let mut expected_low = 0;
        for index in 0..LATENCY_BUCKETS {
            let (low, width) = bucket_range(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert_eq!(bucket_of(low), index);
            assert_eq!(bucket_of(low + width - 1), index);
            assert!(width == 1 || width * 8 <= low, "bucket {index} too wide");
            expected_low = low + width;
        }
        assert_eq!(expected_low, MAX_TRACKED_NANOS + 1);
        assert_eq!(bucket_of(u64::MAX), LATENCY_BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_close_to_the_recorded_values() {
        let buckets = LatencyBuckets::default();
        for micros in 1..=1000u64 {
            buckets.record(Duration::from_micros(micros));
        }
        let counts = buckets.load();
        assert_eq!(counts.max_nanos, 1_000_000);
        assert_eq!(counts.sum_nanos, 500_500_000);
        let h = counts.to_histogram();
        assert_eq!(h.len(), 1000);
        let p50 = h.value_at_quantile(0.5) as f64;
        let p99 = h.value_at_quantile(0.99) as f64;
        assert!((p50 / 500_000.0 - 1.0).abs() < 0.07, "p50 {p50}");
        assert!((p99 / 990_000.0 - 1.0).abs() < 0.07, "p99 {p99}");
    }

    #[test]
    fn hostile_counts_saturate() {
        let mut counts = LatencyBuckets::default().load();
        counts.counts = [u64::MAX; LATENCY_BUCKETS];
        counts.counts[0] = 0;
        let h = counts.to_histogram();
        // The first non-empty bucket (value 1) takes the whole cap.
        assert_eq!(h.len(), MAX_TOTAL_COUNT);
        assert_eq!(h.value_at_quantile(0.99), 1);
    }
}
