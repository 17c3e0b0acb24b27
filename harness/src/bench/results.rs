//! What a run measured, and the questions the report and the targets ask
//! of it: a subject's median req/s in a cell, its ratio to another subject
//! (paired by repetition), its errors and peak memory.

use super::idle::IdleResult;
use super::load::WrkResult;
use super::plan::{Cell, Plan, Subject};
use super::stats::{Summary, paired_ratios};

/// One wrk run of one subject in one cell.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The cell.
    pub cell: Cell,
    /// What the load went through.
    pub subject: Subject,
    /// The round (0-based).
    pub rep: usize,
    /// What wrk measured, or why it could not.
    pub result: Result<WrkResult, String>,
    /// Peak RSS of the proxy during the run, KiB (single-process subjects).
    pub rss_kib: Option<u64>,
}

/// Everything one `harness bench` run found.
#[derive(Debug, Clone)]
pub struct Results {
    /// What was planned.
    pub plan: Plan,
    /// Every wrk run.
    pub samples: Vec<Sample>,
    /// Subjects that could not be measured in a cell (did not start, or
    /// the check fetch failed), with the reason.
    pub failed: Vec<(Cell, Subject, String)>,
    /// The idle-connections measure per subject.
    pub idle: Vec<(Subject, Result<IdleResult, String>)>,
}

impl Results {
    /// Empty results for `plan`.
    pub fn new(plan: Plan) -> Results {
        Results {
            plan,
            samples: Vec::new(),
            failed: Vec::new(),
            idle: Vec::new(),
        }
    }

    fn ok(&self, cell: Cell, subject: Subject) -> impl Iterator<Item = &WrkResult> {
        self.samples
            .iter()
            .filter(move |s| s.cell == cell && s.subject == subject)
            .filter_map(|s| s.result.as_ref().ok())
    }

    /// req/s per repetition (`None` where that run failed).
    pub fn rps_by_rep(&self, cell: Cell, subject: Subject) -> Vec<Option<f64>> {
        let mut by_rep = vec![None; self.plan.reps];
        for s in &self.samples {
            if s.cell == cell
                && s.subject == subject
                && let (Some(slot), Ok(r)) = (by_rep.get_mut(s.rep), &s.result)
            {
                *slot = Some(r.rps());
            }
        }
        by_rep
    }

    /// Median and spread of req/s.
    pub fn rps(&self, cell: Cell, subject: Subject) -> Option<Summary> {
        let values: Vec<f64> = self
            .rps_by_rep(cell, subject)
            .into_iter()
            .flatten()
            .collect();
        Summary::of(&values)
    }

    /// Median and range of `subject`'s req/s over `anchor`'s, paired by
    /// repetition.
    pub fn ratio(&self, cell: Cell, subject: Subject, anchor: Subject) -> Option<Summary> {
        Summary::of(&paired_ratios(
            &self.rps_by_rep(cell, subject),
            &self.rps_by_rep(cell, anchor),
        ))
    }

    /// Median and range of MiB/s.
    pub fn mib_s(&self, cell: Cell, subject: Subject) -> Option<Summary> {
        let values: Vec<f64> = self.ok(cell, subject).map(WrkResult::mib_s).collect();
        Summary::of(&values)
    }

    /// Median and range of the median latency, ms.
    pub fn p50_ms(&self, cell: Cell, subject: Subject) -> Option<Summary> {
        let values: Vec<f64> = self
            .ok(cell, subject)
            .map(|r| r.p50_us as f64 / 1000.0)
            .collect();
        Summary::of(&values)
    }

    /// Median and range of the 99th-percentile latency, ms.
    pub fn p99_ms(&self, cell: Cell, subject: Subject) -> Option<Summary> {
        let values: Vec<f64> = self
            .ok(cell, subject)
            .map(|r| r.p99_us as f64 / 1000.0)
            .collect();
        Summary::of(&values)
    }

    /// Failed requests (connect, write, status, timeout, short bodies) and
    /// wrk's read errors (resets), summed over the repetitions; a failed
    /// run counts as one error.
    pub fn errors(&self, cell: Cell, subject: Subject) -> (u64, u64) {
        self.samples
            .iter()
            .filter(|s| s.cell == cell && s.subject == subject)
            .fold((0, 0), |(errors, resets), s| match &s.result {
                Ok(r) => (errors + r.errors(cell.body), resets + r.read),
                Err(_) => (errors + 1, resets),
            })
    }

    /// Peak RSS over the repetitions, KiB.
    pub fn peak_rss_kib(&self, cell: Cell, subject: Subject) -> Option<u64> {
        self.samples
            .iter()
            .filter(|s| s.cell == cell && s.subject == subject)
            .filter_map(|s| s.rss_kib)
            .max()
    }

    /// Why `subject` could not be measured in `cell`, if it could not.
    pub fn failure(&self, cell: Cell, subject: Subject) -> Option<&str> {
        self.failed
            .iter()
            .find(|(c, s, _)| *c == cell && *s == subject)
            .map(|(_, _, why)| why.as_str())
    }

    /// The idle-connections measure of `subject`.
    pub fn idle_of(&self, subject: Subject) -> Option<&Result<IdleResult, String>> {
        self.idle
            .iter()
            .find(|(s, _)| *s == subject)
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bench::plan::{K1_64, NGINX, Options};
    use harness::lab::Variant;

    /// A wrk result of `rps` requests per second over one second.
    pub(crate) fn wrk(rps: u64, body: u64) -> WrkResult {
        WrkResult {
            requests: rps,
            bytes: rps * body,
            duration_us: 1_000_000,
            p99_us: 2_000,
            ..WrkResult::default()
        }
    }

    /// Results of three rounds with the given req/s per subject per round.
    pub(crate) fn results(cell: Cell, rows: &[(Subject, [u64; 3])]) -> Results {
        let options = Options {
            reps: Some(3),
            ..Options::default()
        };
        let mut results = Results::new(Plan::new(&options, |_| true));
        for &(subject, rps) in rows {
            for (rep, &r) in rps.iter().enumerate() {
                results.samples.push(Sample {
                    cell,
                    subject,
                    rep,
                    result: Ok(wrk(r, cell.body)),
                    rss_kib: Some(4096 + r),
                });
            }
        }
        results
    }

    #[test]
    fn ratios_are_medians_of_paired_rounds() {
        let asy = Subject::Ours(Variant::Async);
        let r = results(K1_64, &[(NGINX, [100, 200, 100]), (asy, [150, 200, 90])]);
        let ratio = r.ratio(K1_64, asy, NGINX).expect("ratio");
        // Rounds: 1.5, 1.0, 0.9 -> median 1.0.
        assert!((ratio.median - 1.0).abs() < 1e-9, "{ratio:?}");
        assert!((ratio.min - 0.9).abs() < 1e-9 && (ratio.max - 1.5).abs() < 1e-9);
        assert_eq!(r.rps(K1_64, asy).map(|s| s.median.round()), Some(150.0));
        assert_eq!(r.peak_rss_kib(K1_64, asy), Some(4096 + 200));
        assert_eq!(r.ratio(K1_64, Subject::Squid, NGINX), None);
    }

    #[test]
    fn a_failed_round_counts_as_an_error_and_is_left_out_of_ratios() {
        let asy = Subject::Ours(Variant::Async);
        let mut r = results(K1_64, &[(NGINX, [100, 100, 100]), (asy, [120, 0, 80])]);
        r.samples[4].result = Err("wrk died".into());
        assert_eq!(r.errors(K1_64, asy), (1, 0));
        let ratio = r.ratio(K1_64, asy, NGINX).expect("ratio");
        assert_eq!(ratio.count, 2);
        assert!((ratio.median - 1.0).abs() < 1e-9);
    }
}
