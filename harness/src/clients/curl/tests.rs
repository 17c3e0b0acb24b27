//! What curl would save, answer by answer.

use super::*;

fn saved(answer: &[u8], why: &str) -> Saved {
    let mut parser = Parser::default();
    match parser.complete(answer) {
        Some(done) => done.into_saved(answer.to_vec()),
        None => parser.cut_short(answer.to_vec(), why),
    }
}

const CLOSED: &str = "the connection closed";
const TIMEOUT: &str = "operation timed out (curl exit 28)";

#[test]
fn bytes_past_content_length_are_not_saved() {
    let s = saved(b"HTTP/1.0 200 OK\r\nContent-length: 3\r\n\r\nabc\0", CLOSED);
    assert_eq!(s.file.as_deref(), Some(&b"abc"[..]));
    assert_eq!(s.error, None);
    assert_eq!(s.status, Some(200));
}

#[test]
fn a_short_body_is_saved_as_it_is() {
    let s = saved(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nab", CLOSED);
    assert_eq!(s.file.as_deref(), Some(&b"ab"[..]));
    assert!(s.error.is_some());
    let s = saved(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", CLOSED);
    assert_eq!(s.file, None, "no body byte and an error: no file");
}

#[test]
fn without_a_length_the_body_ends_at_the_close() {
    let s = saved(b"HTTP/1.0 200 OK\nServer: x\n\nbody\r\n\r\nmore", CLOSED);
    assert_eq!(s.file.as_deref(), Some(&b"body\r\n\r\nmore"[..]));
    assert_eq!(s.error, None);
    // A timeout keeps what arrived, and says so.
    let s = saved(b"HTTP/1.1 200 OK\r\n\r\nall of it", TIMEOUT);
    assert_eq!(s.file.as_deref(), Some(&b"all of it"[..]));
    assert!(s.error.is_some());
    // An empty body that ends with the close is an empty file.
    let s = saved(b"HTTP/1.0 200 OK\r\n\r\n", CLOSED);
    assert_eq!(s.file.as_deref(), Some(&b""[..]));
}

#[test]
fn chunks_are_decoded_and_interim_answers_skipped() {
    let s = saved(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        CLOSED,
    );
    assert_eq!(s.file.as_deref(), Some(&b"abcde"[..]));
    assert_eq!(s.status, Some(200));
}

#[test]
fn what_is_not_http_leaves_no_file() {
    for answer in [
        &b"<html>no status line</html>"[..],
        b"",
        b"HTTP/1.0 200 OK\r\nX: y",
    ] {
        let s = saved(answer, CLOSED);
        assert_eq!(s.file, None, "{:?}", String::from_utf8_lossy(answer));
        assert!(s.error.is_some());
    }
}

#[test]
fn error_pages_are_saved_like_any_body() {
    let s = saved(
        b"HTTP/1.0 404 Not found\r\nContent-length: 4\r\n\r\nnope",
        CLOSED,
    );
    assert_eq!(s.file.as_deref(), Some(&b"nope"[..]));
    assert_eq!(s.status, Some(404));
}
