//! Many bounded children at once, for a harness that supervises them
//! (`harness class`): which children are jobs it started, a way to stop
//! them all at once (Ctrl-C), and the sweep that kills whatever escaped.
//!
//! A child that forks a daemon and `setsid`s it leaves the process group
//! the harness kills. When the harness is a *child subreaper*
//! ([`become_subreaper`]), such an orphan is re-parented to the harness
//! instead of to init, so the harness sees it among its children: every
//! child that is not one of its [`Jobs`] is a stray, and
//! [`Jobs::reap_strays`] kills and reaps it. (In a PID namespace of its
//! own, a submission's strays die with the namespace instead.)

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use super::group::kill_group;

/// The children one supervisor has running, and whether it was told to stop.
#[derive(Debug, Default)]
pub struct Jobs {
    live: Mutex<Vec<u32>>,
    cancelled: AtomicBool,
}

impl Jobs {
    /// No jobs yet.
    pub fn new() -> Jobs {
        Jobs::default()
    }

    /// Spawns `cmd` and registers it, atomically with respect to
    /// [`Jobs::reap_strays`] (which would otherwise see an unregistered
    /// child for a moment).
    pub(crate) fn spawn(&self, cmd: &mut Command) -> std::io::Result<Child> {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let child = cmd.spawn()?;
        live.push(child.id());
        Ok(child)
    }

    /// Forgets a job that was reaped.
    pub(crate) fn done(&self, pid: u32) {
        let mut live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        live.retain(|&p| p != pid);
    }

    /// Stops every job: each running bounded command kills its group and
    /// returns [`super::Finished::interrupted`]; no new one should start.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// `true` once [`Jobs::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Kills and reaps every child of this process that is not a
    /// registered job — what a subreaper inherits from jobs that left
    /// their group — until none is left (bounded: a stray may fork while
    /// it is killed, but not after). Returns how many were killed.
    pub fn reap_strays(&self) -> usize {
        let me = std::process::id();
        let mut killed = 0;
        for _ in 0..100 {
            let strays: Vec<u32> = {
                let live = self
                    .live
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                children_of(me)
                    .into_iter()
                    .filter(|pid| !live.contains(pid))
                    .collect()
            };
            if strays.is_empty() {
                break;
            }
            for &pid in &strays {
                let Ok(raw) = i32::try_from(pid) else {
                    continue;
                };
                kill_group(pid);
                let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
            }
            for &pid in &strays {
                let Ok(raw) = i32::try_from(pid) else {
                    continue;
                };
                // SIGKILL is immediate; reaping is bounded all the same.
                for _ in 0..200 {
                    match waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG)) {
                        Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        _ => break,
                    }
                }
                killed += 1;
            }
        }
        killed
    }
}

/// Makes this process a child subreaper: orphans among its descendants
/// become its children instead of init's (see the module docs).
pub fn become_subreaper() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")
}

/// Sets `cmd` to be killed (SIGKILL) when the thread that spawns it dies,
/// so a supervisor killed outright (SIGKILL) takes its jobs with it.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: runs between fork and exec; prctl(2) through nix is one
    // async-signal-safe syscall, with no allocation and no lock.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

/// The pids whose parent is `parent`, from `/proc/PID/stat`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent_of(pid) == Some(parent))
        .collect()
}

/// The parent of `pid`: the 4th field of `/proc/PID/stat`, counted after
/// the command name (which is in parentheses and may contain anything).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_s_parent_is_this_process() {
        let mut child = Command::new("sleep").arg("5").spawn().expect("sleep");
        assert_eq!(parent_of(child.id()), Some(std::process::id()));
        assert!(children_of(std::process::id()).contains(&child.id()));
        let _ = child.kill();
        let _ = child.wait();
    }
}
