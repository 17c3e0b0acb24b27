//! Carrying out a [`Plan`]: for each cell, start every subject, check one
//! fetch through each (byte for byte, and that it reached the origin — or,
//! for a cache hit, that it did not), then run wrk round after round in
//! the interleaved order while sampling the proxy's RSS; last, the
//! idle-connections measure.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use harness::clients::http::exchange;
use harness::process::procfs::RssSampler;
use harness::{ProxySpec, Running};

use super::idle::{self, IdleResult};
use super::load::{self, Load, WrkResult};
use super::nginx;
use super::peers::{self, Tools};
use super::plan::{Cell, Plan, Subject, Workers, order};
use super::results::{Results, Sample};

/// What every measurement needs: the tools, the temporary directory and
/// the running origin.
#[derive(Debug)]
pub struct Ctx {
    /// Where the programs are.
    pub tools: Tools,
    /// The bench's temporary directory (configs, logs, wrk scripts).
    pub dir: PathBuf,
    /// nginx serving the site.
    pub origin: Running,
    /// Idle connections to open for the idle measure.
    pub idle_count: usize,
}

/// One subject, started for one cell and checked.
struct Instance {
    subject: Subject,
    /// The proxy (`None` for a direct fetch): held only to keep it
    /// running; dropping it kills it.
    _proxy: Option<Running>,
    /// Where wrk connects.
    connect_to: SocketAddr,
    /// Whose RSS to sample (single-process subjects only).
    rss_pid: Option<u32>,
}

/// Runs the whole plan and returns what was measured.
pub fn execute(ctx: &Ctx, plan: &Plan) -> Results {
    let mut results = Results::new(plan.clone());
    let mut progress = Progress {
        done: 0,
        total: plan.measurements() + plan.idle.len(),
    };
    for (index, (cell, subjects)) in plan.cells.iter().enumerate() {
        ctx.measure_cell(plan, index, *cell, subjects, &mut results, &mut progress);
    }
    for &subject in &plan.idle {
        progress.next(format_args!(
            "{} idle connections, {:<20}",
            ctx.idle_count,
            subject.name(false)
        ));
        let result = ctx.idle(subject);
        match &result {
            Ok(r) => eprintln!(
                "{} open, RSS {:.1} MiB, fetch {}",
                r.opened,
                r.rss_kib as f64 / 1024.0,
                match &r.fetch {
                    Ok(ms) => format!("ok in {ms:.1} ms"),
                    Err(e) => format!("FAILED: {e}"),
                }
            ),
            Err(e) => eprintln!("FAILED: {e:#}"),
        }
        results
            .idle
            .push((subject, result.map_err(|e| format!("{e:#}"))));
    }
    results
}

/// The `bench [ 12/190]` counter on stderr.
struct Progress {
    done: usize,
    total: usize,
}

impl Progress {
    /// Starts the next progress line (the caller ends it).
    fn next(&mut self, what: std::fmt::Arguments<'_>) {
        self.done += 1;
        eprint!("bench [{:>3}/{}] {what} ", self.done, self.total);
    }
}

impl Ctx {
    /// Starts and checks every subject of one cell, then measures them in
    /// `plan.reps` rounds, each in its rotated order.
    fn measure_cell(
        &self,
        plan: &Plan,
        index: usize,
        cell: Cell,
        subjects: &[Subject],
        results: &mut Results,
        progress: &mut Progress,
    ) {
        let script = self.dir.join(format!("wrk-{index}.lua"));
        let url = self.url(cell.body);
        let written = std::fs::write(&script, load::script(&url));
        let mut instances = Vec::new();
        for &subject in subjects {
            let started = match &written {
                Ok(()) => self.start_checked(subject, cell, &url),
                Err(e) => Err(anyhow::anyhow!("writing the wrk script: {e}")),
            };
            match started {
                Ok(instance) => instances.push(instance),
                Err(e) => {
                    eprintln!(
                        "bench: {} in {cell} left out: {e:#}",
                        subject.name(cell.cache)
                    );
                    results.failed.push((cell, subject, format!("{e:#}")));
                    progress.done += plan.reps;
                }
            }
        }
        let live: Vec<Subject> = instances.iter().map(|i| i.subject).collect();
        for rep in 0..plan.reps {
            for instance in order(&live, rep)
                .into_iter()
                .filter_map(|s| instances.iter().find(|i| i.subject == s))
            {
                progress.next(format_args!(
                    "{cell:<16} round {}/{} {:<30}",
                    rep + 1,
                    plan.reps,
                    instance.subject.name(cell.cache)
                ));
                let sample = self.measure(instance, cell, rep, &script, plan.duration);
                match &sample.result {
                    Ok(r) => eprintln!(
                        "{:>8.0} req/s {:>7.1} MiB/s p99 {:>6.2} ms",
                        r.rps(),
                        r.mib_s(),
                        r.p99_us as f64 / 1000.0
                    ),
                    Err(e) => eprintln!("FAILED: {e}"),
                }
                results.samples.push(sample);
                // Let the last run's connections finish closing.
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    /// The absolute URI of the body of `body` bytes on the origin.
    fn url(&self, body: u64) -> String {
        let file = peers::file_for(body).unwrap_or("missing");
        format!("http://{}/{file}", self.origin.addr)
    }

    /// Starts `subject` for `cell` (caches on in a cache cell).
    fn start(&self, subject: Subject, cell: Cell) -> Result<Option<Running>> {
        let tool = |p: &Option<PathBuf>| p.clone().context("not installed");
        let cache = cell.cache;
        Ok(match subject {
            Subject::Direct => None,
            Subject::Nginx(workers) => {
                let name = match workers {
                    Workers::Auto => "nginx-fwd-auto",
                    Workers::One => "nginx-fwd-1",
                };
                let dir = self
                    .dir
                    .join(format!("{name}{}", if cache { "-cache" } else { "" }));
                Some(nginx::start_forward(
                    &tool(&self.tools.nginx)?,
                    &dir,
                    workers,
                    cache,
                )?)
            }
            Subject::Tinyproxy => Some(peers::start_tinyproxy(
                &tool(&self.tools.tinyproxy)?,
                &self.dir,
            )?),
            Subject::Squid => Some(peers::start_squid(
                &tool(&self.tools.squid)?,
                &self.dir,
                cache,
            )?),
            Subject::Ours(variant) => {
                let flags: &[&str] = if cache { &[] } else { &["--no-cache"] };
                Some(peers::start_ours(variant, "warn", flags)?)
            }
            Subject::Command(cmd) => {
                let cmd = cmd.replace("{nocache}", if cache { "" } else { "--no-cache" });
                Some(ProxySpec::Command(cmd).start(&[])?)
            }
        })
    }

    /// Starts `subject` and checks it before it is measured.
    fn start_checked(&self, subject: Subject, cell: Cell, url: &str) -> Result<Instance> {
        let proxy = self.start(subject, cell)?;
        let connect_to = proxy.as_ref().map_or(self.origin.addr, |p| p.addr);
        let expected = peers::body_bytes(cell.body);
        // The first fetch must reach the origin: a proxy that answered by
        // itself (or from elsewhere) would be measured doing nothing.
        let reached = self.fetch_counting(connect_to, url, &expected)?;
        if reached != 1 {
            bail!("a check fetch reached the origin {reached} times, not once");
        }
        if cell.cache && subject != Subject::Direct {
            let reached = self.fetch_counting(connect_to, url, &expected)?;
            if reached != 0 {
                bail!("a second fetch was not a cache hit: it reached the origin");
            }
        }
        let rss_pid = match subject {
            Subject::Tinyproxy | Subject::Squid | Subject::Ours(_) | Subject::Command(_) => {
                proxy.as_ref().map(Running::pid)
            }
            Subject::Direct | Subject::Nginx(_) => None,
        };
        Ok(Instance {
            subject,
            _proxy: proxy,
            connect_to,
            rss_pid,
        })
    }

    /// Fetches `url` through `addr`, checks the body is `expected` byte
    /// for byte, and returns how many requests reached the origin meanwhile.
    fn fetch_counting(&self, addr: SocketAddr, url: &str, expected: &[u8]) -> Result<u64> {
        let before = nginx::origin_requests(self.origin.addr)?;
        check_fetch(addr, url, expected)?;
        let after = nginx::origin_requests(self.origin.addr)?;
        // The second status request counts itself.
        Ok(after.saturating_sub(before).saturating_sub(1))
    }

    /// One wrk run of `instance` in `cell`.
    fn measure(
        &self,
        instance: &Instance,
        cell: Cell,
        rep: usize,
        script: &Path,
        duration: Duration,
    ) -> Sample {
        let sampler = instance.rss_pid.map(RssSampler::start);
        let result: Result<WrkResult> = match &self.tools.wrk {
            Some(wrk) => load::run_wrk(&Load {
                wrk: wrk.clone(),
                script: script.to_path_buf(),
                connect_to: instance.connect_to,
                conns: cell.conns,
                duration,
            }),
            None => Err(anyhow::anyhow!("wrk is not installed")),
        };
        Sample {
            cell,
            subject: instance.subject,
            rep,
            result: result.map_err(|e| format!("{e:#}")),
            rss_kib: sampler.map(RssSampler::peak_kib),
        }
    }

    /// The idle-connections measure of `subject` (caches off).
    fn idle(&self, subject: Subject) -> Result<IdleResult> {
        let proxy = self
            .start(subject, Cell::miss(1024, 1))?
            .context("no proxy for a direct fetch")?;
        Ok(idle::measure(
            proxy.addr,
            proxy.pid(),
            self.idle_count,
            &self.url(1024),
            1024,
        ))
    }
}

/// One fetch whose body must be `expected`, byte for byte.
fn check_fetch(addr: SocketAddr, url: &str, expected: &[u8]) -> Result<()> {
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let request =
        format!("GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes();
    let response = exchange(addr, &request, Duration::from_secs(10))?;
    let body = response.body();
    if response.status != Some(200) || body != expected {
        let at = harness::clients::http::first_difference(body, expected);
        bail!(
            "a check fetch of {url} got {} with {} body bytes (expected {}; first difference at {at:?})",
            response.status_line(),
            body.len(),
            expected.len()
        );
    }
    Ok(())
}
