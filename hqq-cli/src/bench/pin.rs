//! CPU pinning for `hqq bench --pin`: the measuring process on one CPU,
//! its peer (process or echo thread) on another.
//!
//! On a machine with few cores an unpinned run lets the scheduler put both
//! sides on one CPU now and then, and spinning round trips then measure the
//! scheduler. Pinning makes runs comparable, as `taskset -c 0` for a client
//! and `taskset -c 1` for a server would.

use std::sync::OnceLock;

/// The environment variable that tells a peer process which CPU to run on.
pub const PEER_CPU_ENV: &str = "HQQ_BENCH_PEER_CPU";

/// Which CPUs the two sides of every measurement run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Pinning {
    /// The measuring side (this process's main thread).
    pub client: usize,
    /// The peer: the spawned peer process, or the echo thread of the
    /// threads floor.
    pub peer: usize,
}

static PINNING: OnceLock<Pinning> = OnceLock::new();

/// Pins the calling thread to `pinning.client` and records `pinning` for
/// [`peer_cpu`], after checking that this process may run on both CPUs.
/// A second call keeps the first pinning.
pub fn pin_client(pinning: Pinning) -> std::io::Result<()> {
    let allowed = allowed_cpus()?;
    if !allowed.contains(&pinning.client) || !allowed.contains(&pinning.peer) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("this process may only run on CPUs {allowed:?}"),
        ));
    }
    let pinning = *PINNING.get_or_init(|| pinning);
    pin_current_thread(pinning.client)
}

/// The CPUs the calling thread may run on.
fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is a plain bit array, valid all zeros.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid for writes of the size passed; pid 0 names
    // the calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: every index is below CPU_SETSIZE, inside `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// The CPU a peer should run on, if [`pin_client`] was called.
pub fn peer_cpu() -> Option<usize> {
    PINNING.get().map(|pinning| pinning.peer)
}

/// Pins the calling thread to `cpu` (threads it starts afterwards inherit
/// the mask).
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    // SAFETY: `cpu_set_t` is a plain bit array, valid all zeros.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu < CPU_SETSIZE` (checked above), so the bit is inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid, initialized `cpu_set_t` of the size passed;
    // pid 0 names the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinning_a_thread_restricts_it_to_that_cpu() {
        std::thread::spawn(|| {
            pin_current_thread(0).unwrap();
            assert_eq!(allowed_cpus().unwrap(), vec![0]);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn an_impossible_cpu_is_an_error() {
        assert!(pin_current_thread(libc::CPU_SETSIZE as usize).is_err());
    }
}
