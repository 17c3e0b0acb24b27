//! Real clients: curl and a headless Chromium pointed at a proxy, so the
//! proxies are also checked by the programs students use, not only by our
//! own sockets.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a real client may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cmd` to completion within `limit`, killing it (and its process
/// group) if it overruns. Returns its stdout.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill(2) on the process group this child leads.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            let _ = child.wait();
            bail!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(out)
}

/// `curl -x http://PROXY URL`: the body.
pub fn curl_via(proxy: std::net::SocketAddr, url: &str) -> Result<Vec<u8>> {
    let mut cmd = Command::new("curl");
    cmd.args([
        "--silent",
        "--show-error",
        "--fail",
        "--max-time",
        "20",
        "-x",
    ])
    .arg(format!("http://{proxy}"))
    .arg(url);
    run_bounded(cmd, Duration::from_secs(30))
}

/// The first of `chromium`, `chromium-browser`, `google-chrome` that is
/// installed and starts.
pub fn find_browser() -> Option<PathBuf> {
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .into_iter()
    .find_map(|name| {
        let mut cmd = Command::new(name);
        cmd.arg("--version");
        run_bounded(cmd, Duration::from_secs(20))
            .ok()
            .map(|_| PathBuf::from(name))
    })
}

/// Loads `url` in headless Chromium through `proxy` and returns the DOM it
/// rendered. Loopback is normally never proxied by Chromium;
/// `--proxy-bypass-list=<-loopback>` makes it go through the proxy.
pub fn browser_load(
    browser: &std::path::Path,
    proxy: std::net::SocketAddr,
    url: &str,
) -> Result<String> {
    let profile = tempfile::tempdir()?;
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("--proxy-server=http://{proxy}"))
    .arg("--proxy-bypass-list=<-loopback>")
    .arg("--dump-dom")
    .arg(url);
    let dom = run_bounded(cmd, CLIENT_TIMEOUT)?;
    Ok(String::from_utf8_lossy(&dom).into_owned())
}
