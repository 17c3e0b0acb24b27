//! Watching what a sandboxed submission uses, to say *why* it lost its
//! points: a fork bomb shows up as processes at the limit, an endless
//! `malloc` as a process at the memory limit.
//!
//! The [`Monitor`] samples `/proc` every 100 ms for the submission's
//! processes — those of its own user when it has one, or every process
//! but the harness in a PID namespace of its own — and, at the end, adds
//! the peak resident memory of every proxy the harness reaped
//! (`getrusage(RUSAGE_CHILDREN)`), which catches a process that grew and
//! died between two samples. A note is printed on stderr, prefixed with
//! [`NOTE_PREFIX`], the moment a threshold is crossed, so the note
//! survives even if the grade is then killed for its time limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Limits;

/// The prefix of a note on a sandboxed grade's stderr.
pub const NOTE_PREFIX: &str = "harness-note: ";

/// A limit counts as reached at this share of it (the harness's own
/// threads share the count in a user namespace; a sample may fall a few
/// processes short).
const REACHED: f64 = 0.75;

/// Whose processes are the submission's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// Every process of this (dedicated) user.
    Uid(u32),
    /// Every process but this one: the harness is PID 1 of a PID
    /// namespace of its own.
    AllButMe,
}

/// What the submission used, at its peak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Processes and threads at once.
    pub tasks: u64,
    /// Resident memory of its largest process, KiB.
    pub memory_kib: u64,
}

/// Samples a submission's processes until [`Monitor::finish`].
#[derive(Debug)]
pub struct Monitor {
    stop: Arc<AtomicBool>,
    peak: Arc<Mutex<Usage>>,
    notes: Arc<Mutex<Vec<Limit>>>,
    limits: Limits,
    handle: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Starts sampling `whose` processes against `limits`.
    pub fn start(whose: Whose, limits: Limits) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(Mutex::new(Usage::default()));
        let notes = Arc::new(Mutex::new(Vec::new()));
        let (flag, peaks, said) = (Arc::clone(&stop), Arc::clone(&peak), Arc::clone(&notes));
        let handle = std::thread::Builder::new()
            .name("sandbox-monitor".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    let now = sample(whose);
                    if let Ok(mut peak) = peaks.lock() {
                        peak.tasks = peak.tasks.max(now.tasks);
                        peak.memory_kib = peak.memory_kib.max(now.memory_kib);
                    }
                    for (kind, note) in notes_for(now, &limits) {
                        say(&said, kind, note);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .ok();
        Monitor {
            stop,
            peak,
            notes,
            limits,
            handle,
        }
    }

    /// Stops sampling; adds the largest reaped child; returns the peak
    /// usage and one note per limit reached, with the peak (a note is
    /// printed on stderr the first time its limit is reached, so it
    /// survives a grade killed later).
    pub fn finish(mut self) -> (Usage, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        let mut peak = self.peak.lock().map(|p| *p).unwrap_or_default();
        peak.memory_kib = peak.memory_kib.max(reaped_children_max_rss_kib());
        let notes: Vec<String> = notes_for(peak, &self.limits)
            .into_iter()
            .map(|(kind, note)| {
                say(&self.notes, kind, note.clone());
                note
            })
            .collect();
        (peak, notes)
    }
}

/// Which limit a note is about: each is said once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Processes,
    Memory,
}

/// Prints `note` on stderr, unless a note about `kind` was said already.
fn say(said: &Mutex<Vec<Limit>>, kind: Limit, note: String) {
    if let Ok(mut said) = said.lock()
        && !said.contains(&kind)
    {
        eprintln!("{NOTE_PREFIX}{note}");
        said.push(kind);
    }
}

/// The notes a usage deserves, one per limit reached.
fn notes_for(usage: Usage, limits: &Limits) -> Vec<(Limit, String)> {
    let mut notes = Vec::new();
    if usage.tasks as f64 >= limits.processes as f64 * REACHED {
        notes.push((Limit::Processes, format!(
            "ran {} processes and threads at once, at its limit of {}: it forks (or starts threads) without end; fork and pthread_create failed from then on",
            usage.tasks, limits.processes
        )));
    }
    let limit_kib = limits.memory_mib * 1024;
    if usage.memory_kib as f64 >= limit_kib as f64 * REACHED {
        notes.push((Limit::Memory, format!(
            "a process grew to {} MiB, at its memory limit of {} MiB: it allocates without end; malloc returned NULL from then on",
            usage.memory_kib / 1024,
            limits.memory_mib
        )));
    }
    notes
}

/// The peak resident memory of the largest child this process reaped, KiB.
fn reaped_children_max_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u64::try_from(u.max_rss()).unwrap_or(0))
        .unwrap_or(0)
}

/// One pass over `/proc`.
fn sample(whose: Whose) -> Usage {
    let me = std::process::id();
    let mut usage = Usage::default();
    for status in statuses() {
        let mine = match whose {
            Whose::Uid(uid) => status.uid == uid,
            Whose::AllButMe => status.pid != me,
        };
        if mine {
            usage.tasks += status.threads;
            usage.memory_kib = usage.memory_kib.max(status.hwm_kib);
        }
    }
    usage
}

/// The fields of `/proc/PID/status` the monitor reads.
struct Status {
    pid: u32,
    uid: u32,
    threads: u64,
    hwm_kib: u64,
}

/// Every process's status (processes that vanish while read are skipped).
fn statuses() -> Vec<Status> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse::<u64>().ok())
            };
            Some(Status {
                pid,
                uid: u32::try_from(field("Uid")?).ok()?,
                threads: field("Threads").unwrap_or(1),
                hwm_kib: field("VmHWM").unwrap_or(0),
            })
        })
        .collect()
}

/// The processes and threads that run as `uid` now (what the kernel
/// counts against `RLIMIT_NPROC`).
pub fn tasks_of_uid(uid: u32) -> usize {
    statuses()
        .iter()
        .filter(|s| s.uid == uid)
        .map(|s| s.threads as usize)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_user_runs_at_least_this_process() {
        let uid = nix::unistd::getuid().as_raw();
        assert!(tasks_of_uid(uid) >= 1);
    }

    #[test]
    fn notes_name_the_limit_that_was_reached() {
        let limits = Limits::PROXY;
        assert!(notes_for(Usage::default(), &limits).is_empty());
        let bomb = notes_for(
            Usage {
                tasks: 510,
                memory_kib: 0,
            },
            &limits,
        );
        assert_eq!(bomb.len(), 1);
        assert!(bomb[0].1.contains("forks"), "{bomb:?}");
        let eater = notes_for(
            Usage {
                tasks: 1,
                memory_kib: 1000 * 1024,
            },
            &limits,
        );
        assert_eq!(eater.len(), 1);
        assert!(eater[0].1.contains("allocates"), "{eater:?}");
    }
}
