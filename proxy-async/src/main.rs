//! `proxy-async`: the lab's "I/O multiplexing" road, with tokio tasks.
//!
//! Instead of a thread per connection, a few worker threads run many small
//! tasks; a task waiting for a slow client or origin costs about 5 KB (its
//! future, mostly a read buffer), not a thread's stack, and never blocks
//! the thread. This is what `select`
//! or `epoll` event loops do in C, without writing the state machine by
//! hand: each `.await` is a point where the task may be parked.
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
