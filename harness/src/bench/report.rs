//! The Markdown report of a run: one table per cell (medians with their
//! spread, ratios to the direct fetch and to nginx as a forward proxy),
//! the idle-connections table, the targets and the notes that say how it
//! was measured.

use std::fmt::Write as _;
use std::time::Duration;

use super::plan::{Cell, NGINX, Subject, size_name};
use super::results::Results;
use super::stats::Summary;
use super::targets::{TARGETS, evaluate, mib};

/// What the report says about the run besides the numbers.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The date (UTC), YYYY-MM-DD.
    pub date: String,
    /// CPUs and model.
    pub machine: String,
    /// /proc/loadavg's first three fields, before and after the run.
    pub load_before: String,
    /// See `load_before`.
    pub load_after: String,
    /// One line per program: its version.
    pub versions: Vec<String>,
    /// The whole run's length.
    pub elapsed: Duration,
}

/// The whole report.
pub fn markdown(results: &Results, info: &RunInfo) -> String {
    let mut out = String::new();
    let quick = if results.plan.quick { ", --quick" } else { "" };
    let _ = writeln!(
        out,
        "### harness bench, {} ({}){quick}\n",
        info.date, info.machine
    );
    let _ = writeln!(
        out,
        "Medians of {} interleaved rounds of {} s per subject; spread = (max − min) / median of \
         req/s; ratios are paired within a round, median (min–max).\n",
        results.plan.reps,
        results.plan.duration.as_secs()
    );
    for (cell, subjects) in &results.plan.cells {
        write_cell(&mut out, results, *cell, subjects);
    }
    write_idle(&mut out, results);
    write_targets(&mut out, results);
    write_notes(&mut out, info);
    out
}

fn write_cell(out: &mut String, results: &Results, cell: Cell, subjects: &[Subject]) {
    let _ = writeln!(out, "#### {cell}\n");
    let _ = writeln!(
        out,
        "| subject | req/s | spread | × direct | × {} | MiB/s | p50 ms | p99 ms | errors | resets | RSS MiB |",
        NGINX.name(cell.cache)
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for &subject in subjects {
        let name = subject.name(cell.cache);
        let Some(rps) = results.rps(cell, subject) else {
            let why = results
                .failure(cell, subject)
                .unwrap_or("every run failed")
                .replace(['|', '\n'], " ");
            let _ = writeln!(out, "| {name} | failed: {why} | | | | | | | | | |");
            continue;
        };
        let ratio = |anchor: Subject| {
            results
                .ratio(cell, subject, anchor)
                .map_or("–".into(), |s| range(&s))
        };
        let (errors, resets) = results.errors(cell, subject);
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.0}% | {} | {} | {} | {} | {} | {errors} | {resets} | {} |",
            rps.median,
            rps.spread() * 100.0,
            ratio(Subject::Direct),
            ratio(NGINX),
            results
                .mib_s(cell, subject)
                .map_or("–".into(), |s| format!("{:.1}", s.median)),
            results
                .p50_ms(cell, subject)
                .map_or("–".into(), |s| format!("{:.2}", s.median)),
            results
                .p99_ms(cell, subject)
                .map_or("–".into(), |s| format!("{:.2}", s.median)),
            results
                .peak_rss_kib(cell, subject)
                .map_or("–".into(), |k| format!("{:.1}", mib(k))),
        );
    }
    out.push('\n');
}

/// `1.23 (1.10–1.31)`.
fn range(s: &Summary) -> String {
    format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
}

fn write_idle(out: &mut String, results: &Results) {
    if results.idle.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "#### Idle connections\n\nOpen many connections that send nothing, then fetch {} \
         through the proxy:\n",
        size_name(1024)
    );
    let _ = writeln!(
        out,
        "| subject | opened | RSS before MiB | RSS idle MiB | threads | fetch while idle |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    for (subject, result) in &results.idle {
        let name = subject.name(false);
        match result {
            Ok(r) => {
                let fetch = match &r.fetch {
                    Ok(ms) => format!("ok, {ms:.1} ms"),
                    Err(e) => format!("failed: {}", e.replace('|', "/")),
                };
                let _ = writeln!(
                    out,
                    "| {name} | {} | {:.1} | {:.1} | {} | {fetch} |",
                    r.opened,
                    mib(r.rss_before_kib),
                    mib(r.rss_kib),
                    r.threads
                );
            }
            Err(e) => {
                let _ = writeln!(out, "| {name} | failed: {} | | | | |", e.replace('|', "/"));
            }
        }
    }
    out.push('\n');
}

fn write_targets(out: &mut String, results: &Results) {
    let _ = writeln!(out, "#### Targets (medians within this run)\n");
    let _ = writeln!(out, "| target | measured | met |");
    let _ = writeln!(out, "|---|---:|:---:|");
    for verdict in TARGETS.iter().flat_map(|goal| evaluate(goal, results)) {
        let mark = match verdict.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(out, "| {} | {} | {mark} |", verdict.what, verdict.measured);
    }
    out.push('\n');
}

fn write_notes(out: &mut String, info: &RunInfo) {
    let _ = writeln!(
        out,
        "Notes: wrk with absolute-URI GETs, the origin's `Host` and `Connection: close` (one \
         request per connection, as in the lab); 2 wrk threads (1 for 1 connection). The origin \
         is nginx (sendfile, one worker); nginx fwd is nginx as a forward proxy (`proxy_pass` to \
         the request's absolute URI, HTTP/1.0 and `Connection: close` to the origin, \
         `proxy_buffering off`, 64 KiB buffers); in the cache cell, nginx with `proxy_cache`. \
         Ours: {} builds, `RUST_LOG=warn`, `--no-cache` except in the cache cell. Every \
         subject of a cell is started once, checked with one fetch (byte for byte, and through \
         the origin's request counter: it reached the origin, or for a cache hit it did not), \
         then measured in rounds whose order rotates. RSS is the peak `VmRSS` sampled every \
         50 ms (single-process subjects). errors = connect + write + timeout + non-2xx + short \
         responses; resets = wrk's read errors. Load average (1, 5, 15 min) before the run: {}; \
         after: {}. Whole run: {:.0} s.\n",
        if cfg!(debug_assertions) {
            "debug (run the bench with --release for figures that mean anything)"
        } else {
            "release"
        },
        info.load_before,
        info.load_after,
        info.elapsed.as_secs_f64()
    );
    let _ = writeln!(out, "Versions: {}.", info.versions.join("; "));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::plan::{HIT_1K_64, K1_64};
    use crate::bench::results::tests::results;
    use harness::lab::Variant;

    #[test]
    fn a_cell_table_shows_medians_spreads_and_both_ratios() {
        let asy = Subject::Ours(Variant::Async);
        let r = results(
            K1_64,
            &[
                (Subject::Direct, [200, 200, 200]),
                (NGINX, [100, 100, 100]),
                (asy, [120, 110, 130]),
            ],
        );
        let text = markdown(&r, &RunInfo::default());
        assert!(text.contains("#### 1 KiB × 64"), "{text}");
        assert!(
            text.contains("| proxy-async | 120 | 17% | 0.60 (0.55–0.65) | 1.20 (1.10–1.30) | 0.1 | 0.00 | 2.00 | 0 | 0 | 4.1 |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| proxy-async ≥ 1.2 × nginx fwd (auto) at 1 KiB × 64 | 1.20 (1.10–1.30) | yes |"
            ),
            "{text}"
        );
        assert!(text.contains("at 1 KiB × 1 | – | not measured |"), "{text}");
    }

    #[test]
    fn a_subject_that_could_not_start_says_why() {
        let mut r = results(HIT_1K_64, &[(NGINX, [100, 100, 100])]);
        r.failed
            .push((HIT_1K_64, Subject::Squid, "squid | exited".into()));
        let text = markdown(&r, &RunInfo::default());
        assert!(
            text.contains("| squid (cache on) | failed: squid   exited |"),
            "{text}"
        );
        assert!(text.contains("× nginx proxy_cache (auto)"), "{text}");
    }
}
