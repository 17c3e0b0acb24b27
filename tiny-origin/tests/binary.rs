//! Tests of the `tiny-origin` executable: the `listening on` line and flags.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_tiny-origin");

/// Kills the child when dropped, so a failing test leaves no server behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with its first stdout line (bounded wait).
fn spawn(args: &[&str]) -> (Server, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tiny-origin");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("first stdout line within 10 s");
    (server, line)
}

#[test]
fn prints_listening_line_first_and_serves() {
    let (_server, line) = spawn(&["0"]);
    let rest = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("listening on 127.0.0.1:"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port: u16 = rest.parse().expect("port number");
    assert_ne!(port, 0);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let r = common::get(addr, "/cgi-bin/adder?1&2");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("1 + 2 = 3"));
}

#[test]
fn port_flag_and_ipv6_line() {
    let (_server, line) = spawn(&["--port", "0", "--bind", "::1"]);
    if line.is_empty() {
        println!("skipping port_flag_and_ipv6_line: [::1] unavailable");
        return;
    }
    let rest = line
        .trim_end()
        .strip_prefix("listening on [::1]:")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port: u16 = rest.parse().expect("port number");
    let addr: SocketAddr = format!("[::1]:{port}").parse().expect("addr");
    assert_eq!(common::get(addr, "/style.css").status, 200);
}

#[test]
fn bad_flags_exit_2() {
    for args in [&["--bogus"][..], &["70000"], &["1", "--port", "2"]] {
        let status = Command::new(BIN)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run");
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn help_mentions_every_flag() {
    let out = Command::new(BIN).arg("--help").output().expect("run");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--port",
        "--bind",
        "--root",
        "--hold-secs",
        "--stall-secs",
        "[PORT]",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}
