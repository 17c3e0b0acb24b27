//! Setting up what the checks need: an origin (tiny-origin, in this
//! process) and a proxy — one of our three variants, or any command such as
//! a student's `./proxy PORT` — and the [`Lab`] value that names both, so
//! no check can take its two addresses in the wrong order.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use tiny_origin::{ServerHandle, TinyVersion, TlsCertificate};

use crate::bins::binary;
use crate::checks::{Check, Section};
use crate::clients::http::url;
use crate::process::{Running, START_TIMEOUT, StartError, free_port};
use crate::sandbox::Jail;

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

/// An origin and the proxy in front of it: what a check talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lab {
    /// The origin server.
    pub origin: SocketAddr,
    /// The proxy under test.
    pub proxy: SocketAddr,
}

impl Lab {
    /// The absolute URL of `path` on the origin.
    pub fn url(&self, path: &str) -> String {
        url(self.origin, path)
    }
}

/// tiny-origin, running in this process (nothing to build or spawn).
#[derive(Debug)]
pub struct Origin {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The certificate it presents when started with `--tls`.
    pub certificate: Option<TlsCertificate>,
    server: ServerHandle,
}

impl Origin {
    /// Stops it: its port refuses connections from now on, as after the
    /// course driver's `kill tiny`.
    pub fn stop(&mut self) {
        self.server.stop();
    }
}

/// Starts tiny-origin in this process on a free port of 127.0.0.1, with
/// the binary's flags (e.g. `["--stall-secs", "5"]`, `["--bind", "::1"]`,
/// `["--tiny"]`, or `["--tls"]` for HTTPS with [`Origin::certificate`]).
pub fn start_origin(flags: &[&str]) -> Result<Origin> {
    let config = tiny_origin::Config::try_parse_from(
        ["tiny-origin", "0"]
            .into_iter()
            .chain(flags.iter().copied()),
    )
    .with_context(|| format!("tiny-origin flags {flags:?}"))?;
    let server = tiny_origin::start(&config).context("starting tiny-origin")?;
    Ok(Origin {
        addr: server.addr(),
        certificate: server.certificate().cloned(),
        server,
    })
}

/// Starts Tiny exactly (tiny-origin `--tiny`), the book's version: the
/// origin of the 70 points.
pub fn start_tiny() -> Result<Origin> {
    start_tiny_version(TinyVersion::default())
}

/// Starts Tiny exactly, as `version` of `tiny.c` answers.
pub fn start_tiny_version(version: TinyVersion) -> Result<Origin> {
    let mut files = tiny_origin::TinyFiles::standard();
    files.version = version;
    let server =
        tiny_origin::start_tiny(([127, 0, 0, 1], 0).into(), files).context("starting Tiny")?;
    Ok(Origin {
        addr: server.addr(),
        certificate: None,
        server,
    })
}

/// Starts one of our variants on a free port, with extra flags.
pub fn start_variant(variant: Variant, extra: &[&str]) -> Result<Running> {
    let mut args = vec!["0".to_string()];
    args.extend(extra.iter().map(std::string::ToString::to_string));
    Ok(Running::start_listening(
        variant.package(),
        &binary(variant.package())?,
        &args,
    )?)
}

/// A variant in front of an origin, both started for one check.
#[derive(Debug)]
pub struct Setup {
    /// Which variant.
    pub variant: Variant,
    /// The origin (in this process).
    pub origin: Origin,
    /// The proxy process.
    pub proxy: Running,
}

impl Setup {
    /// Starts an origin with `origin_flags` and `variant` with
    /// `proxy_flags`.
    pub fn start(variant: Variant, origin_flags: &[&str], proxy_flags: &[&str]) -> Result<Setup> {
        Ok(Setup {
            variant,
            origin: start_origin(origin_flags)?,
            proxy: start_variant(variant, proxy_flags)?,
        })
    }

    /// The two addresses.
    pub fn lab(&self) -> Lab {
        Lab {
            origin: self.origin.addr,
            proxy: self.proxy.addr,
        }
    }
}

/// A server that accepts connections and never answers or closes them:
/// driver.sh's `nop-server.py`, in this process (IPv4 only, as it is).
#[derive(Debug)]
pub struct NopServer {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl NopServer {
    /// Starts it on a free port of 127.0.0.1.
    pub fn start() -> Result<NopServer> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the nop server")?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (count, stop, keep) = (
            Arc::clone(&accepted),
            Arc::clone(&stopping),
            Arc::clone(&held),
        );
        std::thread::Builder::new()
            .name("nop-server".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match conn {
                        Ok(stream) => {
                            if let Ok(mut held) = keep.lock() {
                                held.push(stream);
                            }
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            })
            .context("spawning the nop server")?;
        Ok(NopServer {
            addr,
            accepted,
            stopping,
            held,
        })
    }

    /// Waits (bounded) until it has accepted a connection; `false` if none
    /// came in time.
    pub fn wait_for_a_connection(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.accepted.load(Ordering::SeqCst) == 0 {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl Drop for NopServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Ok(mut held) = self.held.lock() {
            held.clear();
        }
    }
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
    /// An untrusted binary, started as `PATH PORT` in its own directory,
    /// with the limits (and as the user) of a [`Jail`] — how `harness
    /// class` and `harness grade --sandbox` start a student's proxy.
    Jailed(std::path::PathBuf, Jail),
}

impl ProxySpec {
    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            ProxySpec::Variant(v) => v.package().to_string(),
            ProxySpec::Command(c) => c.clone(),
            ProxySpec::Binary(p) | ProxySpec::Jailed(p, _) => p.display().to_string(),
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
        let (name, mut cmd) = match self {
            ProxySpec::Variant(v) => return start_variant(*v, extra),
            ProxySpec::Command(template) => {
                if !template.contains("{port}") {
                    bail!("--proxy needs a {{port}} placeholder, e.g. './proxy {{port}}'");
                }
                let mut cmd = Command::new("sh");
                cmd.arg("-c");
                (template.clone(), cmd)
            }
            ProxySpec::Binary(path) => (path.display().to_string(), Command::new(path)),
            ProxySpec::Jailed(path, jail) => {
                let mut cmd = Command::new(path);
                if let Some(dir) = path.parent() {
                    cmd.current_dir(dir);
                }
                jail.apply(&mut cmd)?;
                (path.display().to_string(), cmd)
            }
        };
        let port = free_port()?;
        match self {
            ProxySpec::Command(template) => {
                cmd.arg(format!(
                    "exec {}",
                    template.replace("{port}", &port.to_string())
                ));
            }
            _ => {
                cmd.arg(port.to_string());
            }
        }
        Ok(Running::start_on_port(&name, cmd, port, START_TIMEOUT / 2)?)
    }
}

/// Runs `f` on every variant at once (one thread each) and returns the
/// checks of all, labelled with the variant. A setup error becomes a
/// failed check, so one broken variant does not hide the others.
pub fn on_each_variant<F>(variants: &[Variant], f: F) -> Vec<Check>
where
    F: Fn(Variant) -> Result<Vec<Check>> + Sync,
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
                    Ok(Err(e)) => {
                        vec![Check::fail(Section::Setup, "start", format!("{e:#}"), None)]
                    }
                    Err(_) => vec![Check::fail(
                        Section::Setup,
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

/// [`on_each_variant`] with the usual setup done: an origin started with
/// `origin_flags` and the variant with `proxy_flags`, handed to `f`.
pub fn on_each_variant_with<F>(
    variants: &[Variant],
    origin_flags: &[&str],
    proxy_flags: &[&str],
    f: F,
) -> Vec<Check>
where
    F: Fn(&mut Setup) -> Result<Vec<Check>> + Sync,
{
    on_each_variant(variants, |variant| {
        let mut setup = Setup::start(variant, origin_flags, proxy_flags)?;
        f(&mut setup)
    })
}
