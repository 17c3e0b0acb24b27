//! The performance targets, as a table, and how one is judged against a
//! run's results. Ratios are judged on their medians (see
//! [`super::stats`]); the range is shown beside them.

use harness::lab::Variant;

use super::plan::{Cell, HIT_1K_64, K1_1, K1_64, K100_64, M10_64, NGINX, Subject};
use super::results::Results;

/// One target: what must hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// `subject`'s req/s ≥ `at_least` × `of`'s in `cell` (median of the
    /// paired ratios).
    Ratio {
        /// The subject judged.
        subject: Subject,
        /// The reference.
        of: Subject,
        /// Where.
        cell: Cell,
        /// The least median ratio that meets the target.
        at_least: f64,
    },
    /// The same ratio in every cell where both were measured (one verdict
    /// per cell).
    RatioEveryCell {
        /// The subject judged.
        subject: Subject,
        /// The reference.
        of: Subject,
        /// The least median ratio that meets the target.
        at_least: f64,
    },
    /// Peak RSS under load, in every cell, at most this many MiB.
    RssUnderLoad {
        /// The subject judged.
        subject: Subject,
        /// The limit, MiB.
        at_most_mib: u64,
    },
    /// RSS with the idle connections open at most this many MiB, and a
    /// fetch still served meanwhile.
    RssIdle {
        /// The subject judged.
        subject: Subject,
        /// The limit, MiB.
        at_most_mib: u64,
    },
    /// No failed request and no reset in any cell.
    NoErrors {
        /// The subject judged.
        subject: Subject,
    },
}

const ASYNC: Subject = Subject::Ours(Variant::Async);
const THREAD: Subject = Subject::Ours(Variant::Thread);

/// The targets of issue #16, in the order the report lists them. A table
/// kept as one: `rustfmt` would spread each row over six lines.
#[rustfmt::skip]
pub const TARGETS: &[Goal] = &[
    Goal::Ratio { subject: ASYNC, of: NGINX, cell: K1_64, at_least: 1.2 },
    Goal::Ratio { subject: ASYNC, of: NGINX, cell: K1_1, at_least: 1.2 },
    Goal::Ratio { subject: ASYNC, of: NGINX, cell: K100_64, at_least: 1.0 },
    Goal::Ratio { subject: ASYNC, of: NGINX, cell: M10_64, at_least: 1.3 },
    Goal::Ratio { subject: ASYNC, of: NGINX, cell: HIT_1K_64, at_least: 1.0 },
    Goal::RatioEveryCell { subject: THREAD, of: ASYNC, at_least: 0.8 },
    Goal::RssUnderLoad { subject: ASYNC, at_most_mib: 10 },
    Goal::RssIdle { subject: ASYNC, at_most_mib: 16 },
    Goal::NoErrors { subject: ASYNC },
    Goal::NoErrors { subject: THREAD },
];

/// A target judged: what it says, what was measured, whether it is met
/// (`None`: not measured in this run).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The target in words.
    pub what: String,
    /// The measured value.
    pub measured: String,
    /// Met, not met, or not measured.
    pub met: Option<bool>,
}

/// Judges `goal` against `results` (one verdict, or one per cell).
pub fn evaluate(goal: &Goal, results: &Results) -> Vec<Verdict> {
    let cells = || results.plan.cells.iter().map(|(c, _)| *c);
    match *goal {
        Goal::Ratio {
            subject,
            of,
            cell,
            at_least,
        } => {
            vec![ratio(results, subject, of, cell, at_least)]
        }
        Goal::RatioEveryCell {
            subject,
            of,
            at_least,
        } => cells()
            .map(|cell| ratio(results, subject, of, cell, at_least))
            .collect(),
        Goal::RssUnderLoad {
            subject,
            at_most_mib,
        } => {
            let peak = cells()
                .filter_map(|c| results.peak_rss_kib(c, subject))
                .max();
            vec![Verdict {
                what: format!(
                    "{} RSS ≤ {at_most_mib} MiB under load (every cell)",
                    subject.name(false)
                ),
                measured: peak.map_or("–".into(), |k| format!("{:.1} MiB", mib(k))),
                met: peak.map(|k| k <= at_most_mib * 1024),
            }]
        }
        Goal::RssIdle {
            subject,
            at_most_mib,
        } => {
            let idle = results.idle_of(subject).and_then(|r| r.as_ref().ok());
            vec![Verdict {
                what: format!(
                    "{} RSS ≤ {at_most_mib} MiB with the idle connections open, still serving",
                    subject.name(false)
                ),
                measured: idle.map_or("–".into(), |r| {
                    format!(
                        "{:.1} MiB, {} open, fetch {}",
                        mib(r.rss_kib),
                        r.opened,
                        if r.fetch.is_ok() { "ok" } else { "failed" }
                    )
                }),
                met: idle.map(|r| r.rss_kib <= at_most_mib * 1024 && r.fetch.is_ok()),
            }]
        }
        Goal::NoErrors { subject } => {
            let measured: Vec<(u64, u64)> = cells()
                .filter(|&c| results.rps(c, subject).is_some())
                .map(|c| results.errors(c, subject))
                .collect();
            let (errors, resets) = measured
                .iter()
                .fold((0, 0), |(e, r), (e2, r2)| (e + e2, r + r2));
            vec![Verdict {
                what: format!("{}: no failed request, no reset", subject.name(false)),
                measured: format!("{errors} errors, {resets} resets"),
                met: (!measured.is_empty()).then_some(errors + resets == 0),
            }]
        }
    }
}

fn ratio(results: &Results, subject: Subject, of: Subject, cell: Cell, at_least: f64) -> Verdict {
    let summary = results.ratio(cell, subject, of);
    Verdict {
        what: format!(
            "{} ≥ {at_least:.1} × {} at {cell}",
            subject.name(cell.cache),
            of.name(cell.cache)
        ),
        measured: summary.map_or("–".into(), |s| {
            format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
        }),
        met: summary.map(|s| s.median >= at_least),
    }
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::results::tests::results;

    fn first(goal: Goal, r: &Results) -> Verdict {
        evaluate(&goal, r).remove(0)
    }

    #[test]
    fn a_ratio_target_is_judged_on_the_median() {
        // Paired ratios 1.3, 1.1, 1.25: median 1.25 ≥ 1.2 although one
        // round fell short.
        let r = results(K1_64, &[(NGINX, [100, 100, 100]), (ASYNC, [130, 110, 125])]);
        let v = first(TARGETS[0], &r);
        assert_eq!(v.met, Some(true), "{v:?}");
        assert_eq!(v.measured, "1.25 (1.10–1.30)");
        assert!(
            v.what
                .contains("proxy-async ≥ 1.2 × nginx fwd (auto) at 1 KiB × 64")
        );
        // Median 1.15: not met, though the best round passes.
        let r = results(K1_64, &[(NGINX, [100, 100, 100]), (ASYNC, [130, 110, 115])]);
        assert_eq!(first(TARGETS[0], &r).met, Some(false));
    }

    #[test]
    fn an_unmeasured_target_says_so() {
        let r = results(K1_64, &[(NGINX, [100, 100, 100])]);
        let v = first(TARGETS[0], &r);
        assert_eq!((v.met, v.measured.as_str()), (None, "–"));
        assert_eq!(first(TARGETS[1], &r).met, None);
    }

    #[test]
    fn every_cell_gets_its_own_verdict() {
        let r = results(K1_64, &[(ASYNC, [100, 100, 100]), (THREAD, [79, 81, 70])]);
        let goal = Goal::RatioEveryCell {
            subject: THREAD,
            of: ASYNC,
            at_least: 0.8,
        };
        let verdicts = evaluate(&goal, &r);
        assert_eq!(verdicts.len(), r.plan.cells.len());
        assert_eq!(verdicts[0].met, Some(false), "{:?}", verdicts[0]);
        assert!(verdicts[1..].iter().all(|v| v.met.is_none()));
    }

    #[test]
    fn memory_and_error_targets() {
        let r = results(K1_64, &[(ASYNC, [100, 200, 300])]);
        let rss = first(
            Goal::RssUnderLoad {
                subject: ASYNC,
                at_most_mib: 10,
            },
            &r,
        );
        assert_eq!(rss.met, Some(true), "{rss:?}");
        let tight = first(
            Goal::RssUnderLoad {
                subject: ASYNC,
                at_most_mib: 4,
            },
            &r,
        );
        assert_eq!(tight.met, Some(false));
        assert_eq!(first(Goal::NoErrors { subject: ASYNC }, &r).met, Some(true));
        let mut broken = r.clone();
        broken.samples[0].result = Ok(crate::bench::results::tests::wrk(100, 0));
        broken.samples[1].result = Err("no".into());
        assert_eq!(
            first(Goal::NoErrors { subject: ASYNC }, &broken).met,
            Some(false)
        );
        assert_eq!(
            first(
                Goal::RssIdle {
                    subject: ASYNC,
                    at_most_mib: 16
                },
                &r
            )
            .met,
            None
        );
    }
}
