//! The files a class grade leaves: per submission `build.log`,
//! `feedback.txt` and `result.json`; for the class `grades.csv`,
//! `grades.json` and `report.html`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use super::{ClassResult, SubmissionResult};

/// A submission's machine-readable result (read back to skip it next time).
pub const RESULT_FILE: &str = "result.json";
/// A submission's build output.
pub const BUILD_LOG: &str = "build.log";
/// A submission's feedback in the lab's words.
pub const FEEDBACK_FILE: &str = "feedback.txt";
/// The class table.
pub const CSV_FILE: &str = "grades.csv";
/// Every result, with the whole reports.
pub const JSON_FILE: &str = "grades.json";
/// The page for the instructor.
pub const HTML_FILE: &str = "report.html";

/// The columns of `grades.csv`.
pub const CSV_HEADER: [&str; 9] = [
    "submission",
    "built",
    "basic",
    "concurrency",
    "cache",
    "total",
    "failed extras",
    "seconds",
    "note",
];

/// Writes one submission's files into `dir`.
pub fn write_submission(dir: &Path, result: &SubmissionResult) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(BUILD_LOG), &result.build_log)?;
    std::fs::write(dir.join(FEEDBACK_FILE), feedback(result))?;
    std::fs::write(dir.join(RESULT_FILE), serde_json::to_string_pretty(result)?)?;
    Ok(())
}

/// The feedback a student gets: the build, the notes, and the grade with
/// what was expected, what came back and the hint for every failure.
pub fn feedback(result: &SubmissionResult) -> String {
    let mut text = format!("Proxy Lab feedback for {}\n\n", result.submission);
    if result.built {
        text.push_str("Build: ok (./proxy was built");
        text.push_str(if result.build_output.contains("no Makefile") {
            " before hand-in; no Makefile)\n"
        } else {
            " with make)\n"
        });
    } else {
        text.push_str("Build: FAILED. The end of make's output:\n\n");
        for line in result.build_output.lines() {
            let _ = writeln!(text, "    {line}");
        }
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&result.report.render());
    text
}

/// Writes the class's files into `out`.
pub fn write_outputs(out: &Path, class: &ClassResult) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let mut csv = csv::Writer::from_path(out.join(CSV_FILE))
        .with_context(|| format!("writing {}", out.join(CSV_FILE).display()))?;
    csv.write_record(CSV_HEADER)?;
    for r in &class.submissions {
        csv.write_record([
            r.submission.clone(),
            if r.built { "yes" } else { "no" }.to_string(),
            r.basic.to_string(),
            r.concurrency.to_string(),
            r.cache.to_string(),
            r.total.to_string(),
            r.failed_extras.join("; "),
            format!("{:.1}", r.seconds),
            r.note(),
        ])?;
    }
    csv.flush()?;
    std::fs::write(out.join(JSON_FILE), serde_json::to_string_pretty(class)?)?;
    std::fs::write(out.join(HTML_FILE), super::html::render(class))?;
    Ok(())
}
