//! `/respond`: answers shaped on request (status, headers, a body shorter
//! than its `Content-Length`, ranges, `304`s), each numbered, so cache
//! tests can tell an origin answer from a cached one.

use super::{Body, HTTPVersion, Request, Response, SERVER_NAME, Shared, Write, bad_request};
use std::fmt::Write as _;

/// Parameters of one `/respond` request.
#[derive(Debug, Default)]
pub(super) struct RespondParams {
    status: Option<u16>,
    headers: Vec<String>,
    short: usize,
}

/// `/respond?status=CODE&header=Name:%20Value&short=N&…`; other
/// parameters (e.g. `id=` to make a URI unique) are ignored.
pub(super) fn respond_params(query: Option<&str>) -> Result<RespondParams, Response<Body>> {
    let mut params = RespondParams::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)
            .ok_or_else(|| bad_request("bad percent-encoding or a control byte", pair))?;
        match name {
            "status" => match value.parse::<u16>() {
                Ok(c @ 200..=599) => params.status = Some(c),
                _ => return Err(bad_request("status=CODE needs 200 <= CODE <= 599", &value)),
            },
            "header" if value.contains(':') => params.headers.push(value),
            "header" => return Err(bad_request("header=Name:Value needs a colon", &value)),
            "short" => match value.parse::<usize>() {
                Ok(n) => params.short = n,
                Err(_) => return Err(bad_request("short=N needs a number", &value)),
            },
            _ => {}
        }
    }
    Ok(params)
}

/// `%XX`-decodes `text`; `None` for a bad escape or a control byte (a
/// header must not smuggle a line break).
pub(super) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(out).ok()?;
    (!text.chars().any(char::is_control)).then_some(text)
}

/// `/respond`: an answer shaped by its parameters, for testing what a
/// cache keeps. The body is `respond #K` with K counting `/respond`
/// answers, so two fetches with the same K came from one origin answer.
/// Like a real origin with validators and ranges, a request with
/// `If-None-Match` or `If-Modified-Since` gets `304` (no body) and one with
/// `Range: bytes=A-B` gets `206` with that slice; otherwise `status`
/// (default 200). `header=Name:Value` adds a header (repeatable);
/// `short=N` announces N more bytes than are sent, then closes. Written by
/// hand on the raw connection, like `/slow`, so the head is exactly this.
pub(super) fn respond(rq: Request, params: &RespondParams, shared: &Shared) -> String {
    let number = shared
        .responds
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        + 1;
    let request_header = |name: &str| {
        rq.headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_owned())
    };
    let mut body = format!("respond #{number}\n").into_bytes();
    let mut status = params.status.unwrap_or(200);
    let mut extra = String::new();
    if request_header("If-None-Match").is_some() || request_header("If-Modified-Since").is_some() {
        status = 304;
        body.clear();
    } else if let Some((from, to)) =
        request_header("Range").and_then(|r| byte_range(&r, body.len()))
    {
        status = 206;
        extra = format!("Content-Range: bytes {from}-{to}/{}\r\n", body.len());
        body = body[from..=to].to_vec();
    }
    let version = if *rq.http_version() <= HTTPVersion(1, 0) {
        "1.0"
    } else {
        "1.1"
    };
    let mut head = format!(
        "HTTP/{version} {status} {}\r\nServer: {SERVER_NAME}\r\nContent-Type: text/plain\r\n{extra}",
        reason(status)
    );
    if status != 304 && status != 204 {
        let _ = write!(head, "Content-Length: {}\r\n", body.len() + params.short);
    }
    for header in &params.headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut writer = rq.into_writer();
    let sent = writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.write_all(&body))
        .and_then(|()| writer.flush());
    match sent {
        Ok(()) => format!("{status} (respond #{number})"),
        Err(e) => format!("{status} (respond #{number}, send failed: {e})"),
    }
}

/// `bytes=A-B` (or `bytes=A-`) within a body of `len` bytes.
pub(super) fn byte_range(value: &str, len: usize) -> Option<(usize, usize)> {
    let (from, to) = value.trim().strip_prefix("bytes=")?.split_once('-')?;
    let from: usize = from.trim().parse().ok()?;
    let to: usize = match to.trim() {
        "" => len.checked_sub(1)?,
        to => to.parse::<usize>().ok()?.min(len.checked_sub(1)?),
    };
    (from <= to).then_some((from, to))
}

/// A reason phrase for the statuses `/respond` is asked for.
pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
