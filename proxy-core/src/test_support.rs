//! What the unit tests of the relays share: loopback socket pairs and a
//! tokio runtime to run an async relay on. Compiled for tests only.

use std::net::{TcpListener, TcpStream};

use crate::lazy::LazyStream;

/// A connected pair of loopback sockets: (the connecting end, the
/// accepted end).
pub(crate) fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let near = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (far, _) = listener.accept().expect("accept");
    (near, far)
}

/// Runs `f` on a fresh current-thread tokio runtime with `a` and `b`
/// turned into the async variant's sockets ([`LazyStream`]).
pub(crate) fn on_tokio<T>(
    a: TcpStream,
    b: TcpStream,
    f: impl AsyncFnOnce(&mut LazyStream, &mut LazyStream) -> T,
) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        a.set_nonblocking(true).expect("nonblocking");
        b.set_nonblocking(true).expect("nonblocking");
        f(&mut LazyStream::new(a), &mut LazyStream::new(b)).await
    })
}
