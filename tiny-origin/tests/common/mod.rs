//! Helpers shared by the integration tests: an in-process server on port 0
//! and a raw `TcpStream` HTTP client with bounded waits.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tiny_origin::Config;

/// Every socket wait in the tests is bounded by this.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts an in-process server with `config` (port forced to 0).
pub fn start(mut config: Config) -> SocketAddr {
    config.port = Some(0);
    config.port_flag = None;
    tiny_origin::start(&config).expect("server starts").detach()
}

/// Starts an in-process server with the defaults on 127.0.0.1, port 0.
pub fn start_default() -> SocketAddr {
    start(Config::default())
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    /// Status line, without CRLF.
    pub status_line: String,
    /// Status code.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes (everything after the blank line, up to EOF).
    pub body: Vec<u8>,
}

impl Resp {
    /// First header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Connects with read and write timeouts set.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream
}

/// Splits a raw response into head and body and parses the head.
pub fn parse(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line").to_owned();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header colon");
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    Resp {
        status_line,
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Sends `raw` and reads until the server closes the connection.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut stream = connect(addr);
    stream.write_all(raw).expect("send request");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).expect("read response to EOF");
    parse(&buf)
}

/// `GET path HTTP/1.0` with a Host header.
pub fn get(addr: SocketAddr, path: &str) -> Resp {
    exchange(
        addr,
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
}

/// Reads exactly one response with a `Content-Length` from a kept-alive
/// connection.
pub fn read_one(stream: &mut TcpStream) -> Resp {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read head");
        assert_eq!(n, 1, "EOF inside head: {:?}", String::from_utf8_lossy(&buf));
        buf.push(byte[0]);
    }
    let mut resp = parse(&buf);
    let len: usize = resp
        .header("Content-Length")
        .expect("Content-Length")
        .parse()
        .expect("numeric Content-Length");
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).expect("read body");
    resp.body = body;
    resp
}
