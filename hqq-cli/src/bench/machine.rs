//! A description of the machine the figures were measured on.

use std::fs;

use serde::Serialize;

/// CPU model, core count, kernel and load of this machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Machine {
    /// The first `model name` of `/proc/cpuinfo` ("unknown CPU" if none).
    pub cpu_model: String,
    /// Cores this process may run on (`available_parallelism`).
    pub cores: usize,
    /// `/proc/sys/kernel/osrelease` ("unknown" if unreadable).
    pub kernel: String,
    /// One-minute load average when the description was taken (from
    /// `/proc/loadavg`): spinning baselines suffer when it exceeds `cores`.
    pub load_average: Option<f64>,
    /// The CPUs the two sides were pinned to (`hqq bench --pin`), if any.
    pub pinned: Option<super::pin::Pinning>,
}

impl Machine {
    /// Describes the machine this process runs on.
    pub fn current() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Self {
            cpu_model: cpu_model(&cpuinfo).unwrap_or("unknown CPU").to_owned(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|release| release.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned()),
            load_average: fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|text| load_average(&text)),
            pinned: None,
        }
    }
}

/// The first `model name` value of a `/proc/cpuinfo` text.
fn cpu_model(cpuinfo: &str) -> Option<&str> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim())
    })
}

/// The one-minute load average of a `/proc/loadavg` text.
fn load_average(loadavg: &str) -> Option<f64> {
    loadavg.split_whitespace().next()?.parse().ok()
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {} cores, Linux {}",
            self.cpu_model, self.cores, self.kernel
        )?;
        if let Some(load) = self.load_average {
            write!(f, ", load average {load:.2}")?;
        }
        if let Some(pin) = self.pinned {
            write!(
                f,
                ", client pinned to CPU {}, peers to CPU {}",
                pin.client, pin.peer
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_is_the_first_model_name() {
        let text = "processor\t: 0\nmodel name\t: Example CPU 9000\nmodel name\t: Other\n";
        assert_eq!(cpu_model(text), Some("Example CPU 9000"));
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn load_average_is_the_first_field() {
        assert_eq!(load_average("4.74 4.29 3.23 3/412 9876\n"), Some(4.74));
        assert_eq!(load_average(""), None);
    }
}
