//! The grade as a report: the 70 points with the checks behind them, the
//! extras, the SPEC group, and the harness's own failures — as text for a
//! student and as JSON for tools.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::driver::{Driven, SectionResult, unscored};
use crate::checks::{Check, Kind, Section};

/// One scored section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Score {
    /// Basic, Concurrency or Cache.
    pub section: Section,
    /// Points earned.
    pub points: u32,
    /// Points possible.
    pub max: u32,
}

/// The whole grade.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The proxy graded.
    pub proxy: String,
    /// Basic, Concurrency, Cache.
    pub scores: Vec<Score>,
    /// Sum of the scored sections.
    pub total: u32,
    /// 70.
    pub max_total: u32,
    /// The checks behind the score (one per comparison driver.sh makes).
    pub scored_checks: Vec<Check>,
    /// The extras (never part of the 70 points).
    pub extra_checks: Vec<Check>,
    /// This project's SPEC group (our variants only).
    pub spec_checks: Vec<Check>,
    /// What went wrong on the harness's side: the grade may be incomplete,
    /// and it is not the proxy's fault.
    pub harness_errors: Vec<String>,
    /// Seconds the grading took.
    pub seconds: f64,
    /// What the sandbox saw and why points were lost outside the checks:
    /// a build that failed, a time limit, a process or memory limit
    /// reached (empty for a plain `harness grade`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Report {
    /// Puts a grade together.
    pub(crate) fn new(
        proxy: String,
        driven: Driven,
        extra_checks: Vec<Check>,
        spec_checks: Vec<Check>,
        took: Duration,
    ) -> Report {
        let scores: Vec<Score> = driven
            .sections
            .iter()
            .map(|s| Score {
                section: s.section,
                points: s.points,
                max: s.max,
            })
            .collect();
        let mut harness_errors = driven.harness_errors;
        harness_errors.extend(
            extra_checks
                .iter()
                .chain(&spec_checks)
                .filter(|c| !c.passed && c.section.kind() == Kind::Harness)
                .map(|c| format!("{}: {}", c.name, c.detail)),
        );
        Report {
            proxy,
            total: scores.iter().map(|s| s.points).sum(),
            max_total: scores.iter().map(|s| s.max).sum(),
            scores,
            scored_checks: driven.sections.into_iter().flat_map(|s| s.checks).collect(),
            extra_checks,
            spec_checks,
            harness_errors,
            seconds: took.as_secs_f64(),
            notes: Vec::new(),
        }
    }

    /// The grade of a proxy that was never graded to the end: the
    /// sections in `done` as they were scored, every other one 0 with
    /// every check failed for `why` (it did not build, it ran out of
    /// time), and `why` as a note.
    pub fn unfinished(
        proxy: String,
        done: &[SectionResult],
        why: &str,
        hint: &str,
        took: Duration,
    ) -> Report {
        let mut report = Report::new(
            proxy,
            unscored(done, why, hint),
            Vec::new(),
            Vec::new(),
            took,
        );
        report.notes.push(why.to_string());
        report
    }

    /// `true` on 70/70.
    pub fn full_score(&self) -> bool {
        self.total == self.max_total
    }

    /// Points of one scored section.
    pub fn points(&self, section: Section) -> u32 {
        self.scores
            .iter()
            .find(|s| s.section == section)
            .map_or(0, |s| s.points)
    }

    /// The sections of `checks` with at least one failed check, in order,
    /// once each.
    fn failed_in(checks: &[Check]) -> Vec<Section> {
        let mut failed: Vec<Section> = checks
            .iter()
            .filter(|c| !c.passed && c.section.kind() != Kind::Harness)
            .map(|c| c.section)
            .collect();
        failed.sort();
        failed.dedup();
        failed
    }

    /// Extra sections with at least one failed check.
    pub fn failed_extras(&self) -> Vec<Section> {
        Report::failed_in(&self.extra_checks)
    }

    /// SPEC sections with at least one failed check.
    pub fn failed_spec(&self) -> Vec<Section> {
        Report::failed_in(&self.spec_checks)
    }

    /// The score table, the extras, and every failure with its hint.
    pub fn render(&self) -> String {
        let mut out = format!("Proxy Lab grade for {}\n\n", self.proxy);
        out.push_str("  Section          Score\n  ---------------  -------\n");
        for score in &self.scores {
            let _ = writeln!(
                out,
                "  {:<15}  {:>2} / {}",
                score.section.title(),
                score.points,
                score.max
            );
        }
        let _ = writeln!(
            out,
            "  {:<15}  {:>2} / {}",
            "Total", self.total, self.max_total
        );
        out.push_str("\nThese 70 points are the course driver's (driver.sh): the same objects, fetches and comparisons.\n");
        if !self.notes.is_empty() {
            out.push_str("\nNotes:\n");
            for note in &self.notes {
                let _ = writeln!(out, "  - {note}");
            }
        }
        if !self.extra_checks.is_empty() {
            out.push_str("\nBeyond the 70 points (the handout asks, the driver does not check; no points):\n");
            out.push_str(&summary(&self.extra_checks));
        }
        if !self.spec_checks.is_empty() {
            out.push_str("\nThis project's SPEC (our variants only):\n");
            out.push_str(&summary(&self.spec_checks));
        }
        let failures: Vec<&Check> = self
            .scored_checks
            .iter()
            .chain(&self.extra_checks)
            .chain(&self.spec_checks)
            .filter(|c| !c.passed && c.section.kind() != Kind::Harness)
            .collect();
        if !failures.is_empty() {
            out.push_str("\nWhat failed:\n");
            for check in failures {
                let _ = writeln!(out, "{check}");
            }
        }
        if !self.harness_errors.is_empty() {
            out.push_str("\nThe harness itself failed (not your proxy's fault; the grade may be incomplete):\n");
            for error in &self.harness_errors {
                let _ = writeln!(out, "  {error}");
            }
        }
        let _ = writeln!(out, "\nGraded in {:.1} s.", self.seconds);
        out
    }
}

/// One line per section of `checks`: ok or FAIL, and how many passed.
fn summary(checks: &[Check]) -> String {
    let mut sections: Vec<Section> = checks
        .iter()
        .filter(|c| c.section.kind() != Kind::Harness)
        .map(|c| c.section)
        .collect();
    sections.sort();
    sections.dedup();
    let mut out = String::new();
    for section in sections {
        let of: Vec<&Check> = checks.iter().filter(|c| c.section == section).collect();
        let passed = of.iter().filter(|c| c.passed).count();
        let mark = if passed == of.len() { "ok  " } else { "FAIL" };
        let _ = writeln!(
            out,
            "  {mark} {:<30} {passed}/{} checks passed",
            section.title(),
            of.len()
        );
    }
    out
}
