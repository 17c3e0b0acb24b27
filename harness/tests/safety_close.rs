//! No bytes lost at close (issue #14 item 4, SPEC §4.6), on every variant:
//! a client that sends something after its head — a stray CRLF, a
//! pipelined second request — still receives its whole response. Without
//! a lingering close the proxy closes with unread input, the kernel sends
//! a reset, and the reset destroys the part of a 4 MB response still in
//! flight.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use harness::checks::{CHECK_TIMEOUT, Check, Section, assert_all_passed};
use harness::clients::http::{proxy_request, url};
use harness::lab::on_each_variant;
use harness::{Lab, VARIANTS, start_origin, start_variant};

const SIZE: usize = 4_000_000;

/// Sends the request, then `extra` a moment later (after the proxy has read
/// the head), then reads the whole answer; returns the body length.
fn body_after_extra(lab: Lab, extra: &[u8]) -> anyhow::Result<usize> {
    let mut stream = TcpStream::connect_timeout(&lab.proxy, CHECK_TIMEOUT)?;
    stream.write_all(&proxy_request(&lab.url(&format!("/bytes/{SIZE}")), &[]))?;
    std::thread::sleep(Duration::from_millis(50));
    stream.write_all(extra)?;
    // Let the response fill the buffers before reading, as a busy client
    // would: the proxy finishes and closes while bytes are still queued.
    std::thread::sleep(Duration::from_millis(300));
    // A client a little slower than the proxy: when the proxy is done,
    // part of the response is still queued.
    body_length(&mut stream, 64 * 1024, |_, received| {
        if received > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    })
}

#[test]
fn bytes_sent_after_the_head_do_not_destroy_the_response() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache"])?;
        let pipelined = proxy_request(&url(origin.addr, "/home.html"), &[]);
        let mut checks = Vec::new();
        for (name, extra) in [
            ("a stray CRLF", &b"\r\n"[..]),
            ("a pipelined request", &pipelined[..]),
        ] {
            for round in 0..3 {
                let name = format!("{name} after the head, round {round}: all {SIZE} bytes arrive");
                checks.push(match body_after_extra(Lab { origin: origin.addr, proxy: proxy.addr }, extra) {
                    Ok(n) if n == SIZE => Check::pass(Section::Close, name),
                    Ok(n) => Check::fail(Section::Close, name, format!("the body had {n} bytes"), Some("shut down the write side and drain the client before closing (lingering close)")),
                    Err(e) => Check::fail(Section::Close, name, format!("{e:#}"), None),
                });
            }
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}

/// Reads the response until all but `TAIL` bytes of the body are in, waits
/// for the proxy to have finished its relay (the tail still queued in its
/// socket), sends `extra`, then reads the rest; returns the body length.
/// The receive buffer is small, so what is still in flight when `extra`
/// goes out is bounded and the proxy's relay has surely ended by then.
fn body_with_late_extra(lab: Lab, extra: &[u8]) -> anyhow::Result<usize> {
    const TAIL: usize = 150_000;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_recv_buffer_size(32 * 1024)?;
    socket.connect_timeout(&lab.proxy.into(), CHECK_TIMEOUT)?;
    let mut stream: TcpStream = socket.into();
    stream.write_all(&proxy_request(&lab.url(&format!("/bytes/{SIZE}")), &[]))?;
    let mut sent_extra = false;
    body_length(&mut stream, 16 * 1024, |stream, received| {
        if !sent_extra && received >= SIZE - TAIL {
            // The proxy has written the rest into its send queue and,
            // without a lingering close, closed the socket.
            std::thread::sleep(Duration::from_millis(300));
            stream.write_all(extra)?;
            sent_extra = true;
        }
        Ok(())
    })
}

/// Reads the answer to its close, or to a reset (which ends the body:
/// what arrived counts), calling `before_read` with the bytes received so
/// far before each read; returns the body length. Bounded at 20 s.
fn body_length(
    stream: &mut TcpStream,
    buf_size: usize,
    mut before_read: impl FnMut(&mut TcpStream, usize) -> std::io::Result<()>,
) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut raw = Vec::with_capacity(SIZE + 1024);
    let mut buf = vec![0u8; buf_size];
    loop {
        before_read(stream, raw.len())?;
        stream.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e.into()),
        }
    }
    let head = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    Ok(raw.len() - head)
}

#[test]
fn bytes_sent_after_the_relay_ended_do_not_destroy_its_tail() {
    // A client that sends its stray CRLF late — after the proxy has handed
    // the whole answer to the kernel, while the tail is still in flight —
    // must still get every byte: only a close that keeps reading (SPEC
    // §4.6) swallows it; a close that merely looked for unread bytes first
    // has already closed, and the CRLF makes the kernel reset the tail.
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let proxy = start_variant(variant, &["--no-cache"])?;
        let name = format!("a stray CRLF after the relay ended: all {SIZE} bytes arrive");
        Ok(vec![match body_with_late_extra(
            Lab {
                origin: origin.addr,
                proxy: proxy.addr,
            },
            b"\r\n",
        ) {
            Ok(n) if n == SIZE => Check::pass(Section::Close, name),
            Ok(n) => Check::fail(
                Section::Close,
                name,
                format!("the body had {n} bytes"),
                Some(
                    "after the answer, shut down the write side and keep reading (bounded) before closing",
                ),
            ),
            Err(e) => Check::fail(Section::Close, name, format!("{e:#}"), None),
        }])
    });
    assert_all_passed(&checks);
}
