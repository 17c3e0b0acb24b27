//! A TLS client through a proxy's `CONNECT` tunnel (issue #17): what a
//! browser does for an `https://` page, with every step in the harness's
//! hands — the `CONNECT` and its answer, the TLS session (rustls, trusting
//! only the origin's generated certificate), a request, and optionally a
//! half-close before reading the answer.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustls::pki_types::{CertificateDer, ServerName};
use tiny_origin::TlsCertificate;

use super::http::status_of;
use crate::lab::Lab;

/// A rustls client configuration that trusts `cert` only.
pub fn client_config(cert: &TlsCertificate) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.der.clone()))
        .context("the origin's certificate")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Sends `CONNECT authority` to `proxy` and reads the answer's head, byte
/// by byte so nothing after it is taken from the tunnel. Returns the
/// socket and the status (`200`: the tunnel is open).
pub fn connect_request(
    proxy: SocketAddr,
    authority: &str,
    limit: Duration,
) -> Result<(TcpStream, Option<u16>)> {
    let deadline = Instant::now() + limit;
    let mut stream = TcpStream::connect_timeout(&proxy, limit)
        .with_context(|| format!("connecting to the proxy {proxy}"))?;
    stream.write_all(
        format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes(),
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("no answer to CONNECT within {limit:?}");
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the answer to CONNECT"),
        }
    }
    Ok((stream, status_of(&head)))
}

/// Opens a tunnel to `lab.origin` through `lab.proxy`; an error unless the
/// proxy answered `200`.
pub fn tunnel(lab: Lab, limit: Duration) -> Result<TcpStream> {
    let Lab { origin, proxy } = lab;
    let (stream, status) = connect_request(proxy, &origin.to_string(), limit)?;
    if status != Some(200) {
        bail!("CONNECT {origin} through {proxy}: status {status:?}, not 200");
    }
    Ok(stream)
}

/// How a fetch over TLS ends its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Sends the request and reads until the server closes.
    Plain,
    /// Sends the request, then `close_notify` and a TCP half-close
    /// (`shutdown(SHUT_WR)`) before reading: the answer must still arrive.
    HalfClose,
}

/// `GET path HTTP/1.0` over TLS on `tcp` (a tunnel or a direct
/// connection) to `origin`, trusting `cert`; the raw answer, head and
/// body.
pub fn get_over(
    tcp: TcpStream,
    cert: &TlsCertificate,
    origin: SocketAddr,
    path: &str,
    ending: Ending,
    limit: Duration,
) -> Result<Vec<u8>> {
    let name = ServerName::from(origin.ip());
    let tls = rustls::ClientConnection::new(client_config(cert)?, name)?;
    tcp.set_read_timeout(Some(limit))?;
    tcp.set_write_timeout(Some(limit))?;
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {origin}\r\n\r\n").as_bytes())?;
    stream.flush()?;
    if ending == Ending::HalfClose {
        stream.conn.send_close_notify();
        while stream.conn.wants_write() {
            stream.conn.write_tls(&mut stream.sock)?;
        }
        stream.sock.shutdown(Shutdown::Write)?;
    }
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => Ok(answer),
        // A server that closes without close_notify after a complete
        // answer: the bytes are all there.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(answer),
        Err(e) => Err(e).with_context(|| format!("reading {path} over TLS")),
    }
}

/// [`get_over`] through a tunnel of `lab.proxy` to `lab.origin`.
pub fn get_via_tunnel(
    lab: Lab,
    cert: &TlsCertificate,
    path: &str,
    ending: Ending,
    limit: Duration,
) -> Result<Vec<u8>> {
    get_over(tunnel(lab, limit)?, cert, lab.origin, path, ending, limit)
}

/// [`get_over`] straight to the origin: the reference.
pub fn get_direct_tls(
    origin: SocketAddr,
    cert: &TlsCertificate,
    path: &str,
    limit: Duration,
) -> Result<Vec<u8>> {
    let tcp = TcpStream::connect_timeout(&origin, limit)?;
    get_over(tcp, cert, origin, path, Ending::Plain, limit)
}

/// An HTTP/1.1 session over TLS that stays open: each
/// [`EchoSession::round`] sends a request for `/echo` and reads its
/// answer, so bytes go both ways, again and again, on one connection.
pub struct EchoSession {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    origin: SocketAddr,
}

impl EchoSession {
    /// Opens the session on `tcp` (a tunnel or a direct connection).
    pub fn open(
        tcp: TcpStream,
        cert: &TlsCertificate,
        origin: SocketAddr,
        limit: Duration,
    ) -> Result<EchoSession> {
        let tls =
            rustls::ClientConnection::new(client_config(cert)?, ServerName::from(origin.ip()))?;
        tcp.set_read_timeout(Some(limit))?;
        tcp.set_write_timeout(Some(limit))?;
        Ok(EchoSession {
            stream: rustls::StreamOwned::new(tls, tcp),
            origin,
        })
    }

    /// One request and its whole answer (`Content-Length` bytes of body).
    pub fn round(&mut self, note: &str) -> Result<Vec<u8>> {
        let request = format!(
            "GET /echo?{note} HTTP/1.1\r\nHost: {}\r\nX-Round: {note}\r\n\r\n",
            self.origin
        );
        self.stream.write_all(request.as_bytes())?;
        self.stream.flush()?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .context("an echo answer without Content-Length")?;
                if answer.len() >= end + 4 + length {
                    return Ok(answer);
                }
            }
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                bail!("the session closed after {} bytes", answer.len());
            }
            answer.extend_from_slice(&buf[..n]);
        }
    }
}
