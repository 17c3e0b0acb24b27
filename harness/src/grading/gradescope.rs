//! The grade as Gradescope's autograder `results.json`.
//!
//! Gradescope runs an autograder's `run_autograder` in a container of its
//! own for each submission and reads `/autograder/results/results.json`:
//! a total `score` and `tests`, each with `name`, `score`, `max_score`,
//! `status` (`passed`/`failed`), `output` and `visibility`. Here the three
//! scored sections are three tests worth 40, 15 and 15 points (the
//! driver's), each extra is a test worth 0 that passes or fails with its
//! explanation, and a build that failed is a test of its own with the end
//! of the compiler's output.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::Report;
use crate::checks::{Check, Kind, Section};

/// Who sees a test, in Gradescope's words.
pub const VISIBLE: &str = "visible";

/// Gradescope's `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Results {
    /// The total (the driver's points).
    pub score: f64,
    /// Seconds the grade took.
    pub execution_time: u64,
    /// Text shown above the tests: the total, the notes.
    pub output: String,
    /// How `output` is shown (`text`).
    pub output_format: String,
    /// Who sees the results (`visible`).
    pub visibility: String,
    /// Who sees the autograder's stdout (`hidden`: it is for the staff).
    pub stdout_visibility: String,
    /// One per scored section, build step and extra.
    pub tests: Vec<Test>,
}

/// One entry of `tests`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Test {
    /// What it is.
    pub name: String,
    /// Points earned.
    pub score: f64,
    /// Points possible (0 for the extras).
    pub max_score: f64,
    /// `passed` or `failed`.
    pub status: String,
    /// What was expected, what came back, the hint.
    pub output: String,
    /// Who sees it (`visible`).
    pub visibility: String,
}

/// How the build went, for a submission built from source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSummary {
    /// `true` when `make` produced `./proxy`.
    pub ok: bool,
    /// The end of `make`'s output.
    pub output: String,
}

fn status(passed: bool) -> String {
    if passed { "passed" } else { "failed" }.to_string()
}

/// Each check as a line, with what failed and the hint under it.
fn describe(checks: &[&Check]) -> String {
    checks
        .iter()
        .map(|c| {
            if c.passed {
                format!("ok    {}", c.name)
            } else {
                let mut text = format!("FAIL  {}\n      {}", c.name, c.detail);
                if let Some(hint) = &c.hint {
                    let _ = write!(text, "\n      hint: {hint}");
                }
                text
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `report` (and, for a submission built from source, `build`) as
/// Gradescope's `results.json`.
pub fn results(report: &Report, build: Option<&BuildSummary>) -> Results {
    let mut tests = Vec::new();
    if let Some(build) = build {
        tests.push(Test {
            name: "Build (make)".into(),
            score: 0.0,
            max_score: 0.0,
            status: status(build.ok),
            output: build.output.clone(),
            visibility: VISIBLE.into(),
        });
    }
    for score in &report.scores {
        let checks: Vec<&Check> = report
            .scored_checks
            .iter()
            .filter(|c| c.section == score.section)
            .collect();
        tests.push(Test {
            name: format!("{} (driver.sh)", score.section.title()),
            score: f64::from(score.points),
            max_score: f64::from(score.max),
            status: status(score.points == score.max),
            output: describe(&checks),
            visibility: VISIBLE.into(),
        });
    }
    let mut extras: Vec<Section> = report
        .extra_checks
        .iter()
        .filter(|c| c.section.kind() == Kind::Extra)
        .map(|c| c.section)
        .collect();
    extras.sort();
    extras.dedup();
    for section in extras {
        let checks: Vec<&Check> = report
            .extra_checks
            .iter()
            .filter(|c| c.section == section)
            .collect();
        tests.push(Test {
            name: format!("Extra, no points: {}", section.title()),
            score: 0.0,
            max_score: 0.0,
            status: status(checks.iter().all(|c| c.passed)),
            output: describe(&checks),
            visibility: VISIBLE.into(),
        });
    }
    let mut output = format!(
        "{} / {}: the course driver's points (Basic, Concurrency, Cache). The extras explain and never take points.",
        report.total, report.max_total
    );
    for note in &report.notes {
        let _ = write!(output, "\nNote: {note}");
    }
    if !report.harness_errors.is_empty() {
        output.push_str(
            "\nThe harness itself failed (not your proxy's fault; ask the staff to regrade):",
        );
        for error in &report.harness_errors {
            let _ = write!(output, "\n  {error}");
        }
    }
    // Whole seconds; `as` saturates, so a NaN or negative time is 0.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a rounded, non-negative run time in seconds; the saturating cast is the intent"
    )]
    let execution_time = report.seconds.round() as u64;
    Results {
        score: f64::from(report.total),
        execution_time,
        output,
        output_format: "text".into(),
        visibility: VISIBLE.into(),
        stdout_visibility: "hidden".into(),
        tests,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    #[allow(
        clippy::float_cmp,
        reason = "scores are whole points converted from u32; they and their sums are exact in f64"
    )]
    fn an_unbuilt_submission_scores_zero_with_its_build_output() {
        let report = Report::unfinished(
            "proxy".into(),
            &[],
            "did not build",
            "fix the compiler errors",
            Duration::from_secs(1),
        );
        let build = BuildSummary {
            ok: false,
            output: "proxy.c:1: error: expected ';'".into(),
        };
        let results = results(&report, Some(&build));
        assert_eq!(results.score, 0.0);
        assert_eq!(results.tests[0].name, "Build (make)");
        assert_eq!(results.tests[0].status, "failed");
        let max: f64 = results.tests.iter().map(|t| t.max_score).sum();
        assert_eq!(max, 70.0);
        assert!(
            results.output.contains("did not build"),
            "{}",
            results.output
        );
    }
}
