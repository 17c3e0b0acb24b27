//! `harness bench`: our three proxies side by side with a direct fetch,
//! tinyproxy and squid, in one run, as a Markdown table.
//!
//! nginx (sendfile, one worker) is the origin: tiny-origin, on tiny_http,
//! would be the bottleneck (`--tiny-origin` measures it for comparison).
//! wrk is the load: absolute-URI GETs with `Connection: close`, one request
//! per connection as in the lab, through each proxy or straight to nginx.
//! Each cell (body size × connections) runs every subject back to back, each
//! proxy freshly started, so the ratio to the direct fetch compares runs a
//! few seconds apart on the same machine: absolute figures on a shared
//! 2-core machine are noisy, the ratios much less so.
//!
//! Our proxies run with `--no-cache` (squid with `cache deny all`) except in
//! the cache-hit group, and with `RUST_LOG=warn`; one extra row per variant
//! shows the cost of the per-request log line at `RUST_LOG=info`.
//!
//! Everything binds 127.0.0.1 on free ports; peers' config files go to a
//! temporary directory; every process started is in its own process group,
//! killed when its [`Running`] is dropped.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use harness::Running;
use harness::lab::{VARIANTS, Variant};

mod idle;
mod load;
mod peers;

use harness::process::procfs::{RssSampler, raise_nofile_limit};
use idle::IdleResult;
use load::{Load, WrkResult};
use peers::Tools;

/// Flags of `harness bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A short subset (the three target cells, 2 s each; cache hit and idle
    /// connections for proxy-thread and proxy-async only): about a minute.
    #[arg(long)]
    pub quick: bool,
    /// Install missing tools first (runs scripts/install-bench-tools.sh,
    /// which uses apt-get).
    #[arg(long)]
    pub install: bool,
    /// Seconds of load per measurement (default 5, or 2 with --quick).
    #[arg(long, value_name = "SECS")]
    pub seconds: Option<u64>,
    /// Measure only these subjects besides the direct fetch (comma
    /// separated: tinyproxy, squid, seq, thread, async).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub only: Vec<String>,
    /// Idle connections to open for the idle measure.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub idle: usize,
    /// Also measure tiny-origin directly (1 KiB × 64), to show why nginx is
    /// the origin.
    #[arg(long)]
    pub tiny_origin: bool,
}

/// What is measured in one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// wrk straight to nginx.
    Direct,
    /// wrk straight to tiny-origin (`--tiny-origin`).
    TinyOrigin,
    Tinyproxy,
    Squid,
    /// One of ours; `true` with `RUST_LOG=info`.
    Ours(Variant, bool),
}

impl Subject {
    fn name(self) -> String {
        match self {
            Subject::Direct => "direct (nginx)".into(),
            Subject::TinyOrigin => "direct (tiny-origin)".into(),
            Subject::Tinyproxy => "tinyproxy".into(),
            Subject::Squid => "squid".into(),
            Subject::Ours(v, false) => v.package().into(),
            Subject::Ours(v, true) => format!("{} (RUST_LOG=info)", v.package()),
        }
    }

    /// The name `--only` matches.
    fn short(self) -> &'static str {
        match self {
            Subject::Direct | Subject::TinyOrigin => "direct",
            Subject::Tinyproxy => "tinyproxy",
            Subject::Squid => "squid",
            Subject::Ours(v, _) => v.package().trim_start_matches("proxy-"),
        }
    }
}

/// A group of rows measured together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Body size × connections, caches off.
    Cell { body: u64, conns: u32 },
    /// The same 1 KiB object again and again, caches on, 64 connections.
    CacheHit,
}

impl Group {
    fn body(self) -> u64 {
        match self {
            Group::Cell { body, .. } => body,
            Group::CacheHit => 1024,
        }
    }

    fn conns(self) -> u32 {
        match self {
            Group::Cell { conns, .. } => conns,
            Group::CacheHit => 64,
        }
    }
}

/// One measured row.
#[derive(Debug, Clone)]
struct Row {
    group: Group,
    subject: Subject,
    result: Result<WrkResult, String>,
    /// Peak RSS of the proxy during the run, KiB.
    rss_kib: Option<u64>,
}

/// Everything a run needs.
struct Ctx {
    tools: Tools,
    dir: PathBuf,
    origin: Running,
    tiny: Option<harness::Origin>,
    duration: Duration,
    only: Vec<String>,
}

impl Ctx {
    fn wanted(&self, subject: Subject) -> bool {
        let tool_present = match subject {
            Subject::Tinyproxy => self.tools.tinyproxy.is_some(),
            Subject::Squid => self.tools.squid.is_some(),
            Subject::TinyOrigin => self.tiny.is_some(),
            _ => true,
        };
        tool_present
            && (subject == Subject::Direct
                || subject == Subject::TinyOrigin
                || self.only.is_empty()
                || self.only.iter().any(|o| o == subject.short()))
    }

    /// Starts the proxy for `subject` (`None` for a direct fetch).
    fn start(&self, subject: Subject, cache: bool) -> Result<Option<Running>> {
        let need = |p: &Option<PathBuf>| p.clone().context("not installed");
        Ok(match subject {
            Subject::Direct | Subject::TinyOrigin => None,
            Subject::Tinyproxy => Some(peers::start_tinyproxy(
                &need(&self.tools.tinyproxy)?,
                &self.dir,
            )?),
            Subject::Squid => Some(peers::start_squid(
                &need(&self.tools.squid)?,
                &self.dir,
                cache,
            )?),
            Subject::Ours(variant, info) => {
                let log = if info { "info" } else { "warn" };
                let flags: &[&str] = if cache { &[] } else { &["--no-cache"] };
                Some(peers::start_ours(variant, log, flags)?)
            }
        })
    }

    fn url(&self, body: u64) -> Result<String> {
        Ok(format!(
            "http://{}/{}",
            self.origin.addr,
            peers::file_for(body)?
        ))
    }
}

/// Runs the benchmark.
pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    if args.install {
        install()?;
    }
    let tools = Tools::find();
    let (Some(nginx), Some(_)) = (&tools.nginx, &tools.wrk) else {
        bail!(
            "missing {}: run `harness bench --install` or scripts/install-bench-tools.sh",
            tools.missing().join(", ")
        );
    };
    for name in tools.missing() {
        eprintln!("bench: {name} is not installed; its rows are left out (--install adds it)");
    }
    raise_nofile_limit();
    let started = Instant::now();
    eprintln!("bench: building the proxies");
    for variant in VARIANTS {
        harness::bins::binary(variant.package())?;
    }
    let temp = tempfile::Builder::new().prefix("harness-bench").tempdir()?;
    let dir = temp.path().to_path_buf();
    peers::open_up(&dir, false)?;
    let root = dir.join("www");
    peers::write_site(&root)?;
    let origin = peers::start_nginx(nginx, &dir, &root)?;
    let tiny = if args.tiny_origin {
        Some(harness::lab::start_origin(&[])?)
    } else {
        None
    };
    let quick = args.quick;
    let ctx = Ctx {
        tools: tools.clone(),
        dir,
        origin,
        tiny,
        duration: Duration::from_secs(args.seconds.unwrap_or(if quick { 2 } else { 5 }).max(1)),
        only: args.only.iter().map(|s| s.trim().to_lowercase()).collect(),
    };

    let cells: Vec<Group> = if quick {
        vec![(1024, 64), (100 * 1024, 64), (10 << 20, 16)]
    } else {
        peers::BODIES
            .iter()
            .flat_map(|&(body, _)| [1, 16, 64].map(|conns| (body, conns)))
            .collect()
    }
    .into_iter()
    .map(|(body, conns)| Group::Cell { body, conns })
    .collect();

    let mut plan: Vec<(Group, Subject)> = Vec::new();
    let proxies = [
        Subject::Tinyproxy,
        Subject::Squid,
        Subject::Ours(Variant::Seq, false),
        Subject::Ours(Variant::Thread, false),
        Subject::Ours(Variant::Async, false),
    ];
    for &group in &cells {
        plan.push((group, Subject::Direct));
        let target_cell = group.body() == 1024 && group.conns() == 64;
        if target_cell {
            plan.push((group, Subject::TinyOrigin));
        }
        plan.extend(proxies.map(|s| (group, s)));
        if target_cell && !quick {
            for v in [Variant::Thread, Variant::Async] {
                plan.push((group, Subject::Ours(v, true)));
            }
        }
    }
    for subject in [
        Subject::Direct,
        Subject::Squid,
        Subject::Ours(Variant::Seq, false),
        Subject::Ours(Variant::Thread, false),
        Subject::Ours(Variant::Async, false),
    ] {
        plan.push((Group::CacheHit, subject));
    }
    // --quick keeps what the targets need.
    let in_quick = |s: Subject| {
        matches!(
            s,
            Subject::Direct | Subject::Ours(Variant::Thread | Variant::Async, false)
        )
    };
    plan.retain(|&(g, s)| ctx.wanted(s) && (!quick || g != Group::CacheHit || in_quick(s)));
    let idle_subjects: Vec<Subject> = proxies
        .into_iter()
        .filter(|&s| ctx.wanted(s) && (!quick || in_quick(s)))
        .collect();

    let script_dir = ctx.dir.join("wrk");
    std::fs::create_dir_all(&script_dir)?;
    let mut rows = Vec::new();
    let total = plan.len() + idle_subjects.len();
    for (i, &(group, subject)) in plan.iter().enumerate() {
        eprint!(
            "bench [{:>2}/{total}] {:>7} × {:<2} {:<28} ",
            i + 1,
            size_name(group.body()),
            group.conns(),
            match group {
                Group::CacheHit => format!("{} cache hit", subject.name()),
                Group::Cell { .. } => subject.name(),
            }
        );
        let row = measure(&ctx, &script_dir, group, subject);
        match &row.result {
            Ok(r) => eprintln!(
                "{:>8.0} req/s {:>7.1} MiB/s p99 {:>6.2} ms",
                r.rps(),
                r.mib_s(),
                r.p99_us as f64 / 1000.0
            ),
            Err(e) => eprintln!("FAILED: {e}"),
        }
        rows.push(row);
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut idle_rows = Vec::new();
    for (i, &subject) in idle_subjects.iter().enumerate() {
        eprint!(
            "bench [{:>2}/{total}] {} idle connections, {:<20} ",
            plan.len() + i + 1,
            args.idle,
            subject.name()
        );
        let result = measure_idle(&ctx, subject, args.idle);
        match &result {
            Ok(r) => eprintln!(
                "{} open, RSS {:.1} MiB, fetch {}",
                r.opened,
                mib(r.rss_kib),
                match &r.fetch {
                    Ok(ms) => format!("ok in {ms:.1} ms"),
                    Err(e) => format!("FAILED: {e}"),
                }
            ),
            Err(e) => eprintln!("FAILED: {e:#}"),
        }
        idle_rows.push((subject, result.map_err(|e| format!("{e:#}"))));
    }

    let report = Report {
        rows: &rows,
        idle: &idle_rows,
        idle_count: args.idle,
        duration: ctx.duration,
        tools: &tools,
        quick,
        elapsed: started.elapsed(),
    };
    print!("{}", report.markdown());
    drop(ctx);
    drop(temp);
    Ok(ExitCode::SUCCESS)
}

/// Runs scripts/install-bench-tools.sh.
fn install() -> Result<()> {
    let script = harness::bins::workspace_root().join("scripts/install-bench-tools.sh");
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    Ok(())
}

/// Starts the subject, checks one fetch, runs wrk while sampling RSS.
fn measure(ctx: &Ctx, script_dir: &std::path::Path, group: Group, subject: Subject) -> Row {
    let mut rss_kib = None;
    let result = (|| -> Result<WrkResult> {
        let cache = group == Group::CacheHit;
        let proxy = ctx.start(subject, cache)?;
        let (url, connect_to): (String, SocketAddr) = match (&proxy, subject) {
            (Some(p), _) => (ctx.url(group.body())?, p.addr),
            (None, Subject::TinyOrigin) => {
                let tiny = ctx.tiny.as_ref().context("tiny-origin not started")?;
                (format!("/bytes/{}", group.body()), tiny.addr)
            }
            (None, _) => (ctx.url(group.body())?, ctx.origin.addr),
        };
        let script = script_dir.join("run.lua");
        std::fs::write(&script, load::script(&url))?;
        // One fetch first: it fails fast on a broken setup and fills the
        // caches in the cache-hit group.
        for _ in 0..if cache { 2 } else { 1 } {
            check_fetch(connect_to, &url, group.body())?;
        }
        let sampler = proxy.as_ref().map(|p| RssSampler::start(p.pid()));
        let result = load::run_wrk(&Load {
            wrk: ctx.tools.wrk.clone().context("wrk is not installed")?,
            script,
            connect_to,
            conns: group.conns(),
            duration: ctx.duration,
        });
        rss_kib = sampler.map(RssSampler::peak_kib);
        drop(proxy);
        result
    })();
    Row {
        group,
        subject,
        result: result.map_err(|e| format!("{e:#}")),
        rss_kib,
    }
}

fn check_fetch(addr: SocketAddr, url: &str, body: u64) -> Result<()> {
    let request =
        format!("GET {url} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").into_bytes();
    let response = harness::clients::http::exchange(addr, &request, Duration::from_secs(10))?;
    if response.status != Some(200) || response.body().len() as u64 != body {
        bail!(
            "a check fetch of {url} got {} with {} body bytes",
            response.status_line(),
            response.body().len()
        );
    }
    Ok(())
}

fn measure_idle(ctx: &Ctx, subject: Subject, count: usize) -> Result<IdleResult> {
    let proxy = ctx
        .start(subject, false)?
        .context("no proxy for a direct fetch")?;
    let url = ctx.url(1024)?;
    Ok(idle::measure(proxy.addr, proxy.pid(), count, &url, 1024))
}

fn size_name(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The results, ready to print.
struct Report<'a> {
    rows: &'a [Row],
    idle: &'a [(Subject, Result<IdleResult, String>)],
    idle_count: usize,
    duration: Duration,
    tools: &'a Tools,
    quick: bool,
    elapsed: Duration,
}

impl Report<'_> {
    fn find(&self, group: Group, subject: Subject) -> Option<&WrkResult> {
        self.rows
            .iter()
            .find(|r| r.group == group && r.subject == subject)
            .and_then(|r| r.result.as_ref().ok())
    }

    fn row(&self, group: Group, subject: Subject) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.group == group && r.subject == subject)
    }

    fn ratio(&self, group: Group, subject: Subject) -> Option<f64> {
        let direct = self.find(group, Subject::Direct)?.rps();
        let this = self.find(group, subject)?.rps();
        (direct > 0.0).then(|| this / direct)
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### harness bench, {} ({} CPUs, {}){}\n",
            today(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model(),
            if self.quick { ", --quick" } else { "" }
        );
        let _ = writeln!(
            out,
            "| body | conns | subject | req/s | MiB/s | p50 ms | p99 ms | errors | resets | × direct | RSS MiB |"
        );
        let _ = writeln!(
            out,
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for row in self.rows {
            self.write_row(&mut out, row);
        }
        self.write_idle(&mut out);
        self.write_targets(&mut out);
        self.write_notes(&mut out);
        out
    }

    fn write_row(&self, out: &mut String, row: &Row) {
        let (body, conns) = match row.group {
            Group::Cell { body, conns } => (size_name(body), conns.to_string()),
            Group::CacheHit => (format!("{} hit", size_name(1024)), "64".into()),
        };
        let name = match row.group {
            Group::CacheHit if row.subject == Subject::Direct => "direct (nginx)".to_string(),
            Group::CacheHit => format!("{} (cache on)", row.subject.name()),
            Group::Cell { .. } => row.subject.name(),
        };
        let rss = row
            .rss_kib
            .map_or("–".to_string(), |k| format!("{:.1}", mib(k)));
        match &row.result {
            Ok(r) => {
                let ratio = self
                    .ratio(row.group, row.subject)
                    .map_or("–".into(), |x| format!("{x:.2}"));
                let _ = writeln!(
                    out,
                    "| {body} | {conns} | {name} | {:.0} | {:.1} | {:.2} | {:.2} | {} | {} | {ratio} | {rss} |",
                    r.rps(),
                    r.mib_s(),
                    r.p50_us as f64 / 1000.0,
                    r.p99_us as f64 / 1000.0,
                    r.errors(row.group.body()),
                    r.read,
                );
            }
            Err(e) => {
                let e = e.replace('|', "/").replace('\n', " ");
                let _ = writeln!(
                    out,
                    "| {body} | {conns} | {name} | failed: {e} | | | | | | | {rss} |"
                );
            }
        }
    }

    fn write_idle(&self, out: &mut String) {
        if self.idle.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n{} idle connections (open, send nothing), then one fetch through the proxy:\n",
            self.idle_count
        );
        let _ = writeln!(
            out,
            "| subject | opened | RSS before MiB | RSS idle MiB | threads | fetch while idle |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
        for (subject, result) in self.idle {
            match result {
                Ok(r) => {
                    let fetch = match &r.fetch {
                        Ok(ms) => format!("ok, {ms:.1} ms"),
                        Err(e) => format!("failed: {}", e.replace('|', "/")),
                    };
                    let _ = writeln!(
                        out,
                        "| {} | {} | {:.1} | {:.1} | {} | {fetch} |",
                        subject.name(),
                        r.opened,
                        mib(r.rss_before_kib),
                        mib(r.rss_kib),
                        r.threads
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "| {} | failed: {e} | | | | |", subject.name());
                }
            }
        }
    }

    fn write_targets(&self, out: &mut String) {
        let asy = Subject::Ours(Variant::Async, false);
        let thr = Subject::Ours(Variant::Thread, false);
        let k1 = Group::Cell {
            body: 1024,
            conns: 64,
        };
        let k100 = Group::Cell {
            body: 100 * 1024,
            conns: 64,
        };
        let m10 = Group::Cell {
            body: 10 << 20,
            conns: 16,
        };
        let mut targets: Vec<(String, Option<bool>, String)> = Vec::new();
        let fmt = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.2}"));
        for (group, goal) in [(k1, 0.55), (k100, 0.50), (m10, 0.75)] {
            let r = self.ratio(group, asy);
            targets.push((
                format!(
                    "proxy-async ≥ {goal:.2} × direct at {} × {}",
                    size_name(group.body()),
                    group.conns()
                ),
                r.map(|r| r >= goal),
                fmt(r),
            ));
        }
        let (a, t) = (self.ratio(k1, asy), self.ratio(k1, Subject::Tinyproxy));
        targets.push((
            "proxy-async ≥ 2 × tinyproxy at 1 KiB × 64".into(),
            a.zip(t).map(|(a, t)| a >= 2.0 * t),
            a.zip(t)
                .map_or("–".into(), |(a, t)| format!("{:.2}×", a / t)),
        ));
        for group in [k1, k100, m10] {
            let pair = self.find(group, thr).zip(self.find(group, asy));
            targets.push((
                format!(
                    "proxy-thread within 20% of proxy-async at {} × {}",
                    size_name(group.body()),
                    group.conns()
                ),
                pair.map(|(t, a)| t.rps() >= 0.8 * a.rps()),
                pair.map_or("–".into(), |(t, a)| format!("{:.2}", t.rps() / a.rps())),
            ));
        }
        for subject in [asy, thr] {
            let r = self.ratio(Group::CacheHit, subject);
            targets.push((
                format!("{} 1 KiB cache hit ≥ 1.0 × direct", subject.name()),
                r.map(|r| r >= 1.0),
                fmt(r),
            ));
        }
        for subject in [asy, thr] {
            let pair = self
                .find(k1, subject)
                .zip(self.find(k1, Subject::Tinyproxy));
            targets.push((
                format!("{} p99 at 1 KiB × 64 ≤ tinyproxy's", subject.name()),
                pair.map(|(s, t)| s.p99_us <= t.p99_us),
                pair.map_or("–".into(), |(s, t)| {
                    format!(
                        "{:.2} ms vs {:.2} ms",
                        s.p99_us as f64 / 1000.0,
                        t.p99_us as f64 / 1000.0
                    )
                }),
            ));
        }
        let ours: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| matches!(r.subject, Subject::Ours(v, _) if v != Variant::Seq))
            .collect();
        let errors: u64 = ours
            .iter()
            .map(|r| {
                r.result
                    .as_ref()
                    .map_or(1, |w| w.errors(r.group.body()) + w.read)
            })
            .sum();
        targets.push((
            "zero errors (proxy-thread, proxy-async, every row)".into(),
            (!ours.is_empty()).then_some(errors == 0),
            errors.to_string(),
        ));
        let rss = [k1, k100, m10]
            .iter()
            .filter_map(|&g| self.row(g, asy).and_then(|r| r.rss_kib))
            .max();
        targets.push((
            "proxy-async RSS ≤ 10 MiB under load (target cells)".into(),
            rss.map(|k| k <= 10 * 1024),
            rss.map_or("–".into(), |k| format!("{:.1} MiB", mib(k))),
        ));
        let idle_of = |s: Subject| {
            self.idle
                .iter()
                .find(|(x, _)| *x == s)
                .and_then(|(_, r)| r.as_ref().ok())
        };
        let ai = idle_of(asy);
        targets.push((
            format!(
                "proxy-async RSS ≤ 16 MiB with {} idle connections",
                self.idle_count
            ),
            ai.map(|r| r.opened == self.idle_count && r.rss_kib <= 16 * 1024 && r.fetch.is_ok()),
            ai.map_or("–".into(), |r| format!("{:.1} MiB", mib(r.rss_kib))),
        ));
        let ti = idle_of(thr);
        targets.push((
            format!(
                "proxy-thread holds {} idle connections and serves",
                self.idle_count
            ),
            ti.map(|r| r.opened == self.idle_count && r.fetch.is_ok()),
            ti.map_or("–".into(), |r| {
                format!("{} open, {} threads", r.opened, r.threads)
            }),
        ));

        let _ = writeln!(out, "\nTargets (ratios within this run):\n");
        let _ = writeln!(out, "| target | measured | met |");
        let _ = writeln!(out, "|---|---:|:---:|");
        for (what, met, measured) in targets {
            let mark = match met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            };
            let _ = writeln!(out, "| {what} | {measured} | {mark} |");
        }
    }

    fn write_notes(&self, out: &mut String) {
        let version = |p: &Option<PathBuf>, flag: &str| {
            p.as_deref()
                .map_or("not installed".into(), |p| peers::version(p, flag))
        };
        let _ = writeln!(
            out,
            "\nNotes: {} s of wrk per row ({}), `Connection: close`, one request per \
             connection; 2 wrk threads (1 for 1 connection). Origin: {} with sendfile, one \
             worker. Peers: {}; {} (`cache deny all` except in the cache-hit rows, which use a \
             64 MB memory cache). Ours: release builds, `--no-cache` except in the cache-hit \
             rows, `RUST_LOG=warn` (rows marked `RUST_LOG=info` log one line per request to a \
             pipe). Each proxy is started fresh for its row; RSS is the peak `VmRSS` sampled \
             every 50 ms during the row. errors = connect + write + timeout + non-2xx + short \
             responses; resets = wrk's read errors, which also count a reset after a complete \
             response (tinyproxy closes with unread input). Whole run: {:.0} s.",
            self.duration.as_secs(),
            version(&self.tools.wrk, "--version"),
            version(&self.tools.nginx, "-v"),
            version(&self.tools.tinyproxy, "-v"),
            version(&self.tools.squid, "-v"),
            self.elapsed.as_secs_f64()
        );
    }
}

/// The CPU model from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
