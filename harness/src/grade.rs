//! Grading any proxy the way the course's driver does (SPEC §8): Basic 40,
//! Concurrency 15, Cache 15 — plus this project's extra sections (headers,
//! SIGPIPE, stalled clients, bad input, leaks), reported separately so the
//! 70-point score stays comparable with the course's.
//!
//! Each section gets a fresh proxy process (so a proxy that one section
//! leaves stuck cannot fail the next), runs its checks with bounded waits,
//! and has a time budget of its own: a hanging or crashing proxy never
//! hangs the grader.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::checks::{self, Check, cache, concurrency, robustness};
use crate::lab::{ProxySpec, start_origin};
use crate::process::{Running, describe_exit, kill_group};

/// Points per scored section, as in the course's driver.
pub const BASIC_POINTS: u32 = 40;
/// See [`BASIC_POINTS`].
pub const CONCURRENCY_POINTS: u32 = 15;
/// See [`BASIC_POINTS`].
pub const CACHE_POINTS: u32 = 15;

/// The longest one section may take.
const SECTION_BUDGET: Duration = Duration::from_secs(15);
/// The basic section fetches its objects one after another, as the driver
/// does, so a proxy that hangs uses one fetch timeout per object.
const BASIC_BUDGET: Duration = Duration::from_secs(30);

/// One scored section.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    /// Section name.
    pub section: String,
    /// Points earned.
    pub points: u32,
    /// Points possible.
    pub max: u32,
}

/// The whole grade.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The proxy graded.
    pub proxy: String,
    /// Basic, Concurrency, Cache.
    pub scores: Vec<Score>,
    /// Sum of the scored sections.
    pub total: u32,
    /// 70.
    pub max_total: u32,
    /// The checks behind the score.
    pub scored_checks: Vec<Check>,
    /// The extra sections' checks (not part of the 70 points).
    pub extra_checks: Vec<Check>,
    /// Seconds the grading took.
    pub seconds: f64,
}

impl Report {
    /// `true` on 70/70.
    pub fn full_score(&self) -> bool {
        self.total == self.max_total
    }

    /// `true` when every extra check passed too.
    pub fn extras_passed(&self) -> bool {
        self.extra_checks.iter().all(|c| c.passed)
    }

    /// Points of one section.
    pub fn points(&self, section: &str) -> u32 {
        self.scores
            .iter()
            .find(|s| s.section == section)
            .map_or(0, |s| s.points)
    }

    /// Extra sections with at least one failed check.
    pub fn failed_extra_sections(&self) -> Vec<String> {
        let mut failed: Vec<String> = self
            .extra_checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.section.clone())
            .collect();
        failed.dedup();
        failed
    }

    /// The score table and every failure with its hint, as text.
    pub fn render(&self) -> String {
        let mut out = format!("Proxy Lab grade for {}\n\n", self.proxy);
        out.push_str("  Section          Score\n  ---------------  -------\n");
        for score in &self.scores {
            out.push_str(&format!(
                "  {:<15}  {:>2} / {}\n",
                score.section, score.points, score.max
            ));
        }
        out.push_str(&format!(
            "  {:<15}  {:>2} / {}\n\n",
            "Total", self.total, self.max_total
        ));
        out.push_str("Extra sections (not part of the 70 points):\n");
        let mut sections: Vec<&str> = self
            .extra_checks
            .iter()
            .map(|c| c.section.as_str())
            .collect();
        sections.dedup();
        for section in sections {
            let of: Vec<&Check> = self
                .extra_checks
                .iter()
                .filter(|c| c.section == section)
                .collect();
            let passed = of.iter().filter(|c| c.passed).count();
            let mark = if passed == of.len() { "ok  " } else { "FAIL" };
            out.push_str(&format!(
                "  {mark} {section:<16} {passed}/{} checks passed\n",
                of.len()
            ));
        }
        let failures: Vec<&Check> = self
            .scored_checks
            .iter()
            .chain(&self.extra_checks)
            .filter(|c| !c.passed)
            .collect();
        if !failures.is_empty() {
            out.push_str("\nWhat failed:\n");
            for check in failures {
                out.push_str(&format!("{check}\n"));
            }
        }
        out.push_str(&format!("\nGraded in {:.1} s.\n", self.seconds));
        out
    }
}

/// Runs `f` in its own thread with the section budget; a section that
/// overruns becomes one failed check instead of hanging the grader, and
/// the processes it registered in `started` are killed.
fn bounded(
    section: &str,
    budget: Duration,
    started: Started,
    f: impl FnOnce() -> Vec<Check> + Send + 'static,
) -> Vec<Check> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(budget) {
        Ok(checks) => checks,
        Err(_) => {
            // The section's thread still owns its processes: kill them
            // here, or they would outlive the grader.
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
}

/// The process groups a section started.
type Started = Arc<Mutex<Vec<u32>>>;

/// Starts a fresh proxy for one section; a failure to start is a failed
/// check of that section.
fn fresh(spec: &ProxySpec, section: &str) -> std::result::Result<Running, Vec<Check>> {
    spec.start(&[]).map_err(|e| {
        vec![Check::fail(
            section,
            "proxy starts and listens",
            format!("{e:#}"),
            Some("does `./proxy PORT` listen on that port?"),
        )]
    })
}

/// Adds a failed check when the proxy died during the section.
fn still_alive(section: &str, proxy: &mut Running, checks: &mut Vec<Check>) {
    if let Some(status) = proxy.exit_status() {
        checks.push(Check::fail(
            section,
            "proxy still running",
            format!("the proxy exited during this section: {}", describe_exit(status)),
            Some("your proxy died: SIGPIPE? or an exit() on a failed read/write (Rio_writen exits on error)"),
        ));
    }
}

fn run_section(
    spec: &ProxySpec,
    section: &'static str,
    body: impl FnOnce(&mut Running, &Started) -> Vec<Check> + Send + 'static,
) -> Vec<Check> {
    let spec = spec.clone();
    let budget = if section == "basic" {
        BASIC_BUDGET
    } else {
        SECTION_BUDGET
    };
    let started: Started = Arc::default();
    let registry = Arc::clone(&started);
    bounded(section, budget, started, move || {
        let mut proxy = match fresh(&spec, section) {
            Ok(proxy) => proxy,
            Err(checks) => return checks,
        };
        if let Ok(mut pids) = registry.lock() {
            pids.push(proxy.pid());
        }
        let mut checks = body(&mut proxy, &registry);
        still_alive(section, &mut proxy, &mut checks);
        checks
    })
}

fn spawn_section(
    spec: &ProxySpec,
    section: &'static str,
    body: impl FnOnce(&mut Running, &Started) -> Vec<Check> + Send + 'static,
) -> std::thread::JoinHandle<Vec<Check>> {
    let spec = spec.clone();
    std::thread::spawn(move || run_section(&spec, section, body))
}

/// Grades the proxy `spec` against a fresh tiny-origin.
pub fn grade(spec: &ProxySpec) -> Result<Report> {
    let start = Instant::now();
    // /stall and /hold end after 5 s so a stalled sequential proxy recovers.
    let origin = start_origin(&["--stall-secs", "5", "--hold-secs", "5"])?;
    let o: SocketAddr = origin.addr;

    let basic = run_section(spec, "basic", move |p, _| checks::basic(o, p.addr));
    // 8 points per object fetched right (a crash or overrun scores the
    // objects that were not fetched as failed).
    let fetched_right = basic
        .iter()
        .filter(|c| c.passed && c.name.starts_with("fetch "))
        .count() as u32;
    let basic_points = BASIC_POINTS * fetched_right / checks::BASIC_OBJECTS.len() as u32;

    let concurrency_checks = run_section(spec, "concurrency", move |p, _| {
        vec![concurrency::fetch_beside_stalled_origin(o, p.addr)]
    });
    let concurrency_points = if concurrency_checks.iter().all(|c| c.passed) {
        CONCURRENCY_POINTS
    } else {
        0
    };

    // The cache section stops its own origin, so it gets one.
    let cache_checks = run_section(spec, "cache", move |p, started| match start_origin(&[]) {
        Ok(mut own) => {
            if let Ok(mut pids) = started.lock() {
                pids.push(own.pid());
            }
            cache::served_after_origin_stops(&mut own, p.addr)
        }
        Err(e) => vec![Check::fail(
            "cache",
            "start an origin",
            format!("{e:#}"),
            None,
        )],
    });
    let (scored_cache, extra_cache): (Vec<Check>, Vec<Check>) = cache_checks
        .into_iter()
        .partition(|c| !c.name.contains(cache::TOO_BIG));
    let cache_points = if !scored_cache.is_empty() && scored_cache.iter().all(|c| c.passed) {
        CACHE_POINTS
    } else {
        0
    };

    // The extra sections run side by side, each with its own proxy, so a
    // proxy that hangs everywhere still finishes within about a minute.
    let sections: Vec<std::thread::JoinHandle<Vec<Check>>> = vec![
        spawn_section(spec, "headers", move |p, _| checks::headers(o, p.addr)),
        spawn_section(spec, "stalled_clients", move |p, _| {
            vec![concurrency::fetch_beside_stalled_clients(o, p.addr)]
        }),
        spawn_section(spec, "bad_input", move |p, _| {
            let cases: Vec<_> = checks::bad_cases(o, checks::closed_port())
                .into_iter()
                .filter(|c| !c.name.contains("denied"))
                .collect();
            checks::bad_input(o, p.addr, &cases)
        }),
        spawn_section(spec, "sigpipe", move |p, _| robustness::sigpipe(o, p)),
        spawn_section(spec, "leaks", move |p, _| {
            robustness::leaks(o, p, 300).unwrap_or_else(|| {
                vec![Check::pass(
                    "leaks",
                    "skipped: /proc is not available on this system",
                )]
            })
        }),
    ];
    let mut extra = Vec::new();
    for handle in sections {
        extra.extend(handle.join().unwrap_or_else(|_| {
            vec![Check::fail(
                "extra",
                "section ran",
                "the section panicked",
                None,
            )]
        }));
    }
    extra.extend(extra_cache);

    let scores = vec![
        Score {
            section: "Basic".into(),
            points: basic_points,
            max: BASIC_POINTS,
        },
        Score {
            section: "Concurrency".into(),
            points: concurrency_points,
            max: CONCURRENCY_POINTS,
        },
        Score {
            section: "Cache".into(),
            points: cache_points,
            max: CACHE_POINTS,
        },
    ];
    let total = scores.iter().map(|s| s.points).sum();
    let mut scored_checks = basic;
    scored_checks.extend(concurrency_checks);
    scored_checks.extend(scored_cache);
    drop(origin);
    Ok(Report {
        proxy: spec.name(),
        scores,
        total,
        max_total: BASIC_POINTS + CONCURRENCY_POINTS + CACHE_POINTS,
        scored_checks,
        extra_checks: extra,
        seconds: start.elapsed().as_secs_f64(),
    })
}
