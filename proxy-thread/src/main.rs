//! `proxy-thread`: the lab's concurrent proxy, one OS thread per connection.
//!
//! In C, the accepted `connfd` is `malloc`'d and its pointer handed to
//! `pthread_create`, because passing `&connfd` would race with the next
//! `Accept` overwriting it. Here the accepted connection is *moved* into the
//! thread's closure: the thread owns it, the loop can no longer touch it,
//! and the compiler rejects the racy version outright.
//!
//! In C, each thread calls `pthread_detach` so its resources are reclaimed
//! without a `pthread_join`. In Rust, dropping the `JoinHandle` that `spawn`
//! returns detaches the thread: nobody will join it, and it cleans up when
//! it ends.
//!
//! Threads get a small stack (the handler keeps its buffers on the heap), so
//! a thousand idle connections cost little memory; `--max-conns` bounds how
//! many exist at once. A thread whose connection ended waits a moment for
//! the next one instead of exiting (see `proxy_core::threads`): one
//! connection per thread at a time, without paying a thread's creation on
//! every request.
//!
//! Everything except this loop lives in `proxy-core`.

use std::process::ExitCode;

use proxy_core::{Server, threads};

fn main() -> ExitCode {
    let server = match Server::start() {
        Ok(server) => server,
        Err(code) => return code,
    };
    for conn in server.incoming() {
        // `move` hands the connection to the thread; nobody joins it,
        // which is Rust's pthread_detach. `threads::spawn` is
        // `std::thread::spawn` that reuses a thread whose connection just
        // ended (creating Rust threads is dear: see proxy_core::threads).
        let spawned = threads::spawn(move || conn.serve());
        if let Err(e) = spawned {
            eprintln!("cannot start a thread: {e}");
        }
    }
    server.finish()
}
