//! The clients the harness talks to proxies with.
//!
//! - [`http`]: raw sockets, to control every byte sent and see every byte
//!   received, and reqwest as a real client library;
//! - [`curl`]: a fetch with curl's semantics — what `curl --max-time 5
//!   --output FILE` would leave in `FILE` — the way the course's driver
//!   fetches, so the 70 points see what the driver sees;
//! - [`real`]: the real programs (the curl binary, a headless Chromium);
//! - [`tls`]: HTTPS through a `CONNECT` tunnel, with rustls.

pub mod curl;
pub mod http;
pub mod real;
pub mod tls;

/// The first line of what arrived (at most 80 bytes when no newline came),
/// lossily decoded and without its line end: for messages.
pub(crate) fn first_line(raw: &[u8]) -> String {
    let end = raw
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(raw.len().min(80));
    String::from_utf8_lossy(&raw[..end]).trim_end().to_string()
}
