//! Concurrency: a client that stalls — silent, half a request line, or
//! waiting on an origin that never answers — must not stop others from
//! being served (the lab's reason for threads), and many idle connections
//! must not either. For the sequential proxy the same scenario shows the
//! lesson: the next client waits until the header timeout frees the loop.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{CHECK_TIMEOUT, Check, Failure, Section, same_as_direct};
use crate::clients::http::{get_via_proxy, proxy_request};
use crate::lab::Lab;

/// How quickly a fetch must complete next to stalled clients.
pub const CONCURRENT_LIMIT: Duration = Duration::from_secs(4);

/// Connections that stall in the three ways of the lab.
#[derive(Debug)]
pub struct Stallers {
    _held: Vec<TcpStream>,
}

/// Opens a client that sends nothing.
pub fn silent_client(proxy: SocketAddr) -> anyhow::Result<TcpStream> {
    Ok(TcpStream::connect_timeout(&proxy, CHECK_TIMEOUT)?)
}

/// Opens a client that sends half a request line and stops.
pub fn half_request_client(lab: Lab) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&lab.proxy, CHECK_TIMEOUT)?;
    stream.write_all(format!("GET http://{}/home.ht", lab.origin).as_bytes())?;
    Ok(stream)
}

/// Opens a client whose request waits on the origin's `/stall`.
pub fn stalled_origin_client(lab: Lab) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&lab.proxy, CHECK_TIMEOUT)?;
    stream.write_all(&proxy_request(&lab.url("/stall"), &[]))?;
    Ok(stream)
}

impl Stallers {
    /// All three kinds at once, in that order, with a short pause between
    /// them so a sequential proxy accepts them in order.
    pub fn all(lab: Lab) -> anyhow::Result<Stallers> {
        let mut held = vec![silent_client(lab.proxy)?];
        std::thread::sleep(Duration::from_millis(50));
        held.push(half_request_client(lab)?);
        std::thread::sleep(Duration::from_millis(50));
        held.push(stalled_origin_client(lab)?);
        std::thread::sleep(Duration::from_millis(100));
        Ok(Stallers { _held: held })
    }

    /// A silent client and a half-request client (what the header timeout
    /// cuts off).
    pub fn clients_only(lab: Lab) -> anyhow::Result<Stallers> {
        let mut held = vec![silent_client(lab.proxy)?];
        std::thread::sleep(Duration::from_millis(50));
        held.push(half_request_client(lab)?);
        std::thread::sleep(Duration::from_millis(100));
        Ok(Stallers { _held: held })
    }
}

/// A fetch completes while another request hangs on an origin that never
/// answers (the driver's scenario, against the test site's `/stall`).
pub fn fetch_beside_stalled_origin(lab: Lab) -> Check {
    let result = (|| -> Result<(), Failure> {
        let _staller = stalled_origin_client(lab)?;
        std::thread::sleep(Duration::from_millis(200));
        timed_fetch(lab, CONCURRENT_LIMIT)
    })();
    Check::from_result(
        Section::StalledClients,
        "a fetch completes while another request hangs on the origin",
        result,
    )
}

/// A fetch completes while a silent client, a half-request client and a
/// client waiting on `/stall` all hang.
pub fn fetch_beside_stalled_clients(lab: Lab) -> Check {
    let result = (|| -> Result<(), Failure> {
        let _stallers = Stallers::all(lab)?;
        timed_fetch(lab, CONCURRENT_LIMIT)
    })();
    Check::from_result(
        Section::StalledClients,
        "a fetch completes beside a silent, a half-request and a stalled-origin client",
        result,
    )
}

fn timed_fetch(lab: Lab, limit: Duration) -> Result<(), Failure> {
    let start = Instant::now();
    match get_via_proxy(lab.proxy, &lab.url("/home.html"), limit) {
        Ok(response) if response.status == Some(200) => Ok(()),
        Ok(response) => Err(Failure::new(
            format!("expected 200, got {:?}", response.status_line()),
            None,
        )),
        Err(e) => Err(Failure::new(
            format!(
                "no complete answer within {limit:?} ({:.1} s): {e:#}",
                start.elapsed().as_secs_f64()
            ),
            Some(
                "one stalled client blocks everyone: is your proxy sequential? serve each connection in its own thread",
            ),
        )),
    }
}

/// The sequential lesson: with a silent and a half-request client ahead of
/// it, a fetch through `proxy-seq` waits about two header timeouts, then
/// succeeds. Returns the time it waited.
pub fn sequential_waits_then_succeeds(
    lab: Lab,
    header_timeout: Duration,
) -> Result<Duration, Failure> {
    let _stallers = Stallers::clients_only(lab)?;
    let start = Instant::now();
    let limit = header_timeout * 2 + CHECK_TIMEOUT;
    let response = get_via_proxy(lab.proxy, &lab.url("/home.html"), limit)?;
    let waited = start.elapsed();
    if response.status != Some(200) {
        return Err(Failure::new(
            format!(
                "expected 200 after the wait, got {:?}",
                response.status_line()
            ),
            None,
        ));
    }
    Ok(waited)
}

/// `n` idle connections at once do not stop the proxy from serving.
pub fn many_idle_connections(lab: Lab, n: usize) -> Check {
    let result = (|| -> Result<(), Failure> {
        let mut idle = Vec::with_capacity(n);
        for _ in 0..n {
            idle.push(
                TcpStream::connect_timeout(&lab.proxy, CHECK_TIMEOUT)
                    .map_err(anyhow::Error::from)?,
            );
        }
        std::thread::sleep(Duration::from_millis(200));
        timed_fetch(lab, CONCURRENT_LIMIT)?;
        same_as_direct(lab, "/big.bin")
    })();
    Check::from_result(
        Section::Limits,
        format!("serves beside {n} idle connections"),
        result,
    )
}
