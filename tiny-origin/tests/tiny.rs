//! `--tiny`: the answers are tiny.c's, byte for byte, and stopping the
//! server makes its port refuse connections (the driver's `kill tiny`).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tiny_origin::tiny::{static_head, tiny_error};
use tiny_origin::{Config, ServerHandle, TinyVersion, lab_files};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn tiny() -> ServerHandle {
    tiny_version(TinyVersion::Book3e)
}

fn tiny_version(version: TinyVersion) -> ServerHandle {
    tiny_origin::start(&Config {
        port: Some(0),
        tiny: Some(version),
        ..Config::default()
    })
    .expect("tiny starts")
}

/// Sends `request` and reads until Tiny closes.
fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("Tiny closes after answering");
    answer
}

#[test]
fn static_files_come_with_tiny_s_exact_head_and_a_close() {
    for version in [TinyVersion::Book3e, TinyVersion::Handout2019] {
        let server = tiny_version(version);
        for file in lab_files() {
            let request = format!("GET {} HTTP/1.0\r\nHost: x\r\n\r\n", file.path);
            let answer = exchange(server.addr(), request.as_bytes());
            let mut expected =
                static_head(version, file.body.len(), file.content_type).into_bytes();
            expected.extend_from_slice(&file.body);
            assert_eq!(answer, expected, "{version:?} {}", file.path);
        }
    }
    let server = tiny_version(TinyVersion::Handout2019);
    let answer = exchange(server.addr(), b"GET /home.html HTTP/1.0\r\n\r\n");
    assert!(
        answer.starts_with(b"HTTP/1.0 200 OK\r\nServer: Tiny Web Server\r\nContent-length: "),
        "the 2019 handout's Tiny sends no Connection line"
    );
    let server = tiny();
    let answer = exchange(server.addr(), b"GET /home.html HTTP/1.1\r\n\r\n");
    let head = String::from_utf8_lossy(&answer[..160]).into_owned();
    assert!(
        head.starts_with(
            "HTTP/1.0 200 OK\r\nServer: Tiny Web Server\r\nConnection: close\r\nContent-length: "
        ),
        "HTTP/1.1 is answered with HTTP/1.0 too: {head}"
    );
    assert!(!head.contains("Date"), "{head}");
}

#[test]
fn errors_are_clienterror_pages() {
    let server = tiny();
    let addr = server.addr();
    assert_eq!(
        exchange(addr, b"GET /nope.html HTTP/1.0\r\n\r\n"),
        tiny_error(
            TinyVersion::Book3e,
            "./nope.html",
            404,
            "Not found",
            "Tiny couldn't find this file"
        )
    );
    // A proxy that forwards the absolute URI names no file.
    let answer = exchange(addr, b"GET http://localhost:1/home.html HTTP/1.0\r\n\r\n");
    assert!(answer.starts_with(b"HTTP/1.0 404 Not found\r\n"));
    // Methods other than GET: 501 before the headers are read.
    assert_eq!(
        exchange(addr, b"POST /home.html HTTP/1.0\r\n"),
        tiny_error(
            TinyVersion::Book3e,
            "POST",
            501,
            "Not Implemented",
            "Tiny does not implement this method"
        )
    );
    assert!(exchange(addr, b"get / HTTP/1.0\r\n\r\n").starts_with(b"HTTP/1.0 200 OK\r\n"));
    assert!(exchange(addr, b"GET /images HTTP/1.0\r\n\r\n").starts_with(b"HTTP/1.0 403 Forbidden"));
}

#[test]
fn the_adder_answers_as_the_lab_s_cgi_program() {
    let server = tiny();
    let answer = exchange(
        server.addr(),
        b"GET /cgi-bin/adder?15213&18213 HTTP/1.0\r\n\r\n",
    );
    let text = String::from_utf8(answer).expect("text");
    let content = "Welcome to add.com: THE Internet addition portal.\r\n<p>The answer is: 15213 + 18213 = 33426\r\n<p>Thanks for visiting!\r\n";
    assert_eq!(
        text,
        format!(
            "HTTP/1.0 200 OK\r\nServer: Tiny Web Server\r\n\
             Content-length: {}\r\nContent-type: text/html\r\n\r\n{content}",
            content.len()
        )
    );
}

#[test]
fn a_head_that_never_ends_is_never_answered() {
    let server = tiny();
    // Bare LF does not end the head for Tiny: no answer, connection held.
    let mut stream = TcpStream::connect_timeout(&server.addr(), IO_TIMEOUT).expect("connect");
    stream
        .write_all(b"GET /home.html HTTP/1.0\nHost: x\n\n")
        .expect("send");
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let got = stream.read(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "{got:?}"
    );
    // Even after the client stops sending, Tiny never answers.
    stream.shutdown(Shutdown::Write).expect("half-close");
    let got = stream.read(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "{got:?}"
    );
}

#[test]
fn stopping_refuses_new_connections_and_cuts_held_ones() {
    let mut server = tiny();
    let addr = server.addr();
    let mut held = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    held.write_all(b"GET / HTTP/1.0\r\n").expect("send");
    held.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let start = Instant::now();
    server.stop();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).is_err(),
        "still accepting"
    );
    let mut buf = [0u8; 16];
    assert!(matches!(held.read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn the_full_server_stops_too() {
    let mut server = tiny_origin::start(&Config::with_port(0)).expect("starts");
    let addr = server.addr();
    assert!(TcpStream::connect_timeout(&addr, IO_TIMEOUT).is_ok());
    server.stop();
    assert!(
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).is_err(),
        "still accepting"
    );
}
