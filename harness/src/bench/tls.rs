//! The TLS cell (issue #17): 10 MiB downloads over HTTPS, straight from a
//! TLS origin and through each of our variants' `CONNECT` tunnels, in
//! interleaved rounds like the other cells. A tunnel relays bytes it
//! cannot read, so this measures the relay alone: `splice` has no part in
//! it, and the ratio to the direct fetch is the tunnel's whole cost.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use harness::lab::{Variant, start_origin};
use harness::tunnel_load::{TunnelLoadPlan, tunnel_load};

use super::peers;
use super::plan::order;
use super::stats::{Summary, paired_ratios};

/// What the TLS cell measures through: nothing (the direct fetch), or one
/// of our variants.
pub type Through = Option<Variant>;

/// One subject's rounds: MiB/s per round (`None` where a round failed).
#[derive(Debug, Clone)]
pub struct TlsRow {
    /// The subject.
    pub through: Through,
    /// MiB/s, round by round.
    pub mib_s: Vec<Option<f64>>,
    /// Downloads that failed or came back wrong, in all rounds.
    pub errors: u64,
}

/// The cell's shape.
#[derive(Debug, Clone, Copy)]
pub struct TlsPlan {
    /// Rounds, each with every subject in a rotated order.
    pub reps: usize,
    /// Connections at once.
    pub connections: usize,
    /// Seconds per measurement.
    pub seconds: u64,
}

/// Runs the cell: a TLS origin, our three variants started with
/// `--connect-ports` naming its port, `plan.reps` interleaved rounds.
///
/// # Errors
///
/// The origin or a proxy could not be started.
pub fn measure(plan: &TlsPlan) -> Result<Vec<TlsRow>> {
    let origin = start_origin(&["--tls"])?;
    let cert = origin
        .certificate
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the TLS origin has no certificate"))?;
    let port = origin.addr.port().to_string();
    let mut proxies = Vec::new();
    for variant in harness::VARIANTS {
        let running =
            peers::start_ours(variant, "warn", &["--no-cache", "--connect-ports", &port])?;
        proxies.push((variant, running));
    }
    let subjects: Vec<Through> = std::iter::once(None)
        .chain(harness::VARIANTS.map(Some))
        .collect();
    let mut rows: Vec<TlsRow> = subjects
        .iter()
        .map(|&through| TlsRow {
            through,
            mib_s: vec![None; plan.reps],
            errors: 0,
        })
        .collect();
    let load = TunnelLoadPlan {
        connections: plan.connections,
        object: 10 << 20,
        duration: Duration::from_secs(plan.seconds.max(1)),
        fetch_timeout: Duration::from_mins(1),
    };
    for rep in 0..plan.reps {
        for through in order(&subjects, rep) {
            let measured = match through {
                None => tunnel_load(None, origin.addr, &cert, &load),
                Some(variant) => {
                    let proxy = proxies
                        .iter()
                        .find(|(v, _)| *v == variant)
                        .map(|(_, p)| p.addr);
                    tunnel_load(proxy, origin.addr, &cert, &load)
                }
            };
            eprintln!(
                "bench TLS 10 MiB × {} round {} {:<14} {:>7.1} MiB/s, {} errors",
                plan.connections,
                rep + 1,
                name(through),
                measured.mib_per_sec(),
                measured.errors
            );
            if let Some(row) = rows.iter_mut().find(|r| r.through == through) {
                row.mib_s[rep] = (measured.fetches > 0).then(|| measured.mib_per_sec());
                row.errors += measured.errors;
            }
        }
    }
    Ok(rows)
}

/// The row's name.
pub fn name(through: Through) -> String {
    through.map_or_else(
        || "direct (TLS origin)".to_string(),
        |v| format!("{} tunnel", v.package()),
    )
}

/// The cell as a Markdown table: median MiB/s, spread, the paired ratio to
/// the direct fetch, errors.
pub fn markdown(rows: &[TlsRow], plan: &TlsPlan) -> String {
    let direct: Vec<Option<f64>> = rows
        .iter()
        .find(|r| r.through.is_none())
        .map(|r| r.mib_s.clone())
        .unwrap_or_default();
    let mut out = format!(
        "\nHTTPS through a CONNECT tunnel: 10 MiB per download, {} connections, {} rounds of {} s, interleaved:\n\n\
         | subject | MiB/s (median) | spread | × direct | errors |\n|---|---:|---:|---:|---:|\n",
        plan.connections, plan.reps, plan.seconds
    );
    for row in rows {
        let values: Vec<f64> = row.mib_s.iter().flatten().copied().collect();
        let summary = Summary::of(&values);
        let ratio = Summary::of(&paired_ratios(&row.mib_s, &direct));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            name(row.through),
            summary.map_or("–".into(), |s| format!("{:.1}", s.median)),
            summary.map_or("–".into(), |s| format!("{:.0}%", s.spread() * 100.0)),
            ratio.map_or("–".into(), |s| format!("{:.2}", s.median)),
            row.errors
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_medians_and_paired_ratios() {
        let rows = vec![
            TlsRow {
                through: None,
                mib_s: vec![Some(100.0), Some(200.0), Some(150.0)],
                errors: 0,
            },
            TlsRow {
                through: Some(Variant::Async),
                mib_s: vec![Some(90.0), None, Some(150.0)],
                errors: 2,
            },
        ];
        let plan = TlsPlan {
            reps: 3,
            connections: 4,
            seconds: 3,
        };
        let text = markdown(&rows, &plan);
        assert!(
            text.contains("| direct (TLS origin) | 150.0 | 67% | 1.00 | 0 |"),
            "{text}"
        );
        // Rounds 1 and 3 pair: 0.9 and 1.0, median 0.95.
        assert!(
            text.contains("| proxy-async tunnel | 120.0 | 50% | 0.95 | 2 |"),
            "{text}"
        );
    }
}
