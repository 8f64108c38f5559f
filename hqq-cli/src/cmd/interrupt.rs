//! Removing the segments this process created (the link's segment, its
//! published statistics) when Ctrl-C (SIGINT) or SIGTERM stops the tool:
//! `hqq echo NAME --create` usually ends that way, and its link's
//! destructor never runs then.

use std::ffi::CString;
use std::sync::OnceLock;

/// The names to remove, each set once before the handler is installed.
static CREATED: [OnceLock<CString>; 2] = [OnceLock::new(), OnceLock::new()];

extern "C" fn remove_and_exit(signal: libc::c_int) {
    for name in CREATED.iter().filter_map(OnceLock::get) {
        // SAFETY: `name` is a valid NUL-terminated string that lives for
        // the rest of the program (a static set before the handler was
        // installed). shm_unlink only unlinks a file under /dev/shm.
        unsafe { libc::shm_unlink(name.as_ptr()) };
    }
    // SAFETY: _exit is async-signal-safe and ends the process at once.
    unsafe { libc::_exit(128 + signal) };
}

/// From now on, SIGINT and SIGTERM remove segment `name` (and those of
/// earlier calls) and exit with status 128 + signal. Calls after the
/// second have no effect.
pub fn remove_on_interrupt(name: &str) {
    let Ok(name) = CString::new(format!("/{name}")) else {
        return;
    };
    let Some(free) = CREATED.iter().find(|slot| slot.get().is_none()) else {
        return;
    };
    if free.set(name).is_err() {
        return;
    }
    let handler = remove_and_exit as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs a handler that only calls async-signal-safe
        // functions on data initialized before this call.
        unsafe { libc::signal(signal, handler) };
    }
}
