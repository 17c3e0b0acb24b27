//! `CONNECT` tunnels (SPEC §4.7, issue #17): HTTPS through each variant,
//! byte for byte against a direct fetch, the refusals, the idle timeout,
//! and what a tunnel costs while it sits open.
//!
//! The origin is tiny-origin with `--tls` (a certificate generated at
//! start); the proxy is allowed to tunnel to its port only
//! (`--connect-ports PORT`), as a real deployment allows 443 only.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tiny_origin::TlsCertificate;

use super::{CHECK_TIMEOUT, Check, Failure, Section};
use crate::clients::http::{first_difference, get_via_proxy, url};
use crate::clients::real::curl_https;
use crate::clients::tls::{Ending, connect_request, get_direct_tls, get_via_tunnel};
use crate::lab::{Lab, NopServer, Origin, Variant, start_origin, start_variant};
use crate::process::Running;
use crate::process::procfs::{rss_kib, usage};

/// How long a tunnelled fetch of a big object may take.
pub const TUNNEL_TIMEOUT: Duration = Duration::from_mins(1);

/// A TLS origin and a variant allowed to tunnel to it.
#[derive(Debug)]
pub struct TunnelLab {
    /// tiny-origin `--tls`.
    pub origin: Origin,
    /// The certificate it presents.
    pub cert: TlsCertificate,
    /// The same certificate in a file, for `curl --cacert`.
    pub cert_file: tempfile::NamedTempFile,
    /// The variant, started with `--connect-ports <origin's port>` and
    /// `extra`.
    pub proxy: Running,
}

impl TunnelLab {
    /// Starts a TLS origin and `variant` in front of it.
    pub fn start(variant: Variant, extra: &[&str]) -> Result<TunnelLab> {
        let origin = start_origin(&["--tls"])?;
        let cert = origin
            .certificate
            .clone()
            .context("a --tls origin without a certificate")?;
        let cert_file = tempfile::NamedTempFile::new()?;
        std::fs::write(cert_file.path(), &cert.pem)?;
        let port = origin.addr.port().to_string();
        let mut flags = vec!["--connect-ports", port.as_str()];
        flags.extend_from_slice(extra);
        let proxy = start_variant(variant, &flags)?;
        Ok(TunnelLab {
            origin,
            cert,
            cert_file,
            proxy,
        })
    }

    /// The two addresses: the TLS origin and the proxy.
    pub fn lab(&self) -> Lab {
        Lab {
            origin: self.origin.addr,
            proxy: self.proxy.addr,
        }
    }

    /// `https://ORIGIN/path`.
    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.origin.addr)
    }
}

/// Compares a tunnelled answer with the direct one.
fn same_bytes(direct: &[u8], tunnelled: &[u8]) -> Result<(), Failure> {
    if direct == tunnelled {
        return Ok(());
    }
    Err(Failure::new(
        format!(
            "{} bytes through the tunnel, {} direct, first difference at byte {:?}",
            tunnelled.len(),
            direct.len(),
            first_difference(direct, tunnelled)
        ),
        Some("relay every byte both ways until each side closes"),
    ))
}

/// `curl -x http://PROXY https://ORIGIN/path --cacert FILE` equals the
/// same curl without the proxy, for each path.
pub fn curl_through_tunnel(lab: &TunnelLab, paths: &[&str]) -> Vec<Check> {
    paths
        .iter()
        .map(|path| {
            let name = format!("curl https:// {path} through a tunnel equals direct");
            let url = lab.https_url(path);
            let result = curl_https(None, &url, lab.cert_file.path())
                .and_then(|direct| {
                    let tunnelled = curl_https(Some(lab.proxy.addr), &url, lab.cert_file.path())?;
                    Ok((direct, tunnelled))
                })
                .map_err(|e| Failure::new(format!("{e:#}"), None))
                .and_then(|(direct, tunnelled)| same_bytes(&direct, &tunnelled));
            Check::from_result(Section::Tunnels, name, result)
        })
        .collect()
}

/// A client that sends its request, then `close_notify` and a TCP
/// half-close, still gets the whole answer: the proxy passes the
/// half-close on and keeps relaying the other way.
pub fn half_closing_client(lab: &TunnelLab, path: &str) -> Check {
    let result = get_direct_tls(lab.origin.addr, &lab.cert, path, TUNNEL_TIMEOUT)
        .and_then(|direct| {
            let tunnelled = get_via_tunnel(
                lab.lab(),
                &lab.cert,
                path,
                Ending::HalfClose,
                TUNNEL_TIMEOUT,
            )?;
            Ok((direct, tunnelled))
        })
        .map_err(|e| Failure::new(format!("{e:#}"), None))
        .and_then(|(direct, tunnelled)| same_bytes(&direct, &tunnelled));
    Check::from_result(
        Section::Tunnels,
        format!("a client that half-closes gets all of {path}"),
        result,
    )
}

/// The proxy's log line for a tunnel names host, port and the bytes each
/// way, and nothing of what went through it (here a path with a marker).
pub fn log_line_without_content(lab: &TunnelLab) -> Check {
    let marker = "tunnel-secret-42";
    let path = format!("/bytes/5000?{marker}");
    let fetched = get_via_tunnel(lab.lab(), &lab.cert, &path, Ending::Plain, TUNNEL_TIMEOUT);
    // The line is written when the tunnel ends, just after the client saw
    // the end: wait (bounded) for it.
    let want = format!("CONNECT {} 200 up ", lab.origin.addr);
    let deadline = Instant::now() + CHECK_TIMEOUT;
    let mut log = lab.proxy.output_text();
    while !log.contains(&want) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        log = lab.proxy.output_text();
    }
    let result = match fetched {
        Err(e) => Err(Failure::new(format!("{e:#}"), None)),
        Ok(_) if !log.contains(&want) => Err(Failure::new(
            format!("no line with {want:?} in the log:\n{log}"),
            None,
        )),
        Ok(_) if log.contains(marker) => Err(Failure::new(
            "the log shows what went through the tunnel".to_string(),
            Some("log host, port and byte counts only"),
        )),
        Ok(_) => Ok(()),
    };
    Check::from_result(
        Section::Tunnels,
        "the log line gives host:port and bytes, never content",
        result,
    )
}

/// The refusals: a port not in `--connect-ports` (403), a denied name
/// (403), a denied address (403), a closed port (502), tunnels turned off
/// (501). `tls_port` is the port tunnels are allowed to; `closed_port`
/// one where nothing listens.
pub fn refusals(variant: Variant, tls_port: u16, closed_port: u16) -> Result<Vec<Check>> {
    let ports = format!("{tls_port},{closed_port}");
    let proxy = start_variant(
        variant,
        &[
            "--connect-ports",
            &ports,
            "--deny",
            "denied.invalid",
            "--deny",
            "127.0.0.2",
        ],
    )?;
    let off = start_variant(variant, &["--connect-ports", ""])?;
    let cases = [
        (
            proxy.addr,
            "127.0.0.1:25".to_string(),
            403,
            "a port not in --connect-ports",
        ),
        (
            proxy.addr,
            format!("denied.invalid:{tls_port}"),
            403,
            "a denied name",
        ),
        (
            proxy.addr,
            format!("0x7f.2:{tls_port}"),
            403,
            "a denied address, spelled otherwise",
        ),
        (
            proxy.addr,
            format!("127.0.0.1:{closed_port}"),
            502,
            "a closed port",
        ),
        (
            off.addr,
            format!("127.0.0.1:{tls_port}"),
            501,
            "tunnels off (--connect-ports '')",
        ),
    ];
    Ok(cases
        .into_iter()
        .map(|(addr, authority, want, what)| {
            let got = connect_request(addr, &authority, CHECK_TIMEOUT).map(|(_, status)| status);
            let result = match got {
                Ok(Some(status)) if status == want => Ok(()),
                Ok(status) => Err(Failure::new(
                    format!("expected {want}, got {status:?}"),
                    None,
                )),
                Err(e) => Err(Failure::new(format!("{e:#}"), None)),
            };
            Check::from_result(
                Section::Tunnels,
                format!("CONNECT to {what}: {want}"),
                result,
            )
        })
        .collect())
}

/// A tunnel where nothing moves either way is closed after the idle
/// timeout (the client sees the end).
pub fn idle_tunnel_is_closed(variant: Variant) -> Result<Check> {
    let nop = NopServer::start()?;
    let port = nop.addr.port().to_string();
    let proxy = start_variant(variant, &["--connect-ports", &port, "--idle-timeout", "1"])?;
    let (mut tunnel, status) = connect_request(proxy.addr, &nop.addr.to_string(), CHECK_TIMEOUT)?;
    let limit = Duration::from_secs(20);
    tunnel.set_read_timeout(Some(limit))?;
    let mut buf = [0u8; 16];
    let result = match (status, tunnel.read(&mut buf)) {
        (Some(200), Ok(0)) => Ok(()),
        (Some(200), Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        (Some(200), other) => Err(Failure::new(
            format!("still open {limit:?} after a 1 s idle timeout ({other:?})"),
            Some("bound every wait of the tunnel by --idle-timeout, both directions together"),
        )),
        (status, _) => Err(Failure::new(format!("CONNECT answered {status:?}"), None)),
    };
    Ok(Check::from_result(
        Section::Tunnels,
        "an idle tunnel is closed after --idle-timeout",
        result,
    ))
}

/// What a number of open, idle tunnels cost the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Tunnels open.
    pub tunnels: usize,
    /// The proxy's threads.
    pub threads: usize,
    /// Its open file descriptors.
    pub fds: usize,
    /// Its resident memory, KiB.
    pub rss_kib: u64,
}

/// Opens `count` tunnels to a server that never says anything and keeps
/// them idle, then fetches a page through the proxy beside them: in the
/// thread and async variants the page comes back. Returns the checks and
/// what the open tunnels cost.
pub fn idle_tunnels_beside_a_client(
    variant: Variant,
    count: usize,
) -> Result<(Vec<Check>, Option<Footprint>)> {
    crate::process::procfs::raise_nofile_limit();
    let nop = NopServer::start()?;
    let origin = start_origin(&[])?;
    let port = nop.addr.port().to_string();
    let proxy = start_variant(variant, &["--connect-ports", &port])?;
    let mut tunnels: Vec<TcpStream> = Vec::with_capacity(count);
    let mut refused = 0;
    for _ in 0..count {
        match connect_request(proxy.addr, &nop.addr.to_string(), CHECK_TIMEOUT) {
            Ok((stream, Some(200))) => tunnels.push(stream),
            _ => refused += 1,
        }
    }
    let footprint = usage(proxy.pid()).map(|u| Footprint {
        tunnels: tunnels.len(),
        threads: u.threads,
        fds: u.fds,
        rss_kib: rss_kib(proxy.pid()).unwrap_or(0),
    });
    let opened = if refused == 0 {
        Ok(())
    } else {
        Err(Failure::new(
            format!("{refused} of {count} tunnels were not opened"),
            None,
        ))
    };
    let page = get_via_proxy(proxy.addr, &url(origin.addr, "/home.html"), CHECK_TIMEOUT);
    let served = match page {
        Ok(r) if r.status == Some(200) => Ok(()),
        Ok(r) => Err(Failure::new(format!("status {:?}", r.status), None)),
        Err(e) => Err(Failure::new(
            format!("{e:#}"),
            Some("a tunnel must not hold up other clients"),
        )),
    };
    drop(tunnels);
    Ok((
        vec![
            Check::from_result(
                Section::Tunnels,
                format!("{count} idle tunnels open"),
                opened,
            ),
            Check::from_result(
                Section::Tunnels,
                format!("a page is served beside {count} idle tunnels"),
                served,
            ),
        ],
        footprint,
    ))
}

/// Tunnels leave nothing behind: after `fetches` tunnelled fetches (every
/// third with a half-close, every fifth abandoned after its `CONNECT`),
/// the proxy's descriptors and threads return to their idle level.
pub fn tunnels_do_not_leak(lab: &TunnelLab, fetches: usize) -> Option<Check> {
    let pid = lab.proxy.pid();
    let _ = get_via_tunnel(
        lab.lab(),
        &lab.cert,
        "/notes.txt",
        Ending::Plain,
        CHECK_TIMEOUT,
    );
    std::thread::sleep(Duration::from_millis(200));
    let idle = usage(pid)?;
    for i in 0..fetches {
        if i % 5 == 4 {
            let _ = connect_request(lab.proxy.addr, &lab.origin.addr.to_string(), CHECK_TIMEOUT);
            continue;
        }
        let ending = if i % 3 == 2 {
            Ending::HalfClose
        } else {
            Ending::Plain
        };
        let _ = get_via_tunnel(lab.lab(), &lab.cert, "/notes.txt", ending, CHECK_TIMEOUT);
    }
    // proxy-thread keeps finished threads a moment (proxy_core::threads).
    let slack = crate::process::procfs::Usage {
        fds: idle.fds + 2,
        threads: idle.threads + 10,
    };
    let after = crate::process::procfs::wait_for_idle(pid, slack, Duration::from_secs(20))?;
    let result = if after.fds <= slack.fds && after.threads <= slack.threads {
        Ok(())
    } else {
        Err(Failure::new(
            format!("idle {idle:?}, after {fetches} tunnels {after:?}"),
            Some("close both sockets of a tunnel when it ends"),
        ))
    };
    Some(Check::from_result(
        Section::Tunnels,
        format!("descriptors and threads back to idle after {fetches} tunnels"),
        result,
    ))
}
