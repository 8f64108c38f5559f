//! The packaged crates work through a renamed dependency: generated,
//! included and derived code encode, decode and dispatch.

use hqq_packaged_fixture::beacon::{self, Announce, BeaconFlags, Role};
use hqq_packaged_fixture::{telemetry, App, AppHandler, Millis, Ping};
use ipc::runtime::codec::{DecodeError, Limits, Rejection};
use ipc::runtime::PayloadView;
use ipc::PacketCodec;

#[derive(Default)]
struct Log(Vec<String>);

impl AppHandler for Log {
    fn on_ping(&mut self, packet: Ping, _: PayloadView<'_>) -> Result<(), Rejection> {
        self.0.push(format!("ping {}", packet.seq));
        Ok(())
    }

    fn on_sample(
        &mut self,
        packet: telemetry::Sample,
        _: PayloadView<'_>,
    ) -> Result<(), Rejection> {
        self.0.push(format!("sample {}", packet.sensor));
        Ok(())
    }

    fn on_announce(&mut self, packet: Announce, _: PayloadView<'_>) -> Result<(), Rejection> {
        self.0.push(format!("announce {}", packet.peer));
        Ok(())
    }
}

/// The build script asked for an exhaustive handler: both methods are
/// required (leaving one out does not compile).
impl beacon::Handler for Log {
    fn on_announce(&mut self, packet: Announce, _: PayloadView<'_>) -> Result<(), Rejection> {
        self.0.push(format!("beacon {:?}", packet.role));
        Ok(())
    }

    fn on_depart(&mut self, packet: beacon::Depart, _: PayloadView<'_>) -> Result<(), Rejection> {
        self.0.push(format!("depart {}", packet.peer));
        Ok(())
    }
}

fn announce() -> Announce {
    Announce {
        peer: 7,
        role: Role::Scheduler,
        beacon_flags: BeaconFlags::READY | BeaconFlags::LEAVING,
        load: 3,
    }
}

#[test]
fn generated_and_derived_packets_round_trip() {
    let a = announce();
    assert_eq!(Announce::decode(&a.encode()), Ok(a));
    let ping = Ping {
        seq: 9,
        timeout: Millis(250),
    };
    assert_eq!(ping.encode().words(), [0xB0, 9, 250, 0, 0, 0, 0, 0]);
    assert_eq!(Ping::decode(&ping.encode()), Ok(ping));
    let sample = telemetry::Sample {
        sensor: 4,
        bytes: 16,
    };
    assert_eq!(telemetry::Sample::decode(&sample.encode()), Ok(sample));
}

#[test]
fn decode_keeps_the_spec_rules() {
    let mut words = announce().encode().words();
    words[3] = 0b11 | 1 << 40; // Ready and Draining, plus an unknown bit (dropped)
    assert!(matches!(
        Announce::decode(&ipc::Packet::from_words(words)),
        Err(DecodeError::Rule {
            rule: "Ready and Draining are exclusive",
            ..
        })
    ));
    words[3] = 1 << 40;
    assert_eq!(
        Announce::decode(&ipc::Packet::from_words(words)).map(|a| a.beacon_flags),
        Ok(BeaconFlags::empty())
    );
    assert!(announce().validate(&Limits::new(2, 64)).is_err());
    assert!(announce().validate(&Limits::new(4, 64)).is_ok());
}

#[test]
fn dispatch_reaches_the_handlers() {
    let limits = Limits::new(8, 64);
    let none = PayloadView::from_slice(&[]);
    let mut log = Log::default();
    App::dispatch(
        &mut log,
        &Ping {
            seq: 1,
            timeout: Millis(5),
        }
        .encode(),
        none,
        &limits,
    )
    .unwrap();
    App::dispatch(
        &mut log,
        &telemetry::Sample {
            sensor: 2,
            bytes: 0,
        }
        .encode(),
        none,
        &limits,
    )
    .unwrap();
    App::dispatch(&mut log, &announce().encode(), none, &limits).unwrap();
    beacon::dispatch(&mut log, &announce().encode(), none, &limits).unwrap();
    beacon::dispatch(
        &mut log,
        &beacon::Depart { peer: 7 }.encode(),
        none,
        &limits,
    )
    .unwrap();
    assert_eq!(
        log.0,
        [
            "ping 1",
            "sample 2",
            "announce 7",
            "beacon Scheduler",
            "depart 7"
        ]
    );
}
