//! Watching what a sandboxed submission uses, to say *why* it lost its
//! points: a fork bomb shows up as processes at the limit, an endless
//! `malloc` as a process at the memory limit.
//!
//! The [`Monitor`] samples `/proc` every 100 ms for the submission's
//! processes — those of its own user when it has one, every process but
//! the harness in a PID namespace of its own, else the harness's
//! descendants — and, at the end, adds
//! the peak resident memory of every proxy the harness reaped
//! (`getrusage(RUSAGE_CHILDREN)`), which catches a process that grew and
//! died between two samples. A note is printed on stderr, prefixed with
//! [`NOTE_PREFIX`], the moment a threshold is crossed, so the note
//! survives even if the grade is then killed for its time limit.
//!
//! The memory limit binds each process; a grade runs a dozen proxy
//! processes at once (the extras), so the monitor also bounds the
//! submission's total: when its processes' resident memory adds up to more
//! than [`TOTAL_MEMORY_FACTOR`] times the per-process limit, it kills the
//! largest of them (SIGKILL) and says so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Limits;

/// The prefix of a note on a sandboxed grade's stderr.
pub const NOTE_PREFIX: &str = "harness-note: ";

/// A submission's processes may hold this many times the per-process
/// memory limit in all before the monitor kills the largest.
pub const TOTAL_MEMORY_FACTOR: u64 = 2;

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
    /// This process's descendants (without a user or a PID namespace of
    /// the submission's own: a process that left the tree is missed).
    Descendants,
}

/// What the submission used, at its peak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Processes and threads at once.
    pub tasks: u64,
    /// Resident memory of its largest process, KiB.
    pub memory_kib: u64,
    /// Resident memory of all its processes together, KiB.
    #[serde(default)]
    pub total_memory_kib: u64,
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
                let budget_kib = limits.memory_mib * 1024 * TOTAL_MEMORY_FACTOR;
                while !flag.load(Ordering::Relaxed) {
                    let (now, largest) = sample(whose);
                    if let Ok(mut peak) = peaks.lock() {
                        peak.tasks = peak.tasks.max(now.tasks);
                        peak.memory_kib = peak.memory_kib.max(now.memory_kib);
                        peak.total_memory_kib = peak.total_memory_kib.max(now.total_memory_kib);
                    }
                    for (kind, note) in notes_for(now, &limits) {
                        say(&said, kind, &note);
                    }
                    if now.total_memory_kib > budget_kib
                        && let Some(pid) = largest
                        && let Ok(raw) = i32::try_from(pid)
                    {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(raw),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                        say(
                            &said,
                            Limit::Total,
                            &format!(
                                "its processes held {} MiB in all, over the submission's budget of {} MiB: the largest was killed (SIGKILL)",
                                now.total_memory_kib / 1024,
                                budget_kib / 1024
                            ),
                        );
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
        let killed = self.notes.lock().is_ok_and(|n| n.contains(&Limit::Total));
        let mut notes: Vec<String> = notes_for(peak, &self.limits)
            .into_iter()
            .map(|(kind, note)| {
                say(&self.notes, kind, &note);
                note
            })
            .collect();
        if killed {
            notes.push(format!(
                "its processes held up to {} MiB in all, over the submission's budget of {} MiB: the largest were killed (SIGKILL)",
                peak.total_memory_kib / 1024,
                self.limits.memory_mib * TOTAL_MEMORY_FACTOR
            ));
        }
        (peak, notes)
    }
}

/// Which limit a note is about: each is said once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Processes,
    Memory,
    Total,
}

/// Prints `note` on stderr, unless a note about `kind` was said already.
fn say(said: &Mutex<Vec<Limit>>, kind: Limit, note: &str) {
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
        .map_or(0, |u| u64::try_from(u.max_rss()).unwrap_or(0))
}

/// One pass over `/proc`: the usage, and the process holding the most
/// memory now.
fn sample(whose: Whose) -> (Usage, Option<u32>) {
    let me = std::process::id();
    let mut usage = Usage::default();
    let mut largest: Option<(u32, u64)> = None;
    let all = statuses();
    let parents: std::collections::HashMap<u32, u32> =
        all.iter().map(|s| (s.pid, s.ppid)).collect();
    let descends = |mut pid: u32| {
        // Bounded: a parent chain is never longer than the process count.
        for _ in 0..parents.len() {
            match parents.get(&pid) {
                Some(&parent) if parent == me => return true,
                Some(&parent) if parent > 1 => pid = parent,
                _ => return false,
            }
        }
        false
    };
    for status in &all {
        let mine = match whose {
            Whose::Uid(uid) => status.uid == uid,
            Whose::AllButMe => status.pid != me,
            Whose::Descendants => descends(status.pid),
        };
        if mine {
            usage.tasks += status.threads;
            usage.memory_kib = usage.memory_kib.max(status.hwm_kib);
            usage.total_memory_kib += status.rss_kib;
            if largest.is_none_or(|(_, rss)| status.rss_kib > rss) {
                largest = Some((status.pid, status.rss_kib));
            }
        }
    }
    (usage, largest.map(|(pid, _)| pid))
}

/// The fields of `/proc/PID/status` the monitor reads.
struct Status {
    pid: u32,
    ppid: u32,
    uid: u32,
    threads: u64,
    hwm_kib: u64,
    rss_kib: u64,
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
                ppid: u32::try_from(field("PPid")?).ok()?,
                uid: u32::try_from(field("Uid")?).ok()?,
                threads: field("Threads").unwrap_or(1),
                hwm_kib: field("VmHWM").unwrap_or(0),
                rss_kib: field("VmRSS").unwrap_or(0),
            })
        })
        .collect()
}

/// The processes and threads that run as `uid` now (what the kernel
/// counts against `RLIMIT_NPROC`).
pub fn tasks_of_uid(uid: u32) -> u64 {
    statuses()
        .iter()
        .filter(|s| s.uid == uid)
        .map(|s| s.threads)
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
                ..Usage::default()
            },
            &limits,
        );
        assert_eq!(bomb.len(), 1);
        assert!(bomb[0].1.contains("forks"), "{bomb:?}");
        let eater = notes_for(
            Usage {
                tasks: 1,
                memory_kib: 1000 * 1024,
                ..Usage::default()
            },
            &limits,
        );
        assert_eq!(eater.len(), 1);
        assert!(eater[0].1.contains("allocates"), "{eater:?}");
    }
}
