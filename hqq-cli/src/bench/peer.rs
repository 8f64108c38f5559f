//! The peer process model: the benchmark re-executes its own binary as the
//! other end of each measured channel.
//!
//! The parent starts `std::env::current_exe()` with [`PEER_ROLE_ENV`] set to
//! a [`PeerRole`] name (plus whatever the role needs: inherited stdin/stdout
//! or a segment name). Every binary that runs the suite (`hqq` and the
//! criterion bench `ipc`) calls [`run_peer_from_env`] first thing in `main`
//! and, when it returns `Some`, exits with that code instead of doing its
//! normal work.
//!
//! # Bounds
//!
//! - A peer runs a watchdog thread that exits the process as soon as its
//!   parent is gone (it was re-parented) or its deadline
//!   ([`PEER_DEADLINE`]) has passed, so a crashed benchmark leaves no
//!   spinning peers behind.
//! - The parent kills and reaps the peer when its [`Peer`] is dropped.

use std::env;
use std::ffi::OsString;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use super::error::{BenchError, PeerRunError};
use super::{advanced, echo, fd, floor, idle, link};

/// Environment variable naming the role a re-executed peer runs.
pub const PEER_ROLE_ENV: &str = "HQQ_BENCH_PEER";

/// Environment variable with the parent's process id.
const PARENT_ENV: &str = "HQQ_BENCH_PARENT";

/// Environment variable with the peer's deadline, in milliseconds from its
/// start.
const DEADLINE_ENV: &str = "HQQ_BENCH_PEER_DEADLINE_MS";

/// Longest life of a peer process: far longer than any one benchmark needs
/// its peer, short enough that a leaked peer does not spin for long.
pub const PEER_DEADLINE: Duration = Duration::from_secs(600);

/// How often a peer's watchdog checks its parent and deadline.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(100);

/// Exit code of a peer whose parent is gone.
const EXIT_ORPHANED: u8 = 70;

/// Exit code of a peer that outlived its deadline.
const EXIT_DEADLINE: u8 = 71;

/// What a re-executed peer process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// Runs the [echo protocol](super::echo) over its stdin (from the
    /// parent) and stdout (to the parent), which the parent connected to a
    /// socket or to pipes.
    FdEcho,
    /// Answers every odd value of a shared word with the next even value
    /// (the [cache-line floor](super::floor)).
    CacheLineEcho,
    /// Maps the idle-wait segment and sends nothing (the
    /// [idle CPU](super::idle) measurement).
    Idle,
    /// Opens the Advanced link named in the environment and receives large
    /// messages or serves an echo method on it (see [`super::advanced`]).
    AdvancedEcho,
    /// Opens the Standard link named in the environment and serves the echo
    /// protocol on it.
    LinkEcho,
    /// Opens the iceoryx2 services named in the environment and serves the
    /// echo protocol on them (cargo feature `iceoryx2`).
    #[cfg(feature = "iceoryx2")]
    Iceoryx2Echo,
}

impl PeerRole {
    /// Every role, for parsing.
    pub const ALL: &'static [PeerRole] = &[
        PeerRole::FdEcho,
        PeerRole::CacheLineEcho,
        PeerRole::Idle,
        PeerRole::AdvancedEcho,
        PeerRole::LinkEcho,
        #[cfg(feature = "iceoryx2")]
        PeerRole::Iceoryx2Echo,
    ];

    /// The role's name in [`PEER_ROLE_ENV`].
    pub const fn name(self) -> &'static str {
        match self {
            PeerRole::FdEcho => "fd-echo",
            PeerRole::CacheLineEcho => "cache-line-echo",
            PeerRole::Idle => "idle",
            PeerRole::AdvancedEcho => "advanced-echo",
            PeerRole::LinkEcho => "link-echo",
            #[cfg(feature = "iceoryx2")]
            PeerRole::Iceoryx2Echo => "iceoryx2-echo",
        }
    }

    /// The role called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|role| role.name() == name)
    }

    /// Runs this role in the current (peer) process until the parent lets
    /// it go (closes the channel) or the watchdog ends the process.
    fn serve(self) -> Result<(), PeerRunError> {
        match self {
            PeerRole::FdEcho => echo::serve_echo(&mut fd::stdio_channel()?),
            PeerRole::CacheLineEcho => floor::serve_peer(),
            PeerRole::Idle => idle::serve_peer(),
            PeerRole::AdvancedEcho => advanced::serve_peer(),
            PeerRole::LinkEcho => link::serve_peer(),
            #[cfg(feature = "iceoryx2")]
            PeerRole::Iceoryx2Echo => super::iceoryx::serve_peer(),
        }
    }
}

/// If this process was started as a benchmark peer, runs the peer's role
/// and returns the exit code for `main`; otherwise returns `None` at once.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     if let Some(code) = hqq_cli::bench::run_peer_from_env() {
///         return code;
///     }
///     // ... the binary's normal work ...
///     std::process::ExitCode::SUCCESS
/// }
/// ```
pub fn run_peer_from_env() -> Option<ExitCode> {
    let role = env::var_os(PEER_ROLE_ENV)?;
    Some(match run_peer(role) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hqq bench peer: error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    })
}

fn run_peer(role: OsString) -> Result<(), PeerRunError> {
    let role_name = role.to_string_lossy();
    let role = PeerRole::from_name(&role_name)
        .ok_or_else(|| PeerRunError::UnknownRole(role_name.into_owned()))?;
    let parent: u32 = env_value(PARENT_ENV)?;
    let deadline_ms: u64 = env_value(DEADLINE_ENV)?;
    start_watchdog(parent, Instant::now() + Duration::from_millis(deadline_ms));
    if env::var_os(super::pin::PEER_CPU_ENV).is_some() {
        let cpu = env_value(super::pin::PEER_CPU_ENV)?;
        super::pin::pin_current_thread(cpu).map_err(|source| PeerRunError::Io {
            operation: "pinning the peer to its CPU",
            source,
        })?;
    }
    role.serve()
}

/// The environment variable `name`, parsed.
pub(super) fn env_value<T: std::str::FromStr>(name: &'static str) -> Result<T, PeerRunError> {
    env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .ok_or(PeerRunError::BadEnvironment { name })
}

/// Exits this process once `parent` is no longer its parent or `deadline`
/// has passed.
fn start_watchdog(parent: u32, deadline: Instant) {
    let check = move || {
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(i32::from(EXIT_ORPHANED));
        }
        if Instant::now() >= deadline {
            eprintln!("hqq bench peer: deadline passed; exiting");
            std::process::exit(i32::from(EXIT_DEADLINE));
        }
    };
    // The parent may have died before this process got this far.
    check();
    std::thread::spawn(move || loop {
        std::thread::sleep(WATCHDOG_PERIOD);
        check();
    });
}

/// A running peer process; killed and reaped on drop.
#[derive(Debug)]
pub struct Peer {
    role: PeerRole,
    child: Child,
}

impl Peer {
    /// Re-executes this binary as a peer running `role`, with the extra
    /// environment `env` and the given stdin and stdout (stderr is
    /// inherited, so a failing peer's message reaches the user).
    pub fn spawn(
        role: PeerRole,
        env: &[(&str, &str)],
        stdin: Stdio,
        stdout: Stdio,
    ) -> Result<Peer, BenchError> {
        let spawn_error = |exe: String, source| BenchError::PeerSpawn {
            role: role.name(),
            exe,
            source,
        };
        let exe = env::current_exe().map_err(|source| spawn_error(String::new(), source))?;
        let mut command = Command::new(&exe);
        command
            .env(PEER_ROLE_ENV, role.name())
            .env(PARENT_ENV, std::process::id().to_string())
            .env(DEADLINE_ENV, PEER_DEADLINE.as_millis().to_string())
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        if let Some(cpu) = super::pin::peer_cpu() {
            command.env(super::pin::PEER_CPU_ENV, cpu.to_string());
        }
        let child = command
            .spawn()
            .map_err(|source| spawn_error(exe.display().to_string(), source))?;
        Ok(Peer { role, child })
    }

    /// The role the peer runs.
    pub fn role(&self) -> PeerRole {
        self.role
    }

    /// The parent's end of the peer's stdin, if it was [`Stdio::piped`] and
    /// not taken yet.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// The parent's end of the peer's stdout, if it was [`Stdio::piped`]
    /// and not taken yet.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// `Ok` while the peer runs; [`BenchError::PeerExited`] once it has
    /// exited.
    pub fn ensure_running(&mut self) -> Result<(), BenchError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(BenchError::PeerExited {
                role: self.role.name(),
                status,
            }),
            Err(source) => Err(BenchError::Io {
                role: self.role.name(),
                operation: "waitpid",
                source,
            }),
        }
    }

    /// Polls `ready` until it returns `true`, failing if the peer exits or
    /// `timeout` passes first.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), BenchError> {
        let start = Instant::now();
        while !ready() {
            self.ensure_running()?;
            if start.elapsed() > timeout {
                return Err(BenchError::PeerStalled {
                    role: self.role.name(),
                    waited: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The peer may have exited already; either way reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Tracks how long a spin-waiting side has made no progress, checking the
/// other side only every so many spins so the check costs nothing on the
/// fast path.
#[derive(Debug)]
pub(super) struct StallGuard {
    spins: u32,
    stalled_since: Option<Instant>,
    limit: Duration,
}

impl StallGuard {
    /// Spins between two checks of the clock and the other side.
    const CHECK_EVERY: u32 = 1 << 16;

    /// A guard that gives up after `limit` without progress.
    pub(super) const fn new(limit: Duration) -> Self {
        Self {
            spins: 0,
            stalled_since: None,
            limit,
        }
    }

    /// Call after each successful step: resets the stall clock.
    pub(super) fn progressed(&mut self) {
        self.spins = 0;
        self.stalled_since = None;
    }

    /// Call on each fruitless spin. Every [`Self::CHECK_EVERY`] spins runs
    /// `check_peer` and fails once no progress was made for the limit.
    pub(super) fn spun(
        &mut self,
        role: &'static str,
        check_peer: impl FnOnce() -> Result<(), BenchError>,
    ) -> Result<(), BenchError> {
        std::hint::spin_loop();
        self.spins = self.spins.wrapping_add(1);
        if self.spins % Self::CHECK_EVERY != 0 {
            return Ok(());
        }
        check_peer()?;
        let since = *self.stalled_since.get_or_insert_with(Instant::now);
        if since.elapsed() > self.limit {
            return Err(BenchError::PeerStalled {
                role,
                waited: self.limit,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in PeerRole::ALL {
            assert_eq!(PeerRole::from_name(role.name()), Some(*role));
        }
        assert_eq!(PeerRole::from_name("no-such-role"), None);
    }

    #[test]
    fn stall_guard_gives_up_after_its_limit() {
        let mut guard = StallGuard::new(Duration::ZERO);
        let mut result = Ok(());
        for _ in 0..(3 * StallGuard::CHECK_EVERY) {
            result = guard.spun("test", || Ok(()));
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(BenchError::PeerStalled { .. })));
    }

    #[test]
    fn stall_guard_passes_on_the_peer_check_failure() {
        let mut guard = StallGuard::new(Duration::from_secs(3600));
        let mut checks = 0;
        let mut result = Ok(());
        for _ in 0..StallGuard::CHECK_EVERY {
            result = guard.spun("test", || {
                checks += 1;
                Err(BenchError::MessageSize { size: 0, max: 1 })
            });
        }
        assert_eq!(checks, 1);
        assert!(matches!(result, Err(BenchError::MessageSize { .. })));
    }
}
