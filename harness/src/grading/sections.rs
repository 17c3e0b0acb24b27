//! Running one section of a grade: a fresh proxy, a time budget, and
//! whatever a hanging or crashing proxy does, a result — never a hang.

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::checks::{Check, Section};
use crate::lab::ProxySpec;
use crate::process::{Running, kill_group};

/// The process groups a section started, to kill if it overruns.
pub(crate) type Started = Arc<Mutex<Vec<u32>>>;

/// Registers `pid` as started by the section.
pub(crate) fn register(started: &Started, pid: u32) {
    if let Ok(mut pids) = started.lock() {
        pids.push(pid);
    }
}

/// Starts a fresh proxy for `section` (with `flags` for our variants) and
/// runs `body` with it on a thread of its own, within `budget`. A proxy
/// that does not start fails the section with why; a section that
/// overruns is one failed check, and its processes are killed.
pub(crate) fn run_section(
    proxy: &ProxySpec,
    section: Section,
    flags: &'static [&'static str],
    budget: Duration,
    body: impl FnOnce(&mut Running, &Started) -> Vec<Check> + Send + 'static,
) -> Vec<Check> {
    let proxy = proxy.clone();
    let started: Started = Arc::default();
    let registry = Arc::clone(&started);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let checks = match proxy.start(flags) {
            Ok(mut running) => {
                register(&registry, running.pid());
                body(&mut running, &registry)
            }
            Err(e) => vec![Check::fail(
                section,
                "the proxy starts and listens",
                format!("{e:#}"),
                Some("does `./proxy PORT` listen on that port and keep running?"),
            )],
        };
        let _ = tx.send(checks);
    });
    if let Ok(checks) = rx.recv_timeout(budget) {
        checks
    } else {
        // The section's thread still owns its processes: kill them
        // here, or they would outlive the grade.
        for pid in started.lock().map(|p| p.clone()).unwrap_or_default() {
            kill_group(pid);
        }
        vec![Check::fail(
            section,
            "section finished in time",
            format!("still running after {budget:?}"),
            Some(
                "your proxy hangs: make every read and write bounded, and never wait forever on one client",
            ),
        )]
    }
}

/// [`run_section`] on a thread of its own, so sections run side by side.
pub(crate) fn spawn_section(
    proxy: &ProxySpec,
    section: Section,
    flags: &'static [&'static str],
    budget: Duration,
    body: impl FnOnce(&mut Running, &Started) -> Vec<Check> + Send + 'static,
) -> std::thread::JoinHandle<Vec<Check>> {
    let proxy = proxy.clone();
    std::thread::spawn(move || run_section(&proxy, section, flags, budget, body))
}

/// Joins sections started with [`spawn_section`], in order.
pub(crate) fn join_all(handles: Vec<(Section, std::thread::JoinHandle<Vec<Check>>)>) -> Vec<Check> {
    handles
        .into_iter()
        .flat_map(|(section, handle)| {
            handle.join().unwrap_or_else(|_| {
                vec![Check::fail(
                    Section::Setup,
                    format!("{section} ran"),
                    "the section panicked",
                    None,
                )]
            })
        })
        .collect()
}
