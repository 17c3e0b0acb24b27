//! `report.html`: one self-contained page for the instructor — the class
//! table (click a column to sort it), the distribution of the scores, and
//! each submission's failed checks with what was expected, what came back
//! and the hint. Everything a student controls (names, program output) is
//! escaped.

use std::fmt::Write;

use super::outputs::CSV_HEADER;
use super::{ClassResult, SubmissionResult};
use crate::checks::{Check, Kind};
// The test origin's escaping: the same five characters.
use tiny_origin::html_escape as escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:80em}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em}\
th{background:#eee;cursor:pointer;user-select:none}td.n{text-align:right}\
tr.low td{background:#fff3f3}.note{color:#555}.fail{color:#a00}\
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em;margin:.3em 0}\
section{border-top:1px solid #ddd;margin-top:1em}";

/// Sorts the table by the clicked column: numbers as numbers, the second
/// click reverses.
const SCRIPT: &str = "document.querySelectorAll('#grades th').forEach(function(th,col){\
th.addEventListener('click',function(){var body=th.closest('table').tBodies[0];\
var rows=Array.from(body.rows);var dir=th.dataset.dir==='desc'?1:-1;th.dataset.dir=dir===1?'asc':'desc';\
rows.sort(function(a,b){var x=a.cells[col].dataset.v||a.cells[col].textContent,y=b.cells[col].dataset.v||b.cells[col].textContent;\
var nx=parseFloat(x),ny=parseFloat(y);if(!isNaN(nx)&&!isNaN(ny)){return dir*(nx-ny);}return dir*x.localeCompare(y);});\
rows.forEach(function(r){body.appendChild(r);});});});";

/// The page.
pub fn render(class: &ClassResult) -> String {
    let mut html =
        String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        html,
        "<title>Proxy Lab grades</title><style>{STYLE}</style></head><body>\n<h1>Proxy Lab grades</h1>\n"
    );
    let totals: Vec<u32> = class.submissions.iter().map(|s| s.total).collect();
    let _ = writeln!(
        html,
        "<p>{} submissions; {} built; mean {:.1}, median {} of 70. The points are the course driver's (driver.sh); the extras explain and never score.</p>",
        totals.len(),
        class.submissions.iter().filter(|s| s.built).count(),
        mean(&totals),
        median(&totals).map_or("-".to_string(), |m| m.to_string()),
    );
    let _ = writeln!(
        html,
        "<p class=\"note\">Isolation: {}. Limits per proxy process: {} CPU s, {} MiB, {} processes and threads, {} open files, {} MiB per file.{}</p>",
        escape(class.isolation.describe()),
        class.limits.cpu_secs,
        class.limits.memory_mib,
        class.limits.processes,
        class.limits.open_files,
        class.limits.file_size_mib,
        if class.interrupted {
            " <strong>The run was interrupted: some submissions were not graded.</strong>"
        } else {
            ""
        }
    );
    html.push_str("<h2>Distribution</h2>\n");
    html.push_str(&histogram(&totals));
    html.push_str("<h2>Class</h2>\n<table id=\"grades\"><thead><tr>");
    for column in CSV_HEADER {
        let _ = write!(html, "<th>{column}</th>");
    }
    html.push_str("</tr></thead><tbody>\n");
    let mut rows: Vec<(usize, &SubmissionResult)> = class.submissions.iter().enumerate().collect();
    rows.sort_by(|a, b| {
        b.1.total
            .cmp(&a.1.total)
            .then(a.1.submission.cmp(&b.1.submission))
    });
    for (i, s) in rows {
        let _ = writeln!(
            html,
            "<tr{}><td><a href=\"#s{i}\">{}</a></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\"><b>{}</b></td><td>{}</td><td class=\"n\">{:.1}</td><td>{}</td></tr>",
            if s.total < 70 { " class=\"low\"" } else { "" },
            escape(&s.submission),
            if s.built { "yes" } else { "no" },
            s.basic,
            s.concurrency,
            s.cache,
            s.total,
            escape(&s.failed_extras.join(", ")),
            s.seconds,
            escape(&s.note()),
        );
    }
    html.push_str("</tbody></table>\n<h2>Each submission</h2>\n");
    for (i, s) in class.submissions.iter().enumerate() {
        html.push_str(&submission(i, s));
    }
    let _ = write!(html, "<script>{SCRIPT}</script>\n</body></html>\n");
    html
}

fn mean(values: &[u32]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        f64::from(values.iter().sum::<u32>()) / values.len() as f64
    }
}

fn median(values: &[u32]) -> Option<u32> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

/// Bars of how many submissions scored 0–9, 10–19, …, 60–69 and 70, as
/// an inline SVG.
fn histogram(totals: &[u32]) -> String {
    let labels = [
        "0–9", "10–19", "20–29", "30–39", "40–49", "50–59", "60–69", "70",
    ];
    let mut counts = [0usize; 8];
    for &t in totals {
        counts[(t / 10).min(7) as usize] += 1;
    }
    let highest = counts.iter().copied().max().unwrap_or(0).max(1);
    let (bar, gap, height) = (60, 12, 160);
    let width = labels.len() * (bar + gap) + gap;
    let mut svg = format!(
        "<svg id=\"distribution\" width=\"{width}\" height=\"{}\" role=\"img\" aria-label=\"distribution of the totals\">\n",
        height + 40
    );
    for (i, (label, count)) in labels.iter().zip(counts).enumerate() {
        let h = count * height / highest;
        let x = gap + i * (bar + gap);
        let y = height - h + 15;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\" fill=\"#4a7ab5\"><title>{count} scored {label}</title></rect>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{count}</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{label}</text>",
            x + bar / 2,
            y - 3,
            x + bar / 2,
            height + 32
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// One submission's section: its notes and every failed check.
fn submission(i: usize, s: &SubmissionResult) -> String {
    let mut html = format!(
        "<section id=\"s{i}\"><h3>{} — {} / 70</h3>\n",
        escape(&s.submission),
        s.total
    );
    for note in &s.notes {
        let _ = writeln!(html, "<p class=\"note\">{}</p>", escape(note));
    }
    if !s.built && !s.build_output.is_empty() {
        let _ = writeln!(
            html,
            "<details open><summary>build output (end)</summary><pre>{}</pre></details>",
            escape(&s.build_output)
        );
    }
    let failed: Vec<&Check> = s
        .report
        .scored_checks
        .iter()
        .chain(&s.report.extra_checks)
        .filter(|c| !c.passed && c.section.kind() != Kind::Harness)
        .collect();
    if failed.is_empty() {
        html.push_str("<p>Every check passed.</p>\n");
    } else {
        html.push_str("<ul>\n");
        for check in failed {
            let scored = if check.section.kind() == Kind::Scored {
                ""
            } else {
                " (extra, no points)"
            };
            let _ = writeln!(
                html,
                "<li><span class=\"fail\">[{}{}] {}</span><pre>{}{}</pre></li>",
                escape(check.section.title()),
                scored,
                escape(&check.name),
                escape(&check.detail),
                check
                    .hint
                    .as_deref()
                    .map(|h| format!("\nhint: {}", escape(h)))
                    .unwrap_or_default()
            );
        }
        html.push_str("</ul>\n");
    }
    for error in &s.report.harness_errors {
        let _ = writeln!(
            html,
            "<p class=\"fail\">The harness itself failed here: {}</p>",
            escape(error)
        );
    }
    html.push_str("</section>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_student_controls_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn the_histogram_counts_every_total_once() {
        let svg = histogram(&[0, 9, 10, 55, 69, 70, 70]);
        for (count, label) in [
            (2, "0–9"),
            (1, "10–19"),
            (1, "50–59"),
            (1, "60–69"),
            (2, "70"),
        ] {
            assert!(
                svg.contains(&format!("<title>{count} scored {label}</title>")),
                "{label}: {svg}"
            );
        }
    }
}
