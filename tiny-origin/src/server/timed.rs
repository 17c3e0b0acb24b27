//! The endpoints that take their time: `/stall` (never answers) and
//! `/slow/N` (the pattern, dripped), written by hand on the raw
//! connection because `tiny_http` buffers its output.

use super::{
    Body, Duration, HTTPVersion, MAX_PATTERN_LEN, Method, PatternReader, Read, Request, Response,
    SERVER_NAME, SLOW_DEFAULT_CHUNK, SLOW_DEFAULT_MS, SLOW_MAX_CHUNK, SLOW_MAX_MS, Shared, Write,
    bad_request, debug, io, thread,
};

/// `/stall`: take the request, write nothing, drop it after `--stall-secs`.
pub(super) fn stall(rq: Request, shared: &Shared) -> String {
    // Taking the raw writer stops tiny_http from answering 500 when the
    // request is dropped unanswered.
    let writer = rq.into_writer();
    debug!("stalling for {:?}", shared.stall);
    thread::sleep(shared.stall);
    drop(writer);
    "stalled, closed without answer".to_owned()
}

/// Parameters of one `/slow/N` request.
#[derive(Debug, Clone, Copy)]
pub(super) struct SlowParams {
    len: u64,
    chunk: usize,
    pause: Duration,
}

pub(super) fn slow_params(spec: &str, query: Option<&str>) -> Result<SlowParams, Response<Body>> {
    let Some(len) = spec.parse::<u64>().ok().filter(|n| *n <= MAX_PATTERN_LEN) else {
        return Err(bad_request("/slow/N needs 0 <= N <= 1073741824", spec));
    };
    let mut params = SlowParams {
        len,
        chunk: SLOW_DEFAULT_CHUNK,
        pause: Duration::from_millis(SLOW_DEFAULT_MS),
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "chunk" => match value.parse::<usize>() {
                Ok(c @ 1..=SLOW_MAX_CHUNK) => params.chunk = c,
                _ => return Err(bad_request("chunk=C needs 1 <= C <= 1048576", value)),
            },
            "ms" => match value.parse::<u64>() {
                Ok(m @ 0..=SLOW_MAX_MS) => params.pause = Duration::from_millis(m),
                _ => return Err(bad_request("ms=M needs 0 <= M <= 60000", value)),
            },
            _ => return Err(bad_request("unknown /slow parameter", name)),
        }
    }
    Ok(params)
}

/// `/slow/N`: the response head, then the pattern in chunks, each flushed,
/// with a pause between chunks. Written by hand on the raw connection
/// because `tiny_http`'s writer buffers (it would merge small chunks).
pub(super) fn slow(rq: Request, params: SlowParams) -> String {
    let version = if *rq.http_version() <= HTTPVersion(1, 0) {
        "1.0"
    } else {
        "1.1"
    };
    let head_only = *rq.method() == Method::Head;
    let mut writer = rq.into_writer();
    let result = (|| -> io::Result<()> {
        write!(
            writer,
            "HTTP/{version} 200 OK\r\nServer: {SERVER_NAME}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            params.len
        )?;
        writer.flush()?;
        if head_only {
            return Ok(());
        }
        let mut reader = PatternReader::new(params.len);
        let mut buf = vec![0u8; params.chunk];
        let mut first = true;
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            if !first {
                thread::sleep(params.pause);
            }
            first = false;
            writer.write_all(&buf[..n])?;
            writer.flush()?;
        }
    })();
    match result {
        Ok(()) => "200 (slow)".to_owned(),
        Err(e) => format!("200 (slow, aborted: {e})"),
    }
}
