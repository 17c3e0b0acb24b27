//! Child processes, in one layer: everything the harness starts — servers
//! under test, real clients, wrk, a student's `make` — goes through here.
//!
//! - [`Running`]: a long-lived server (a proxy, tiny-origin, nginx) started
//!   in its own process group, with the `listening on` handshake or a port
//!   poll, its output drained and kept; dropping it kills the group.
//! - [`run_bounded`]: a command run to completion within a time limit,
//!   killed with its whole group if it overruns; [`run_bounded_in`] does
//!   the same as one of many [`Jobs`] that a supervisor can stop at once,
//!   and whose strays it kills ([`become_subreaper`]).
//! - [`procfs`]: what `/proc` says about a process (fds, threads, RSS) and
//!   about the host's socket memory.
//! - [`free_port`], [`describe_exit`], [`kill_group`]: the small pieces the
//!   others share.
//!
//! Every wait is bounded, and nothing started here outlives the harness.

mod bounded;
mod group;
mod jobs;
mod output;
pub mod procfs;
mod running;

use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::Mutex;

use anyhow::{Result, bail};

pub use bounded::{Finished, run_bounded, run_bounded_in};
pub use group::{Signal, kill_group, send_signal};
pub use jobs::{Jobs, become_subreaper, die_with_parent};
pub use running::{Running, START_TIMEOUT, StartError};

/// The environment variable that gives [`free_port`] a range of its own,
/// `FIRST-LAST` (e.g. `20000-20399`): `harness class` hands each worker a
/// disjoint range, so two grades running at once in the host's network
/// can never pick the same port, even in the moment between picking it
/// and the proxy binding it. Unset, ports come from the kernel.
pub const PORTS_ENV: &str = "HARNESS_PORTS";

/// A port that was free a moment ago (for programs that need the port on
/// their command line and print nothing, like a student's `./proxy PORT`).
/// Never the same port twice in one process, so proxies started side by
/// side (the grader's sections) cannot be handed the same one. Taken from
/// the range in [`PORTS_ENV`] when it is set.
pub fn free_port() -> Result<u16> {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    if let Some((first, last)) = std::env::var(PORTS_ENV)
        .ok()
        .as_deref()
        .and_then(port_range)
    {
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = (first..=last)
            .find(|port| !given.contains(port) && TcpListener::bind(("127.0.0.1", *port)).is_ok());
        if let Some(port) = fresh {
            given.push(port);
            return Ok(port);
        }
        bail!("no free port left in {PORTS_ENV}={first}-{last}");
    }
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    bail!("no fresh free port found")
}

/// Parses `FIRST-LAST`.
fn port_range(text: &str) -> Option<(u16, u16)> {
    let (first, last) = text.split_once('-')?;
    let (first, last) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    (first > 0 && first <= last).then_some((first, last))
}

/// "exit status 3", "killed by signal 13 (SIGPIPE)", …
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(number)) => match Signal::try_from(number) {
            Ok(signal) => format!("killed by signal {number} ({signal})"),
            Err(_) => format!("killed by signal {number}"),
        },
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described_in_the_lab_s_words() {
        assert_eq!(describe_exit(ExitStatus::from_raw(3 << 8)), "exit status 3");
        assert_eq!(
            describe_exit(ExitStatus::from_raw(13)),
            "killed by signal 13 (SIGPIPE)"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(11)),
            "killed by signal 11 (SIGSEGV)"
        );
    }

    #[test]
    fn port_ranges_parse() {
        assert_eq!(port_range("20000-20399"), Some((20000, 20399)));
        assert_eq!(port_range("20399-20000"), None);
        assert_eq!(port_range("0-10"), None);
        assert_eq!(port_range("x"), None);
    }

    #[test]
    fn free_ports_are_never_handed_out_twice() {
        let ports: Vec<u16> = (0..20).filter_map(|_| free_port().ok()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(ports.len(), 20);
        assert_eq!(unique.len(), ports.len());
    }
}
