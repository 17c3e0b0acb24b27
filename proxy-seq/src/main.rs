//! `proxy-seq`: the lab's first proxy, one connection at a time.
//!
//! Accept a client, serve it to the end, then accept the next. While one
//! client is slow — or sends nothing at all — everyone else waits in the
//! kernel's backlog until the header timeout cuts it off. That freeze is
//! the lesson that motivates `proxy-thread` and `proxy-async`.
//!
//! Everything except this loop lives in `proxy-core`.

use std::process::ExitCode;

use proxy_core::Server;

fn main() -> ExitCode {
    let server = match Server::start() {
        Ok(server) => server,
        Err(code) => return code,
    };
    // The lab's `while (1) { connfd = Accept(...); doit(connfd); Close(connfd); }`
    for conn in server.incoming() {
        conn.serve();
    }
    server.finish()
}
