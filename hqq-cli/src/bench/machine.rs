//! A description of the machine the figures were measured on.

use std::fs;

use serde::Serialize;

/// CPU model, core count and kernel of this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// The first `model name` of `/proc/cpuinfo` ("unknown CPU" if none).
    pub cpu_model: String,
    /// Cores this process may run on (`available_parallelism`).
    pub cores: usize,
    /// `/proc/sys/kernel/osrelease` ("unknown" if unreadable).
    pub kernel: String,
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

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {} cores, Linux {}",
            self.cpu_model, self.cores, self.kernel
        )
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
}
