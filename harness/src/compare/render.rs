//! Drawing a comparison: the side-by-side table as text, and a
//! self-contained HTML page with an SVG timeline per variant.

use std::fmt::Write as _;

use super::{Bar, COMPARE_HEADER_TIMEOUT, CompareOptions, VariantResult};

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "failed".to_string(), |ms| format!("{ms:.1} ms"))
}

/// The rows of the side-by-side table: a label, then one cell per variant.
pub fn table_rows(
    results: &[VariantResult],
    options: &CompareOptions,
) -> Vec<(String, Vec<String>)> {
    let row = |label: String, f: &dyn Fn(&VariantResult) -> String| {
        (label, results.iter().map(f).collect())
    };
    vec![
        row(
            format!(
                "(a) median time to first byte, {} clients beside a silent one",
                options.clients
            ),
            &|r| opt_ms(r.median_ttfb_ms),
        ),
        row("(a) slowest of them (complete)".into(), &|r| {
            let worst = r
                .stalled_timeline
                .iter()
                .map(|b| b.end_ms - b.start_ms)
                .fold(0.0, f64::max);
            format!("{worst:.0} ms")
        }),
        row(
            "(b) alive and serving after 15 clients hung up".into(),
            &|r| {
                if r.survives_hangups {
                    "yes".into()
                } else {
                    "NO".into()
                }
            },
        ),
        row("(b) same with --sigpipe default".into(), &|r| {
            r.sigpipe_default.clone()
        }),
        row("(c) cache miss (90 KB object)".into(), &|r| {
            opt_ms(r.miss_ms)
        }),
        row("(c) cache hit (same object)".into(), &|r| opt_ms(r.hit_ms)),
        row(
            format!(
                "(d) requests/s, 8 clients, {:.0} s",
                options.throughput_for.as_secs_f64()
            ),
            &|r| format!("{:.0}", r.requests_per_sec),
        ),
        row(
            format!(
                "(e) median time to first byte, {} clients beside a busy CONNECT tunnel",
                options.clients
            ),
            &|r| {
                let tunnel = r.tunnel.as_ref();
                opt_ms(tunnel.and_then(|t| median_ttfb(&t.others)))
            },
        ),
        row("(e) echo rounds in the tunnel meanwhile".into(), &|r| {
            r.tunnel
                .as_ref()
                .map_or_else(|| "failed".into(), |t| t.rounds.to_string())
        }),
    ]
}

/// The table as fixed-width text for the terminal.
pub fn render_text(results: &[VariantResult], options: &CompareOptions) -> String {
    let rows = table_rows(results, options);
    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(10);
    let mut out = format!("{:<label_width$}", "scenario");
    for r in results {
        let _ = write!(out, "  {:>16}", r.variant);
    }
    out.push('\n');
    for (label, cells) in rows {
        let _ = write!(out, "{label:<label_width$}");
        for cell in cells {
            let _ = write!(out, "  {cell:>16}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\nThe proxies run with --header-timeout {COMPARE_HEADER_TIMEOUT}: the sequential one frees itself from the silent client after that long.\n\
         The busy tunnel of (e) stays open until the others have their page, at most {:.0} s.",
        options.tunnel_for.as_secs_f64()
    );
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A self-contained HTML page: the table and one SVG timeline per variant.
pub fn render_html(results: &[VariantResult], options: &CompareOptions) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Proxy Lab: the three variants side by side</title>\n<style>\
         body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .7em;text-align:right}\
         td:first-child,th:first-child{text-align:left}th{background:#eee}\
         .chart{margin:1em 0 2em}h2{margin-top:1.5em}.note{color:#555}\
         </style></head><body>\n<h1>Proxy Lab: the three variants side by side</h1>\n",
    );
    html.push_str("<table id=\"results\"><tr><th>scenario</th>");
    for r in results {
        let _ = write!(html, "<th>{}</th>", escape(&r.variant));
    }
    html.push_str("</tr>\n");
    for (label, cells) in table_rows(results, options) {
        let _ = write!(html, "<tr><td>{}</td>", escape(&label));
        for cell in cells {
            let _ = write!(html, "<td>{}</td>", escape(&cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    let _ = writeln!(
        html,
        "<p class=\"note\">Timeline of scenario (a): one client connects and sends nothing; then {} clients ask for a page at once. \
         Each bar is one request, from connect to the last byte; the dark part starts at the first byte. \
         Header timeout {COMPARE_HEADER_TIMEOUT} s.</p>",
        options.clients
    );
    let span = results
        .iter()
        .flat_map(|r| r.stalled_timeline.iter().map(|b| b.end_ms))
        .fold(100.0, f64::max);
    for r in results {
        let _ = write!(
            html,
            "<h2>{}</h2>\n{}",
            escape(&r.variant),
            timeline_svg(&r.stalled_timeline, span)
        );
    }
    let _ = writeln!(
        html,
        "<p class=\"note\">Timeline of scenario (e): bar #1 is a CONNECT tunnel to a TLS origin, talking both ways \
         (an echo request and its answer, again and again) until the {} others below have their page (at most {:.0} s).</p>",
        options.clients,
        options.tunnel_for.as_secs_f64()
    );
    let tunnel_span = results
        .iter()
        .filter_map(|r| r.tunnel.as_ref())
        .flat_map(|t| t.others.iter().chain([&t.tunnel]).map(|b| b.end_ms))
        .fold(100.0, f64::max);
    for r in results {
        if let Some(t) = &r.tunnel {
            let bars: Vec<Bar> = [t.tunnel.clone()]
                .into_iter()
                .chain(t.others.clone())
                .collect();
            let _ = write!(
                html,
                "<h2>{} (e)</h2>\n{}",
                escape(&r.variant),
                timeline_svg(&bars, tunnel_span)
            );
        }
    }
    html.push_str("</body></html>\n");
    html
}

/// The median time from connect to first byte of `bars`.
fn median_ttfb(bars: &[Bar]) -> Option<f64> {
    let mut ttfb: Vec<f64> = bars
        .iter()
        .filter_map(|b| b.first_byte_ms.map(|t| t - b.start_ms))
        .collect();
    ttfb.sort_by(f64::total_cmp);
    ttfb.get(ttfb.len() / 2).copied()
}

fn timeline_svg(bars: &[Bar], span_ms: f64) -> String {
    let (width, row, left) = (900.0, 18.0, 40.0);
    let height = row * bars.len() as f64 + 30.0;
    let x = |ms: f64| left + (width - left - 10.0) * ms / span_ms;
    let mut svg = format!(
        "<svg class=\"chart\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n"
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = 5.0 + row * i as f64;
        let colour = if bar.ok { "#4a90d9" } else { "#d9534f" };
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\" opacity=\"0.35\"/>",
            x(bar.start_ms),
            (x(bar.end_ms) - x(bar.start_ms)).max(1.0),
            row - 4.0
        );
        if let Some(first) = bar.first_byte_ms {
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>",
                x(first),
                (x(bar.end_ms) - x(first)).max(2.0),
                row - 4.0
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"4\" y=\"{:.1}\" font-size=\"11\">#{}</text>",
            y + row - 7.0,
            i + 1
        );
    }
    let axis_y = height - 12.0;
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#888\"/>",
        axis_y - 6.0,
        width - 10.0,
        axis_y - 6.0
    );
    let step = if span_ms > 5000.0 {
        1000.0
    } else if span_ms > 500.0 {
        100.0
    } else {
        10.0
    };
    // Every fifth tick is labelled.
    let mut tick: u64 = 0;
    let mut t = 0.0;
    while t <= span_ms {
        if tick.is_multiple_of(5) {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{axis_y:.1}\" font-size=\"10\">{t:.0} ms</text>",
                x(t)
            );
        }
        tick += 1;
        t += step;
    }
    svg.push_str("</svg>\n");
    svg
}
