//! Resource limits and the user an untrusted program runs as: a [`Jail`]
//! is attached to a [`Command`] before it is spawned.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Context, Result};
use nix::sys::resource::{Resource, getrlimit, rlim_t, setrlimit};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

/// Limits on one untrusted process (each applies per process, except the
/// number of processes, which counts every process and thread of the
/// user it runs as).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU seconds (`RLIMIT_CPU`): SIGXCPU at the limit, SIGKILL a few
    /// seconds later.
    pub cpu_secs: u64,
    /// Memory, MiB (`RLIMIT_DATA`: heap, anonymous mappings and thread
    /// stacks; `malloc` returns NULL past it).
    pub memory_mib: u64,
    /// Processes and threads (`RLIMIT_NPROC`): `fork` and
    /// `pthread_create` fail past it.
    pub processes: u64,
    /// Open file descriptors (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Largest file it may write, MiB (`RLIMIT_FSIZE`): SIGXFSZ past it.
    pub file_size_mib: u64,
}

impl Limits {
    /// A student's proxy: generous enough that no correct proxy notices
    /// (a thread per connection under the extras' 70 concurrent clients,
    /// 8 MiB of stack each), tight enough that a fork bomb or an endless
    /// `malloc` stops.
    pub const PROXY: Limits = Limits {
        cpu_secs: 120,
        memory_mib: 1024,
        processes: 512,
        open_files: 1024,
        file_size_mib: 64,
    };

    /// A student's `make` (gcc's cc1 needs a few hundred MiB at most).
    pub const BUILD: Limits = Limits {
        cpu_secs: 120,
        memory_mib: 1024,
        processes: 128,
        open_files: 1024,
        file_size_mib: 64,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::PROXY
    }
}

/// The user an untrusted program runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAs {
    /// User id (no account needs to exist for it).
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// How an untrusted program is started: its limits and, when the harness
/// runs as root, the unprivileged user it runs as.
///
/// Running as root would make the process-count limit useless (the
/// kernel exempts root from `RLIMIT_NPROC`) and hand the program every
/// file on the machine, so a root harness must give a [`RunAs`]. With a
/// user of its own, the process limit is exact: it counts that
/// submission's processes and threads and nobody else's. Without one (a
/// harness that is not root), it is set to what the harness's user
/// already runs plus [`Limits::processes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::unsafe_derive_deserialize,
    reason = "the `unsafe` in `apply` is `pre_exec`, whose safety does not depend on the field values: any deserialized jail is sound"
)]
pub struct Jail {
    /// The limits.
    pub limits: Limits,
    /// The user to run as (root only).
    pub run_as: Option<RunAs>,
}

/// One resource limit as it is handed to the child: soft and hard value.
type Rlimit = (Resource, rlim_t, rlim_t);

impl Jail {
    /// A jail with `limits`, as `run_as`.
    pub fn new(limits: Limits, run_as: Option<RunAs>) -> Jail {
        Jail { limits, run_as }
    }

    /// Sets `cmd` up to run jailed: a clean environment (`PATH`, `HOME` =
    /// its working directory, `LC_ALL=C`), the user, the limits, and
    /// SIGKILL when the thread that started it dies (so nothing it starts
    /// outlives a harness killed half-way).
    pub fn apply(&self, cmd: &mut Command) -> Result<()> {
        let home = cmd
            .get_current_dir()
            .map_or_else(|| "/nonexistent".into(), |d| d.as_os_str().to_owned());
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", home)
            .env("LC_ALL", "C");
        if let Some(user) = self.run_as {
            // std drops the supplementary groups (setgroups) before setuid
            // when it runs as root.
            cmd.uid(user.uid).gid(user.gid);
        }
        let processes = if self.run_as.is_some() {
            self.limits.processes
        } else {
            let uid = nix::unistd::getuid().as_raw();
            super::monitor::tasks_of_uid(uid) + self.limits.processes
        };
        let mib = 1024 * 1024;
        let wanted: [Rlimit; 6] = [
            // Soft limit: SIGXCPU, which a student cannot mistake for our
            // SIGKILL; the hard limit kills a program that ignores it.
            (
                Resource::RLIMIT_CPU,
                self.limits.cpu_secs,
                self.limits.cpu_secs + 5,
            ),
            (
                Resource::RLIMIT_DATA,
                self.limits.memory_mib * mib,
                self.limits.memory_mib * mib,
            ),
            (Resource::RLIMIT_NPROC, processes, processes),
            (
                Resource::RLIMIT_NOFILE,
                self.limits.open_files,
                self.limits.open_files,
            ),
            (
                Resource::RLIMIT_FSIZE,
                self.limits.file_size_mib * mib,
                self.limits.file_size_mib * mib,
            ),
            (Resource::RLIMIT_CORE, 0, 0),
        ];
        // A process may lower its limits but not raise a hard limit, so
        // never ask for more than the harness has itself.
        let mut limits = wanted;
        for (resource, soft, hard) in &mut limits {
            let (_, current_hard) = getrlimit(*resource)
                .with_context(|| format!("reading the harness's own {resource:?}"))?;
            *hard = (*hard).min(current_hard);
            *soft = (*soft).min(*hard);
        }
        // SAFETY: the closure runs in the child between fork and exec,
        // where only async-signal-safe functions may be called. It calls
        // nothing but setrlimit(2) and prctl(2) through nix's thin
        // wrappers (one syscall each, no allocation, no lock), on a
        // fixed-size array copied in before the fork. It runs after std
        // has switched to `run_as`: the limits bind the new user, and the
        // parent-death signal, which a change of user clears, is set after it.
        unsafe {
            cmd.pre_exec(move || {
                for (resource, soft, hard) in limits {
                    setrlimit(resource, soft, hard).map_err(std::io::Error::from)?;
                }
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::process::run_bounded;

    fn limits_seen(jail: Jail) -> String {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "ulimit -t; ulimit -d; ulimit -n; ulimit -f; ulimit -c; env",
        ]);
        jail.apply(&mut cmd).expect("apply");
        let done = run_bounded(cmd, Duration::from_secs(10))
            .expect("runs")
            .success()
            .expect("exits 0");
        String::from_utf8_lossy(&done.stdout).into_owned()
    }

    #[test]
    fn the_limits_reach_the_child() {
        let jail = Jail::new(
            Limits {
                cpu_secs: 7,
                memory_mib: 300,
                processes: 50,
                open_files: 64,
                file_size_mib: 2,
            },
            None,
        );
        let seen = limits_seen(jail);
        let lines: Vec<&str> = seen.lines().collect();
        // sh's ulimit prints CPU in seconds, sizes in KiB (-d) and 512-byte
        // blocks or KiB (-f, by shell): check the ones every sh agrees on.
        assert_eq!(lines[0], "7", "{seen}");
        assert_eq!(lines[1], (300 * 1024).to_string(), "{seen}");
        assert_eq!(lines[2], "64", "{seen}");
        assert_eq!(lines[4], "0", "{seen}");
        assert!(seen.contains("LC_ALL=C"), "{seen}");
        assert!(
            !seen.contains("CARGO"),
            "the environment is not cleared: {seen}"
        );
    }
}
