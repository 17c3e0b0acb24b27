//! Signals to a child and to the process group it leads (every child the
//! harness starts leads its own group, so killing the group also kills
//! whatever it forked: a shell's `exec`, a CGI program, a student's
//! stray children).

use nix::sys::signal::{kill, killpg};
use nix::unistd::Pid;

pub use nix::sys::signal::Signal;

/// Kills the process group led by `pid` with SIGKILL. A group that is
/// already gone is not an error.
pub fn kill_group(pid: u32) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
    }
}

/// Sends `signal` to the process `pid` alone (not its group).
pub fn send_signal(pid: u32, signal: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(raw), signal);
    }
}
