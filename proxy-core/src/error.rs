//! Errors and the error pages sent for them: the lab's `clienterror`.
//!
//! Every way a request can fail is one variant of [`ProxyError`], and each
//! variant maps to exactly one HTTP status in [`ProxyError::status`]. The
//! handlers never pick a status themselves; they return an error and the
//! connection code turns it into a page with [`error_page`].

use std::fmt::{self, Write as _};
use std::io;

use crate::request::Target;

/// Why a request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The request head is not a request we understand (`400`).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request line is longer than the limit (`414`).
    #[error("request line longer than {0} bytes")]
    UriTooLong(usize),
    /// The request head is larger than the limit (`431`).
    #[error("request head larger than {0} bytes")]
    HeadersTooLarge(usize),
    /// A method or scheme the lab's proxy does not implement (`501`).
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// The target host is on the deny list (`403`).
    #[error("access to {0} is denied by this proxy")]
    Forbidden(String),
    /// The origin cannot be resolved or refused the connection (`502`).
    #[error("cannot reach {host}:{port}: {reason}")]
    BadGateway {
        /// Host from the request URI.
        host: String,
        /// Port from the request URI.
        port: u16,
        /// What went wrong, for the page and the log.
        reason: String,
    },
    /// The origin did not accept or answer in time (`504`).
    #[error("{host}:{port} did not answer within {secs} s")]
    GatewayTimeout {
        /// Host from the request URI.
        host: String,
        /// Port from the request URI.
        port: u16,
        /// The timeout that expired.
        secs: u64,
    },
    /// The request targets this proxy itself: forwarding it would loop (`508`).
    #[error("request for {0} would loop back into this proxy")]
    LoopDetected(String),
    /// The proxy is at its connection limit (`503`).
    #[error("too many connections (limit {0})")]
    Overloaded(usize),
    /// The client sent nothing usable in time, or hung up. No page is sent.
    #[error("client gone: {0}")]
    ClientGone(String),
}

impl ProxyError {
    /// The HTTP status this error is answered with, or `None` when the
    /// client is gone or silent and nothing should be written back.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            ProxyError::BadRequest(_) => 400,
            ProxyError::Forbidden(_) => 403,
            ProxyError::UriTooLong(_) => 414,
            ProxyError::HeadersTooLarge(_) => 431,
            ProxyError::NotImplemented(_) => 501,
            ProxyError::BadGateway { .. } => 502,
            ProxyError::Overloaded(_) => 503,
            ProxyError::GatewayTimeout { .. } => 504,
            ProxyError::LoopDetected(_) => 508,
            ProxyError::ClientGone(_) => return None,
        })
    }

    /// `502` for `target`: it cannot be resolved, refused the connection, or
    /// failed; `why` says how (for the page and the log).
    pub fn bad_gateway(target: &Target, why: impl fmt::Display) -> ProxyError {
        ProxyError::BadGateway {
            host: target.host.clone(),
            port: target.port,
            reason: why.to_string(),
        }
    }

    /// `504`: `target` did not accept or answer within `secs` seconds.
    pub fn gateway_timeout(target: &Target, secs: u64) -> ProxyError {
        ProxyError::GatewayTimeout {
            host: target.host.clone(),
            port: target.port,
            secs,
        }
    }

    /// The one place where an I/O error reaching or talking to the origin
    /// becomes a status: silence (a timeout after `secs` seconds) is `504`,
    /// anything else `502`.
    pub fn from_origin_io(target: &Target, error: &io::Error, secs: u64) -> ProxyError {
        if is_timeout(error) {
            ProxyError::gateway_timeout(target, secs)
        } else {
            ProxyError::bad_gateway(target, error)
        }
    }

    /// The complete response (head and HTML body) for this error, or `None`
    /// when nothing should be sent.
    pub fn page(&self) -> Option<Vec<u8>> {
        self.status()
            .map(|status| error_page(status, &self.to_string()))
    }
}

/// `true` for the error kinds a timeout produces: a socket timeout
/// (`WouldBlock`/`EAGAIN`) or a deadline (`TimedOut`).
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The standard reason phrase of the statuses this proxy sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        508 => "Loop Detected",
        _ => "Error",
    }
}

/// Builds an error response like Tiny's `clienterror`: a status line, three
/// headers and a short HTML page naming the status and the cause.
pub fn error_page(status: u16, cause: &str) -> Vec<u8> {
    let reason = reason_phrase(status);
    let mut body = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        body,
        "<html><head><title>{status} {reason}</title></head>\r\n\
         <body bgcolor=\"ffffff\">\r\n\
         <h1>{status} {reason}</h1>\r\n\
         <p>{}</p>\r\n\
         <hr><em>Proxy Lab in Rust</em>\r\n\
         </body></html>\r\n",
        html_escape(cause)
    );
    let mut page = format!(
        "HTTP/1.0 {status} {reason}\r\n\
         Content-Type: text/html\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    page.extend_from_slice(body.as_bytes());
    page
}

/// Escapes the characters that would let a request inject markup into an
/// error page (the cause often quotes the request).
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> (String, u16) {
        ("example.test".into(), 80)
    }

    #[test]
    fn every_error_maps_to_its_status() {
        let (host, port) = gateway();
        let cases: Vec<(ProxyError, Option<u16>)> = vec![
            (ProxyError::BadRequest("x".into()), Some(400)),
            (ProxyError::Forbidden("h".into()), Some(403)),
            (ProxyError::UriTooLong(8192), Some(414)),
            (ProxyError::HeadersTooLarge(65536), Some(431)),
            (ProxyError::NotImplemented("POST".into()), Some(501)),
            (
                ProxyError::BadGateway {
                    host: host.clone(),
                    port,
                    reason: "refused".into(),
                },
                Some(502),
            ),
            (ProxyError::Overloaded(10), Some(503)),
            (
                ProxyError::GatewayTimeout {
                    host,
                    port,
                    secs: 5,
                },
                Some(504),
            ),
            (ProxyError::LoopDetected("127.0.0.1:1".into()), Some(508)),
            (ProxyError::ClientGone("eof".into()), None),
        ];
        for (error, status) in cases {
            assert_eq!(error.status(), status, "{error}");
            assert_eq!(error.page().is_some(), status.is_some());
        }
    }

    #[test]
    fn origin_io_errors_map_to_502_or_504() {
        let target = crate::request::parse_target("http://example.test:81/").expect("target");
        let status =
            |kind: io::ErrorKind| ProxyError::from_origin_io(&target, &kind.into(), 5).status();
        assert_eq!(status(io::ErrorKind::TimedOut), Some(504));
        assert_eq!(status(io::ErrorKind::WouldBlock), Some(504));
        assert_eq!(status(io::ErrorKind::ConnectionRefused), Some(502));
        assert_eq!(status(io::ErrorKind::ConnectionReset), Some(502));
        let page = ProxyError::bad_gateway(&target, "why").to_string();
        assert!(
            page.contains("example.test:81") && page.contains("why"),
            "{page}"
        );
    }

    #[test]
    fn page_is_a_complete_response_with_correct_length() {
        let page = error_page(502, "cannot reach <x>");
        let text = String::from_utf8(page).expect("ascii page");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.0 502 Bad Gateway\r\n"));
        assert!(head.contains("Content-Type: text/html\r\n"));
        assert!(head.contains("Connection: close"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(body.contains("502 Bad Gateway"));
        assert!(body.contains("cannot reach &lt;x&gt;"));
    }
}
