//! Removing a segment this process created when Ctrl-C (SIGINT) or SIGTERM
//! stops the tool: `hqq echo NAME --create` usually ends that way, and its
//! link's destructor never runs then.

use std::ffi::CString;
use std::sync::OnceLock;

/// The name to remove, set once before the handler is installed.
static CREATED: OnceLock<CString> = OnceLock::new();

extern "C" fn remove_and_exit(signal: libc::c_int) {
    if let Some(name) = CREATED.get() {
        // SAFETY: `name` is a valid NUL-terminated string that lives for
        // the rest of the program (a static set before the handler was
        // installed). shm_unlink only unlinks a file under /dev/shm.
        unsafe { libc::shm_unlink(name.as_ptr()) };
    }
    // SAFETY: _exit is async-signal-safe and ends the process at once.
    unsafe { libc::_exit(128 + signal) };
}

/// From now on, SIGINT and SIGTERM remove segment `name` and exit with
/// status 128 + signal. Only the first call has an effect.
pub fn remove_on_interrupt(name: &str) {
    let Ok(name) = CString::new(format!("/{name}")) else {
        return;
    };
    if CREATED.set(name).is_err() {
        return;
    }
    let handler = remove_and_exit as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs a handler that only calls async-signal-safe
        // functions on data initialized before this call.
        unsafe { libc::signal(signal, handler) };
    }
}
