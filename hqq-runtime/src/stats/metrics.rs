//! The statistics through the [`metrics`] crate facade, so that any
//! exporter installed as its recorder (Prometheus, OpenTelemetry, ...)
//! picks them up. Behind the `metrics` cargo feature.
//!
//! The hot paths never call the facade: a [`MetricsPublisher`] copies a
//! [`StatSnapshot`] into it when asked (from a timer, or before each
//! scrape). Counters are set with `absolute`, gauges with `set`, and each
//! latency histogram gets the samples recorded since the previous
//! publication. Every metric carries the label `link` (the name given to
//! the publisher) and, where it applies, `direction` (`tx`/`rx`) or
//! `connection`.
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `hqq_packets_total`, `hqq_bytes_total`, `hqq_link_errors_total` | counter | direction |
//! | `hqq_messages_total`, `hqq_message_bytes_total`, `hqq_chunks_total` | counter | direction |
//! | `hqq_aborts_total`, `hqq_errors_total`, `hqq_peer_errors_total`, `hqq_overflows_total` | counter | |
//! | `hqq_compression_input_bytes_total`, `hqq_compression_output_bytes_total`, `hqq_decompressed_bytes_total` | counter | |
//! | `hqq_compression_seconds_total`, `hqq_decompression_seconds_total`, `hqq_negotiation_seconds`, `hqq_compression_ratio` | gauge | |
//! | `hqq_connection_messages_total`, `hqq_connection_bytes_total` | counter | connection, direction |
//! | `hqq_call_latency_seconds`, `hqq_delivery_latency_seconds` | histogram | |
//!
//! ```
//! use hqq_runtime::link::{LinkConfig, StandardLink};
//! use hqq_runtime::stats::metrics::MetricsPublisher;
//!
//! let (a, _b) = StandardLink::pair(LinkConfig::new().slots(8).buffer_size(64))?;
//! let mut publisher = MetricsPublisher::new("orders");
//! a.send(b"hi")?;
//! publisher.publish(&a.statistics().snapshot());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use hdrhistogram::Histogram;
use metrics::{counter, gauge, histogram, Label};

use crate::link::DirectionStats;
use crate::stats::{empty_histogram, StatSnapshot};

/// Copies statistics snapshots into the `metrics` facade (see the
/// [module docs](self) for the metric names).
#[derive(Debug)]
pub struct MetricsPublisher {
    link: String,
    calls: Histogram<u64>,
    deliveries: Histogram<u64>,
}

impl MetricsPublisher {
    /// A publisher whose metrics carry the label `link = name`.
    pub fn new(name: impl Into<String>) -> Self {
        MetricsPublisher {
            link: name.into(),
            calls: empty_histogram(),
            deliveries: empty_histogram(),
        }
    }

    fn labels(&self, extra: &[(&'static str, String)]) -> Vec<Label> {
        let mut labels = vec![Label::new("link", self.link.clone())];
        labels.extend(extra.iter().map(|(k, v)| Label::new(*k, v.clone())));
        labels
    }

    /// Sets every metric from `snapshot` (of one block, taken later than
    /// the previous one this publisher saw).
    pub fn publish(&mut self, snapshot: &StatSnapshot) {
        for (direction, stats) in [("tx", &snapshot.link.tx), ("rx", &snapshot.link.rx)] {
            self.direction(direction, stats);
        }
        if let Some(a) = &snapshot.advanced {
            let pairs = [
                ("hqq_messages_total", a.messages_sent, a.messages_received),
                ("hqq_message_bytes_total", a.bytes_sent, a.bytes_received),
                ("hqq_chunks_total", a.chunks_sent, a.chunks_received),
            ];
            for (name, tx, rx) in pairs {
                for (direction, value) in [("tx", tx), ("rx", rx)] {
                    let labels = self.labels(&[("direction", direction.into())]);
                    counter!(name, labels).absolute(value);
                }
            }
            let counters = [
                ("hqq_aborts_total", a.aborts),
                ("hqq_errors_total", a.errors),
                ("hqq_peer_errors_total", a.peer_errors),
                ("hqq_overflows_total", a.overflows),
                (
                    "hqq_compression_input_bytes_total",
                    a.compression_input_bytes,
                ),
                (
                    "hqq_compression_output_bytes_total",
                    a.compression_output_bytes,
                ),
                ("hqq_decompressed_bytes_total", a.decompressed_bytes),
            ];
            for (name, value) in counters {
                counter!(name, self.labels(&[])).absolute(value);
            }
            let gauges = [
                (
                    "hqq_compression_seconds_total",
                    a.compression_time.as_secs_f64(),
                ),
                (
                    "hqq_decompression_seconds_total",
                    a.decompression_time.as_secs_f64(),
                ),
                ("hqq_negotiation_seconds", a.negotiation_time.as_secs_f64()),
                ("hqq_compression_ratio", a.compression_ratio()),
            ];
            for (name, value) in gauges {
                gauge!(name, self.labels(&[])).set(value);
            }
        }
        self.connections(snapshot);
        let latencies = &snapshot.latencies;
        record_new(
            &self.labels(&[]),
            "hqq_call_latency_seconds",
            &latencies.calls,
            &mut self.calls,
        );
        let name = "hqq_delivery_latency_seconds";
        record_new(
            &self.labels(&[]),
            name,
            &latencies.deliveries,
            &mut self.deliveries,
        );
    }

    fn direction(&self, direction: &'static str, stats: &DirectionStats) {
        let labels = self.labels(&[("direction", direction.into())]);
        counter!("hqq_packets_total", labels.clone()).absolute(stats.packets);
        counter!("hqq_bytes_total", labels.clone()).absolute(stats.bytes);
        counter!("hqq_link_errors_total", labels).absolute(stats.errors);
    }

    fn connections(&self, snapshot: &StatSnapshot) {
        for c in &snapshot.connections {
            let id = c
                .connection
                .map_or_else(|| "other".to_owned(), |id| id.to_string());
            let sides = [
                ("tx", c.messages_sent, c.bytes_sent),
                ("rx", c.messages_received, c.bytes_received),
            ];
            for (direction, messages, bytes) in sides {
                let labels =
                    self.labels(&[("connection", id.clone()), ("direction", direction.into())]);
                counter!("hqq_connection_messages_total", labels.clone()).absolute(messages);
                counter!("hqq_connection_bytes_total", labels).absolute(bytes);
            }
        }
    }
}

/// Records into histogram `name` the samples of `now` that `seen` does not
/// have yet (both hold bucket midpoints), in seconds, and remembers `now`.
fn record_new(
    labels: &[Label],
    name: &'static str,
    now: &Histogram<u64>,
    seen: &mut Histogram<u64>,
) {
    let handle = histogram!(name, labels.to_vec());
    for value in now.iter_recorded() {
        let nanos = value.value_iterated_to();
        let new = value.count_at_value().saturating_sub(seen.count_at(nanos));
        if new != 0 {
            handle.record_many(
                nanos as f64 * 1e-9,
                usize::try_from(new).unwrap_or(usize::MAX),
            );
        }
    }
    seen.clone_from(now);
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::{CompositeKey, MetricKind};

    use super::*;
    use crate::advanced::{AdvancedConfig, AdvancedLink};
    use crate::link::LinkConfig;

    type Snapshot = Vec<(
        CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )>;

    /// A counter's value, or a histogram's sample count.
    fn value(
        snapshot: &Snapshot,
        kind: MetricKind,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Option<u64> {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let k = key.key();
            let matches = key.kind() == kind
                && k.name() == name
                && labels
                    .iter()
                    .all(|(l, v)| k.labels().any(|x| x.key() == *l && x.value() == *v));
            match value {
                _ if !matches => None,
                DebugValue::Counter(n) => Some(*n),
                DebugValue::Histogram(samples) => Some(samples.len() as u64),
                DebugValue::Gauge(_) => None,
            }
        })
    }

    #[test]
    fn a_debugging_recorder_sees_the_counters_and_latencies() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let (a, b) = AdvancedLink::pair(
            LinkConfig::new().slots(32).buffer_size(64),
            AdvancedConfig::default(),
        )
        .unwrap();
        std::thread::scope(|s| {
            s.spawn(|| b.wait_for_negotiation().map(drop));
            a.negotiate(AdvancedConfig::default().offer)
        })
        .unwrap();
        for _ in 0..3 {
            a.send_large(0, &[1; 150]).unwrap();
        }
        let mut publisher = MetricsPublisher::new("test");
        metrics::with_local_recorder(&recorder, || publisher.publish(&a.statistics().snapshot()));
        let snap = snapshotter.snapshot().into_vec();
        let tx = [("link", "test"), ("direction", "tx")];
        assert_eq!(
            value(&snap, MetricKind::Counter, "hqq_messages_total", &tx),
            Some(3)
        );
        assert_eq!(
            value(&snap, MetricKind::Counter, "hqq_message_bytes_total", &tx),
            Some(450)
        );
        // 150 bytes in 64-byte buffers: 3 chunks a message, one packet each.
        assert_eq!(
            value(&snap, MetricKind::Counter, "hqq_packets_total", &tx),
            Some(10)
        );
        let conn0 = [("connection", "0"), ("direction", "tx")];
        assert_eq!(
            value(
                &snap,
                MetricKind::Counter,
                "hqq_connection_messages_total",
                &conn0
            ),
            Some(3)
        );
        let delivered = value(
            &snap,
            MetricKind::Histogram,
            "hqq_delivery_latency_seconds",
            &[],
        );
        assert_eq!(delivered, Some(3));
        // A second publication adds only the new sample.
        a.send_large(0, &[2; 10]).unwrap();
        metrics::with_local_recorder(&recorder, || publisher.publish(&a.statistics().snapshot()));
        let snap = snapshotter.snapshot().into_vec();
        let delivered = value(
            &snap,
            MetricKind::Histogram,
            "hqq_delivery_latency_seconds",
            &[],
        );
        assert_eq!(delivered, Some(1));
    }
}
