//! Running untrusted code — a student's `make` and `./proxy` — so that it
//! cannot hurt the machine, the instructor or the other submissions.
//!
//! Three layers, each used where the platform allows it:
//!
//! 1. **Limits** ([`Limits`], always): CPU seconds, memory, processes and
//!    threads, open files, file size, no core dumps — set in the child
//!    between fork and exec ([`Jail::apply`]).
//! 2. **A user of its own** ([`RunAs`], when the harness is root): the
//!    kernel exempts root from the process limit, so a root harness runs
//!    each submission as an unprivileged uid of its own
//!    ([`uid_for_slot`]). The limit then counts that submission's
//!    processes only, and the submission cannot read the instructor's
//!    files or write the results.
//! 3. **Namespaces** ([`enter`], where the kernel allows: root, or
//!    unprivileged user namespaces): a private network with only its own
//!    loopback, a PID namespace whose end kills everything in it, a fresh
//!    `/proc`. The harness process that grades one submission enters them
//!    itself, so its in-process origins and the proxy share that
//!    loopback. [`probe`] finds out once which level works.
//!
//! [`Monitor`] watches the submission's processes to say why it failed
//! (a fork bomb, an endless `malloc`).
//!
//! Without namespaces (a container without `CAP_SYS_ADMIN`, a runner that
//! forbids user namespaces), the harness says so once and relies on the
//! limits, free ports from disjoint ranges ([`crate::process::PORTS_ENV`])
//! and process groups; whatever escapes its group is killed by `harness
//! class`, which is a child subreaper.

mod limits;
pub mod monitor;
mod namespace;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, bail};

pub use limits::{Jail, Limits, RunAs};
pub use monitor::{Monitor, NOTE_PREFIX, Usage, Whose};
pub use namespace::{Isolation, enter, original_pid};

/// The first uid `harness class` runs submissions as, when it runs as
/// root: worker `k` uses `DEFAULT_UID_BASE + k`. Far above the ranges
/// distributions give to people (1000–60000) and to systemd's dynamic
/// users and containers (up to 1879048191).
pub const DEFAULT_UID_BASE: u32 = 2_000_000_000;

/// The user a root harness runs worker `slot`'s submissions as, or `None`
/// when the harness cannot change user: it is not root, or it is root only
/// in a user namespace that does not map that uid (its own, inside
/// `harness grade --sandbox` without root; a rootless container). Fails
/// when the uid belongs to an account or already runs a process: a uid in
/// use would share its process count, and its files, with the submission.
pub fn uid_for_slot(base: u32, slot: usize) -> Result<Option<RunAs>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let Some(uid) = u32::try_from(slot).ok().and_then(|s| base.checked_add(s)) else {
        bail!("no uid for worker {slot} above {base}");
    };
    if !uid_mapped(uid) {
        return Ok(None);
    }
    if let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        bail!(
            "uid {uid} belongs to the account {:?}: pick a free range with --uid-base",
            user.name
        );
    }
    let running = monitor::tasks_of_uid(uid);
    if running > 0 {
        bail!(
            "uid {uid} already runs {running} processes or threads (left from an earlier run, or someone else's): kill them, or pick another range with --uid-base"
        );
    }
    Ok(Some(RunAs { uid, gid: uid }))
}

/// `true` when this process's user namespace maps `uid` (the initial one
/// maps every uid; a user namespace, only what its creator wrote in
/// `/proc/self/uid_map`: `INSIDE OUTSIDE COUNT` per line).
fn uid_mapped(uid: u32) -> bool {
    let Ok(map) = std::fs::read_to_string("/proc/self/uid_map") else {
        return false;
    };
    map.lines().any(|line| {
        let fields: Vec<u64> = line
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        matches!(fields[..], [inside, _, count] if (inside..inside + count).contains(&u64::from(uid)))
    })
}

/// Finds the strongest [`Isolation`] this machine allows, by starting
/// `harness sandbox-probe` (the executable at `harness`) at each level
/// (without starting a thread);
/// with it, why a stronger level failed (for the one message that says
/// so).
pub fn probe(harness: &Path) -> (Isolation, Option<String>) {
    let mut why = None;
    for level in [Isolation::Full, Isolation::Network] {
        let mut cmd = Command::new(harness);
        cmd.arg("sandbox-probe")
            .arg("--isolation")
            .arg(match level {
                Isolation::Full => "full",
                Isolation::Network => "network",
                Isolation::None => "none",
            });
        // `output` starts no thread (a harness about to enter namespaces
        // itself must still have only one), and the probe cannot hang: it
        // binds and connects on its own loopback.
        match cmd.stdin(std::process::Stdio::null()).output() {
            Ok(out) if out.status.success() => return (level, why),
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                why.get_or_insert_with(|| err.trim().trim_start_matches("error: ").to_string());
            }
            Err(e) => {
                why.get_or_insert_with(|| format!("cannot run {}: {e}", harness.display()));
            }
        }
    }
    (Isolation::None, why)
}

/// What `harness sandbox-probe` does in the namespaces: bind the
/// loopback and connect to itself.
pub fn probe_inside() -> Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let _client = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    let _ = listener.accept()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_maps_its_own_uid() {
        assert!(uid_mapped(nix::unistd::getuid().as_raw()));
    }
}
