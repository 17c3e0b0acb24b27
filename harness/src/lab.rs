//! Starting what the checks need: tiny-origin and a proxy, either one of
//! our three variants or any command (a student's `./proxy PORT`).

use std::net::SocketAddr;
use std::process::Command;

use anyhow::{Result, bail};

use crate::bins::binary;
use crate::process::{Running, START_TIMEOUT, StartError, free_port};

/// The three proxies of this workspace. Tests loop over [`VARIANTS`], so a
/// variant added here is checked by every test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// `proxy-seq`: one connection at a time.
    Seq,
    /// `proxy-thread`: a thread per connection.
    Thread,
    /// `proxy-async`: tokio tasks.
    Async,
}

/// Every variant, in the order of the lab.
pub const VARIANTS: [Variant; 3] = [Variant::Seq, Variant::Thread, Variant::Async];

/// The variants that serve clients concurrently.
pub const CONCURRENT: [Variant; 2] = [Variant::Thread, Variant::Async];

impl Variant {
    /// The package and binary name.
    pub fn package(self) -> &'static str {
        match self {
            Variant::Seq => "proxy-seq",
            Variant::Thread => "proxy-thread",
            Variant::Async => "proxy-async",
        }
    }

    /// `true` when one stalled client cannot block the others.
    pub fn is_concurrent(self) -> bool {
        self != Variant::Seq
    }

    /// Parses `seq`, `thread`, `async` or the package name.
    pub fn from_name(name: &str) -> Option<Variant> {
        VARIANTS
            .into_iter()
            .find(|v| v.package() == name || v.package().strip_prefix("proxy-") == Some(name))
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.package())
    }
}

/// Starts tiny-origin on a free port, with extra flags.
pub fn start_origin(extra: &[&str]) -> Result<Running> {
    let mut args = vec!["0".to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Ok(Running::start_listening(
        "tiny-origin",
        &binary("tiny-origin")?,
        &args,
    )?)
}

/// Starts tiny-origin on a given address (to restart it where it was).
pub fn start_origin_at(addr: SocketAddr) -> Result<Running> {
    let args = vec![
        addr.port().to_string(),
        "--bind".to_string(),
        addr.ip().to_string(),
    ];
    Ok(Running::start_listening(
        "tiny-origin",
        &binary("tiny-origin")?,
        &args,
    )?)
}

/// Starts one of our variants on a free port, with extra flags.
pub fn start_variant(variant: Variant, extra: &[&str]) -> Result<Running> {
    let mut args = vec!["0".to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Ok(Running::start_listening(
        variant.package(),
        &binary(variant.package())?,
        &args,
    )?)
}

/// How to start the proxy being graded.
#[derive(Debug, Clone)]
pub enum ProxySpec {
    /// One of ours.
    Variant(Variant),
    /// A shell command with `{port}` where the port goes, e.g. `./proxy {port}`.
    Command(String),
    /// A binary started as `PATH PORT`, like the course's driver does.
    Binary(std::path::PathBuf),
}

impl ProxySpec {
    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            ProxySpec::Variant(v) => v.package().to_string(),
            ProxySpec::Command(c) => c.clone(),
            ProxySpec::Binary(p) => p.display().to_string(),
        }
    }

    /// Starts the proxy, with `extra` flags for our variants (ignored for
    /// other proxies, which take only a port). A proxy that takes its port
    /// on the command line is tried on up to three ports: the port was free
    /// when picked, but another program may have taken it since.
    pub fn start(&self, extra: &[&str]) -> Result<Running> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.start_once(extra) {
                // Only a process that exited at once (a failed bind) is
                // retried; one that never listens is not worth waiting on twice.
                Err(e)
                    if attempt < 3
                        && !matches!(self, ProxySpec::Variant(_))
                        && matches!(e.downcast_ref(), Some(StartError::Exited { .. })) =>
                {
                    eprintln!("retrying {} on another port: {e:#}", self.name());
                }
                result => return result,
            }
        }
    }

    fn start_once(&self, extra: &[&str]) -> Result<Running> {
        match self {
            ProxySpec::Variant(v) => start_variant(*v, extra),
            ProxySpec::Command(template) => {
                if !template.contains("{port}") {
                    bail!("--proxy needs a {{port}} placeholder, e.g. './proxy {{port}}'");
                }
                let port = free_port()?;
                let line = template.replace("{port}", &port.to_string());
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(format!("exec {line}"));
                Ok(Running::start_on_port(&line, cmd, port, START_TIMEOUT / 2)?)
            }
            ProxySpec::Binary(path) => {
                let port = free_port()?;
                let mut cmd = Command::new(path);
                cmd.arg(port.to_string());
                Ok(Running::start_on_port(
                    &path.display().to_string(),
                    cmd,
                    port,
                    START_TIMEOUT / 2,
                )?)
            }
        }
    }
}

/// Runs `f` on every variant at once (one thread each) and returns the
/// checks of all, labelled with the variant. A setup error becomes a
/// failed check, so one broken variant does not hide the others.
pub fn on_each_variant<F>(variants: &[Variant], f: F) -> Vec<crate::checks::Check>
where
    F: Fn(Variant) -> Result<Vec<crate::checks::Check>> + Sync,
{
    std::thread::scope(|scope| {
        let handles: Vec<_> = variants
            .iter()
            .map(|&variant| {
                let f = &f;
                (variant, scope.spawn(move || f(variant)))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(variant, handle)| {
                let checks = match handle.join() {
                    Ok(Ok(checks)) => checks,
                    Ok(Err(e)) => vec![crate::checks::Check::fail(
                        "setup",
                        "start",
                        format!("{e:#}"),
                        None,
                    )],
                    Err(_) => vec![crate::checks::Check::fail(
                        "setup",
                        "run",
                        "the check panicked",
                        None,
                    )],
                };
                checks.into_iter().map(move |mut c| {
                    c.name = format!("{variant}: {}", c.name);
                    c
                })
            })
            .collect()
    })
}
