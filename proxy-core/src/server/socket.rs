//! The sockets: `Open_listenfd` (the listening socket and the options
//! every client socket inherits from it), `Accept`, and the `503` for a
//! connection over the limit.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

use crate::error::ProxyError;
use crate::limits::CLIENT_SNDBUF;

/// Pending connections the kernel queues before `accept`.
const BACKLOG: i32 = 1024;

/// The loud warning printed when the proxy listens where others can reach
/// it (anything but loopback), or `None` on loopback.
pub fn exposure_warning(addr: SocketAddr) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "WARNING: listening on {addr}, which is not a loopback address: anyone who can \
             reach this machine can use this proxy (an open proxy). Use --bind 127.0.0.1 \
             unless you mean it."
        )
    })
}

/// `accept`, the new socket already non-blocking (one `accept4` on
/// Linux), with the client's address.
pub(super) fn accept_nonblocking(
    listener: &socket2::Socket,
) -> io::Result<(TcpStream, SocketAddr)> {
    #[cfg(target_os = "linux")]
    let (socket, addr) = listener.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)?;
    #[cfg(not(target_os = "linux"))]
    let (socket, addr) = {
        let (socket, addr) = listener.accept()?;
        socket.set_nonblocking(true)?;
        (socket, addr)
    };
    let peer = addr
        .as_socket()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok((socket.into(), peer))
}

/// Answers a connection over the limit with `503` and closes it: best
/// effort without waiting (an empty socket buffer takes a small page
/// whole).
pub(super) fn refuse(stream: &TcpStream, max: usize) {
    let _ = rustix::net::send(
        stream,
        &overload_page(max),
        rustix::net::SendFlags::NOSIGNAL,
    );
}

fn overload_page(max: usize) -> Vec<u8> {
    ProxyError::Overloaded(max).page().unwrap_or_default()
}

pub(super) fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    client_socket_options(&socket);
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// What every client socket needs: `TCP_NODELAY` (a response head and body
/// written separately must not wait for an ACK) and a fixed send buffer
/// ([`CLIENT_SNDBUF`]: a client that stops reading pins a bounded amount
/// of kernel memory). Set on the listening socket, since on Linux an
/// accepted socket inherits both: two system calls fewer per request.
/// Elsewhere [`per_connection_options`] sets them on each client.
fn client_socket_options(socket: &socket2::Socket) {
    let _ = socket.set_tcp_nodelay(true);
    let _ = socket.set_send_buffer_size(CLIENT_SNDBUF);
}

/// Sets [`client_socket_options`] on an accepted socket where it does not
/// inherit them from the listener.
pub(super) fn per_connection_options(client: &socket2::SockRef<'_>) {
    if !cfg!(target_os = "linux") {
        let _ = client.set_tcp_nodelay(true);
        let _ = client.set_send_buffer_size(CLIENT_SNDBUF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_off_loopback() {
        for quiet in ["127.0.0.1:3128", "[::1]:3128", "127.0.0.2:1"] {
            assert_eq!(
                exposure_warning(quiet.parse().expect("addr")),
                None,
                "{quiet}"
            );
        }
        for loud in ["0.0.0.0:3128", "[::]:3128", "192.168.1.10:3128"] {
            let warning = exposure_warning(loud.parse().expect("addr")).expect(loud);
            assert!(
                warning.starts_with("WARNING") && warning.contains(loud),
                "{warning}"
            );
        }
    }
}
