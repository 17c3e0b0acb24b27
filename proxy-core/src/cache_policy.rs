//! What the shared cache may store and serve (SPEC §5, issue #14 items 1
//! and 2): the rules of RFC 9111 §3 that Varnish's built-in VCL and nginx's
//! `proxy_cache` defaults apply, as pure functions over bytes. Part III of
//! the lab says only "cache web objects"; this is what a cache shared by
//! several users must add so that one user's private page never reaches
//! another.
//!
//! - A request that carries credentials or asks for something other than
//!   the plain resource — `Authorization`, `Cookie`, `Range`, or a
//!   conditional header (`If-None-Match`, `If-Modified-Since`, …) —
//!   bypasses the cache both ways, as Varnish's `vcl_recv` passes it: it is
//!   neither answered from the cache nor stored
//!   ([`request_may_use_cache`]).
//! - A response is stored only when it is a `200`, its length matches its
//!   `Content-Length` (when it gives one) and it says nothing that makes it
//!   private or uncacheable: no `Set-Cookie`, no `Vary`, no
//!   `Cache-Control: no-store`, `private` or `no-cache`, and no
//!   `max-age=0`/`s-maxage=0`. A positive `s-maxage` (or else `max-age`)
//!   becomes the entry's expiry ([`response_storable`]).
//!
//! Tiny's static files and the lab driver's objects (a `200` with a
//! correct `Content-length` and none of those headers) are stored exactly
//! as before, so the cache points of the grade do not change.

use std::time::Duration;

use crate::request::Request;

/// Request headers that make a request bypass the cache: credentials, and
/// asking for part of the resource or only for a change.
pub const BYPASS_REQUEST_HEADERS: [&str; 8] = [
    "Authorization",
    "Cookie",
    "Range",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "If-Range",
];

/// `Ok(())` when the request may be answered from the cache and its
/// response stored; otherwise the header that forbids it.
pub fn request_may_use_cache(request: &Request) -> Result<(), &'static str> {
    for name in BYPASS_REQUEST_HEADERS {
        if request
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
        {
            return Err(name);
        }
    }
    Ok(())
}

/// Whether a complete response may be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storable {
    /// Store it, fresh for this long (`None`: until evicted).
    Yes(Option<Duration>),
    /// Do not store it, for this reason (for the debug log and tests).
    No(String),
}

/// Decides whether `response` (status line, headers and body, exactly as
/// the origin sent them, complete because the origin closed) may be
/// stored in the shared cache.
pub fn response_storable(response: &[u8]) -> Storable {
    let no = |why: &str| Storable::No(why.to_string());
    #[allow(
        clippy::naive_bytecount,
        reason = "one pass over a response no bigger than the cache's object limit; not worth the bytecount crate"
    )]
    let lines = response.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut slots = vec![httparse::EMPTY_HEADER; lines.min(1024)];
    let mut parsed = httparse::Response::new(&mut slots);
    let head_len = match parsed.parse(response) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return no("incomplete response head"),
        Err(e) => return Storable::No(format!("malformed response head ({e})")),
    };
    if parsed.code != Some(200) {
        return Storable::No(format!("status {:?} is not 200", parsed.code));
    }
    let values = |name: &str| -> Vec<String> {
        parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .collect()
    };
    if !values("Set-Cookie").is_empty() {
        return no("Set-Cookie");
    }
    if !values("Vary").is_empty() {
        return no("Vary");
    }
    if !values("Transfer-Encoding").is_empty() {
        return no("Transfer-Encoding: its length cannot be checked");
    }
    let lengths = values("Content-Length");
    if let Some(first) = lengths.first() {
        let Ok(length) = first.trim().parse::<usize>() else {
            return no("unreadable Content-Length");
        };
        if lengths.iter().any(|l| l.trim() != first.trim()) {
            return no("conflicting Content-Length headers");
        }
        let body = response.len() - head_len;
        if body != length {
            return Storable::No(format!(
                "body of {body} bytes, Content-Length {length} (truncated or padded)"
            ));
        }
    }
    let mut max_age = None;
    let mut s_maxage = None;
    for value in values("Cache-Control") {
        for directive in value.split(',') {
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                "no-store" | "private" | "no-cache" => {
                    return Storable::No(format!("Cache-Control: {name}"));
                }
                "max-age" | "s-maxage" => {
                    // An unreadable age makes the response stale (RFC 9111
                    // §4.2.1): not stored.
                    let Some(secs) = argument.and_then(|a| a.parse::<u64>().ok()) else {
                        return Storable::No(format!("Cache-Control: unreadable {name}"));
                    };
                    if name == "max-age" {
                        max_age = Some(secs);
                    } else {
                        s_maxage = Some(secs);
                    }
                }
                _ => {}
            }
        }
    }
    // A shared cache takes s-maxage over max-age (RFC 9111 §5.2.2.10).
    match s_maxage.or(max_age) {
        Some(0) => no("Cache-Control: max-age=0"),
        Some(secs) => Storable::Yes(Some(Duration::from_secs(secs))),
        None => Storable::Yes(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse_request;

    fn response(head: &str, body: &str) -> Vec<u8> {
        format!("{head}\r\n\r\n{body}").into_bytes()
    }

    #[test]
    fn tiny_like_static_objects_are_stored() {
        let tiny = response(
            "HTTP/1.0 200 OK\r\nServer: Tiny Web Server\r\nConnection: close\r\n\
             Content-length: 5\r\nContent-type: text/html",
            "hello",
        );
        assert_eq!(response_storable(&tiny), Storable::Yes(None));
        let no_length = response("HTTP/1.0 200 OK\r\nContent-Type: text/plain", "any");
        assert_eq!(response_storable(&no_length), Storable::Yes(None));
    }

    #[test]
    fn private_and_uncacheable_responses_are_not_stored() {
        for header in [
            "Set-Cookie: sid=1",
            "set-cookie: a=b; HttpOnly",
            "Vary: Accept-Encoding",
            "Cache-Control: private",
            "Cache-Control: no-store",
            "Cache-Control: public, no-cache",
            "Cache-Control: private=\"Set-Cookie\"",
            "Cache-Control: max-age=0",
            "Cache-Control: max-age=60, s-maxage=0",
            "Cache-Control: max-age=soon",
            "Transfer-Encoding: chunked",
        ] {
            let r = response(
                &format!("HTTP/1.0 200 OK\r\n{header}\r\nContent-Length: 2"),
                "ok",
            );
            assert!(
                matches!(response_storable(&r), Storable::No(_)),
                "{header} was storable"
            );
        }
    }

    #[test]
    fn only_complete_200s() {
        for status in [
            "206 Partial Content",
            "304 Not Modified",
            "302 Found",
            "404 Not Found",
            "500 Internal Server Error",
            "503 Service Unavailable",
        ] {
            let r = response(&format!("HTTP/1.0 {status}\r\nContent-Length: 2"), "ok");
            assert!(matches!(response_storable(&r), Storable::No(_)), "{status}");
        }
        let short = response("HTTP/1.0 200 OK\r\nContent-Length: 10", "short");
        assert!(matches!(response_storable(&short), Storable::No(_)));
        let long = response("HTTP/1.0 200 OK\r\nContent-Length: 1", "longer");
        assert!(matches!(response_storable(&long), Storable::No(_)));
        let two = response(
            "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Length: 3",
            "ok",
        );
        assert!(matches!(response_storable(&two), Storable::No(_)));
        assert!(matches!(
            response_storable(b"HTTP/1.0 200 OK\r\nX: y"),
            Storable::No(_)
        ));
        assert!(matches!(response_storable(b"garbage"), Storable::No(_)));
    }

    #[test]
    fn ages_become_expiries() {
        let r = |cc: &str| response(&format!("HTTP/1.0 200 OK\r\nCache-Control: {cc}"), "");
        assert_eq!(
            response_storable(&r("max-age=60")),
            Storable::Yes(Some(Duration::from_mins(1)))
        );
        assert_eq!(
            response_storable(&r("public, max-age=60, s-maxage=\"5\"")),
            Storable::Yes(Some(Duration::from_secs(5)))
        );
        assert_eq!(response_storable(&r("public")), Storable::Yes(None));
    }

    #[test]
    fn requests_with_credentials_or_conditions_bypass() {
        let may = |extra: &str| {
            let head = format!("GET http://a/ HTTP/1.0\r\n{extra}\r\n");
            request_may_use_cache(&parse_request(head.as_bytes()).expect("request"))
        };
        assert_eq!(may(""), Ok(()));
        assert_eq!(may("Accept: */*\r\n"), Ok(()));
        assert_eq!(may("Authorization: Basic eDp5\r\n"), Err("Authorization"));
        assert_eq!(may("cookie: a=b\r\n"), Err("Cookie"));
        assert_eq!(may("Range: bytes=0-1\r\n"), Err("Range"));
        assert_eq!(may("If-None-Match: \"x\"\r\n"), Err("If-None-Match"));
        assert_eq!(
            may("If-Modified-Since: Sat, 29 Oct 1994 19:43:31 GMT\r\n"),
            Err("If-Modified-Since")
        );
    }
}
