//! Inputs found by fuzzing (`fuzz/`, target `parse_head`) and by the
//! property tests, kept as regression cases. Each runs through the same
//! entry point as the fuzz target: the first byte picks the chunk sizes,
//! the rest is read with [`read_in_chunks`] the way the connection code reads,
//! then [`Proxy::prepare`] and the SPEC §4.4 rewrite.

use clap::Parser;
use proxy_core::head::{MAX_HEAD, MAX_REQUEST_LINE, read_in_chunks};
use proxy_core::{Config, Proxy};

/// How an input ends.
#[derive(PartialEq, Eq)]
enum Answer {
    /// The head never ended: the proxy waits (until the header timeout).
    Waits,
    /// Refused with this status.
    Status(u16),
    /// Accepted: this is what goes to the origin.
    Forwarded(Vec<u8>),
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Waits => f.write_str("Waits"),
            Answer::Status(status) => write!(f, "Status({status})"),
            Answer::Forwarded(bytes) => write!(f, "Forwarded(\"{}\")", bytes.escape_ascii()),
        }
    }
}

/// The fuzz target's entry point, returning what it decided.
fn run(data: &[u8]) -> Answer {
    let Some((&first, input)) = data.split_first() else {
        return Answer::Waits;
    };
    let sizes = [
        usize::from(first & 0x0f),
        usize::from(first >> 4),
        usize::from(first & 0x03) + 1,
    ];
    chunked(input, &sizes)
}

/// Reads `input` in chunks of `sizes` (cycled; 0 = as much as allowed),
/// never more than `read_limit`, then prepares and rewrites it.
fn chunked(input: &[u8], sizes: &[usize]) -> Answer {
    let config = Config::parse_from(["proxy", "--deny", "denied.test"]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 3128));
    let proxy = Proxy::new(config, addr).unwrap_or_else(|e| panic!("proxy: {e}"));
    let (head, read) = read_in_chunks(input, |step, _| sizes[step % sizes.len()]);
    assert!(head.bytes().len() <= MAX_HEAD + 1);
    let end = match read {
        Ok(None) => return Answer::Waits,
        Ok(Some(end)) => end,
        Err(e) => return Answer::Status(e.status().unwrap_or(0)),
    };
    match proxy.prepare(&head.bytes()[..end]) {
        Ok(prepared) => Answer::Forwarded(prepared.origin_request),
        Err(e) => Answer::Status(e.status().unwrap_or(0)),
    }
}

fn forwarded(path: &str, host: &str, rest: &[u8]) -> Answer {
    let mut out = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: {}\r\n\
         Connection: close\r\nProxy-Connection: close\r\n",
        proxy_core::rewrite::USER_AGENT
    )
    .into_bytes();
    out.extend_from_slice(rest);
    out.extend_from_slice(b"\r\n");
    Answer::Forwarded(out)
}

/// Found by the property test on heads near the limits (now
/// `head_reader_keeps_its_limits_and_reads_chunks_as_whole`): a request line
/// of exactly `MAX_REQUEST_LINE` bytes whose CR arrived in one read and
/// its LF in the next was refused with 414, while the same bytes in one
/// read were accepted. `HeadBuf::push` counted the trailing CR of an
/// unfinished line as part of the line.
#[test]
fn request_line_at_the_limit_with_crlf_split_across_reads() {
    let prefix = "GET http://a.test/?";
    let suffix = " HTTP/1.0";
    let pad = "q".repeat(MAX_REQUEST_LINE - prefix.len() - suffix.len());
    let line = format!("{prefix}{pad}{suffix}");
    assert_eq!(line.len(), MAX_REQUEST_LINE);
    let input = format!("{line}\r\n\r\n").into_bytes();
    let path = format!("/?{pad}");
    // Whole, and split right after the CR (4096 + 4096 + 1, then the rest).
    assert_eq!(chunked(&input, &[0]), forwarded(&path, "a.test", b""));
    assert_eq!(
        chunked(&input, &[4096, 4096, 1, 0]),
        forwarded(&path, "a.test", b"")
    );
    // A bare CR at the limit that is not followed by LF is still too long.
    let mut bare = format!("{line}\rX").into_bytes();
    bare.extend_from_slice(b"\r\n\r\n");
    assert_eq!(chunked(&bare, &[4096, 4096, 1, 0]), Answer::Status(414));
    // One byte more is 414 however it is split.
    let long = format!("{line}x\r\n\r\n").into_bytes();
    for sizes in [&[0][..], &[4096, 4096, 1, 0], &[4096, 4096, 2, 0], &[7]] {
        assert_eq!(chunked(&long, sizes), Answer::Status(414), "{sizes:?}");
    }
}

/// Small inputs from the fuzzer's corpus that reached new code, with what
/// they must get. None of them ever panicked.
#[test]
fn fuzzer_corpus_inputs() {
    let refused: [(&[u8], u16); 12] = [
        // Not an absolute URI, odd Host value, header name with a ';'.
        (
            b"\x00GET h HTTP/1.1\r\nHost:p 12\x86\x86://\xfbKeep-A;i: \r\n\r\n",
            400,
        ),
        // Empty host.
        (b"!GET http:///a?b#c HTTP/1.0\nXA: 1\n\n", 400),
        // User info with an empty host.
        (b"!GET http:1@/a?b#c HTTP/1.0\nX-A: 1\n\n", 400),
        // Not http://, unclosed bracket.
        (b"!GET htt://[: HTTP/1.0\nX-A: 1\n\n", 400),
        // A folded line made of tabs.
        (
            b"!GET http://a/ HTTP/1.0\nXA: 1\t\t\t\t\t\t\t\n\t 5\n\n",
            400,
        ),
        // A head that is only a stray line.
        (b"\x005\n\n", 400),
        // A version cut short.
        (b"\x00GET t1 HTTP/\n\n", 400),
        // Bare CR inside the request line.
        (b"\x13GET st/ HTTP/1.0\r&\n\r\n", 400),
        // Not GET.
        (b"\x00OST h)/ HT\n\n", 400),
        // Two ports.
        (b"\x00GET http://.10:01:8/ HTTP/1.1\r\n\r\n", 400),
        // Port past 65535 after a valid-looking host.
        (b"\x00GET http://a.b:65536/ HTTP/1.1\r\n\r\n", 400),
        // Denied host, split into one-byte reads.
        (b"\x11GET http://WWW.Denied.Test./ HTTP/1.0\r\n\r\n", 403),
    ];
    for (input, status) in refused {
        assert_eq!(run(input), Answer::Status(status), "{input:?}");
    }

    // A head that has not ended waits for more (or the header timeout)...
    for input in [&b"\x00\nd"[..], b"\x05AG!"] {
        assert_eq!(run(input), Answer::Waits, "{input:?}");
    }
    // ...unless its request line already cannot become valid: a control
    // byte in the method is refused at once.
    assert_eq!(run(b"!\x08z\r"), Answer::Status(400));

    // Accepted: IPv6 literal, fragment dropped, empty and obs-text values
    // and trailing tabs (trimmed by httparse) kept in order.
    assert_eq!(
        run(b"!GET http://[::1]:81/a?b#c HTTP/1.0\nX-A:\xd40\nx:\nx:\n\n"),
        forwarded("/a?b", "[::1]:81", b"X-A: \xd40\r\nx: \r\nx: \r\n")
    );
    assert_eq!(
        run(b"!GET http://[::80:1]:81/a?Z#c HTTP/1.0\nX-A: 1\t\t\t\t\nKeep-Alive: 5\n\n"),
        forwarded("/a?Z", "[::80:1]:81", b"X-A: 1\r\n")
    );
    assert_eq!(
        run(b"\x00GET http://a:80 HTTP/1.1\r\nhOsT: h\r\nCEn: chunk \xff5\r\n\r\nGET "),
        forwarded("/", "h", b"CEn: chunk \xff5\r\n")
    );
}
