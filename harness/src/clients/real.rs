//! Real clients: curl and a headless Chromium pointed at a proxy, so the
//! proxies are also checked by the programs students use, not only by our
//! own sockets.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::process::run_bounded;

/// How long a real client may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_mins(1);

/// Runs `cmd` within `limit` and returns its stdout; a non-zero exit is
/// an error that shows the end of its stderr.
fn stdout_of(cmd: Command, limit: Duration) -> Result<Vec<u8>> {
    Ok(run_bounded(cmd, limit)?.success()?.stdout)
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
    stdout_of(cmd, Duration::from_secs(30))
}

/// `curl https://...` trusting `cacert`, through `proxy` (`-x`) or
/// direct: the body. The proxy variables of the environment are cleared,
/// so the route is the one asked for.
pub fn curl_https(
    proxy: Option<std::net::SocketAddr>,
    url: &str,
    cacert: &std::path::Path,
) -> Result<Vec<u8>> {
    let mut cmd = Command::new("curl");
    for var in [
        "http_proxy",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(["--silent", "--show-error", "--fail", "--max-time", "60"])
        .arg("--cacert")
        .arg(cacert);
    match proxy {
        Some(proxy) => cmd.arg("-x").arg(format!("http://{proxy}")),
        None => cmd.arg("--noproxy").arg("*"),
    };
    cmd.arg(url);
    stdout_of(cmd, Duration::from_secs(90))
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
        stdout_of(cmd, Duration::from_secs(20))
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
    browser_load_with(browser, proxy, url, &[])
}

/// [`browser_load`] for an `https://` page of a `--tls` origin, whose
/// self-signed certificate Chromium is told to accept
/// (`--ignore-certificate-errors`): it asks the proxy for a `CONNECT`
/// tunnel.
pub fn browser_load_https(
    browser: &std::path::Path,
    proxy: std::net::SocketAddr,
    url: &str,
) -> Result<String> {
    browser_load_with(browser, proxy, url, &["--ignore-certificate-errors"])
}

fn browser_load_with(
    browser: &std::path::Path,
    proxy: std::net::SocketAddr,
    url: &str,
    extra: &[&str],
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
    .args(extra)
    .arg("--dump-dom")
    .arg(url);
    let dom = stdout_of(cmd, CLIENT_TIMEOUT)?;
    Ok(String::from_utf8_lossy(&dom).into_owned())
}
