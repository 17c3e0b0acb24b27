//! `proxy-async`: the lab's "I/O multiplexing" road, with tokio tasks.
//!
//! Instead of a thread per connection, an event loop runs many small
//! tasks; a task waiting for a slow client or origin costs about 5 KB (its
//! future, mostly a read buffer), not a thread's stack, and never blocks
//! the loop. This is what `select` or `epoll` event loops do in C, without
//! writing the state machine by hand: each `.await` is a point where the
//! task may be parked while the loop serves the others.
//!
//! The loop below is the whole lesson: accept, spawn, accept again. The
//! server runs it once per core (`run_async`), each copy a single-threaded
//! event loop that serves the connections it accepted to their end — as
//! nginx runs one worker process per core — and a task touches the event
//! loop only when it has to wait (`proxy_core::lazy`).
//!
//! Everything except this loop lives in `proxy-core`.

use std::process::ExitCode;

use proxy_core::Server;

fn main() -> ExitCode {
    let server = match Server::start() {
        Ok(server) => server,
        Err(code) => return code,
    };
    server.run_async(async |server| {
        while let Some(conn) = server.accept().await {
            tokio::spawn(conn.serve());
        }
    })
}
