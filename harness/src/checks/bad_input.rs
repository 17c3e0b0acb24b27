//! Malformed and hostile requests: each gets its answer (SPEC §4, for our
//! variants), and none takes the proxy down (an extra for every proxy).
//! The requests themselves are the [`corpus`](super::corpus).

use std::net::SocketAddr;

use super::{CHECK_TIMEOUT, Check, Failure, Section, same_as_direct};
use crate::clients::http;
use crate::lab::Lab;

/// What a bad request must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// This status.
    Status(u16),
    /// Any 4xx or 5xx error page, or a close without an answer.
    ErrorOrClose,
    /// This status, or a close without an answer (input a proxy may reject
    /// at once or only when the client gives up, e.g. a TLS `ClientHello`).
    StatusOrClose(u16),
    /// This status, and the answer must not contain this text (a fragment
    /// that must not reach the origin, a pipelined request not served).
    StatusWithout(u16, &'static str),
}

/// One hostile or malformed request and the answer it must get.
#[derive(Debug, Clone)]
pub struct BadCase {
    /// A short name.
    pub name: String,
    /// The bytes sent.
    pub request: Vec<u8>,
    /// The expected answer.
    pub expect: Expect,
    /// One of the errors every Proxy Lab proxy meets (a malformed request
    /// line, POST, an unreachable origin…): the subset [`bad_cases`] picks.
    pub lab: bool,
}

impl BadCase {
    /// `true` when the proxy must answer it itself with a client error
    /// (400, 414, 431 or 501), contacting no server.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self.expect,
            Expect::Status(400 | 414 | 431 | 501) | Expect::StatusOrClose(400)
        )
    }
}

/// The lab's own error cases: the [`corpus`](super::corpus::corpus)
/// entries tagged [`BadCase::lab`]. `origin` is a live origin (so a case
/// fails only for its own reason); `closed_port` is a port where nothing
/// listens; requests for the host `denied.invalid` must be refused (start the
/// proxy with `--deny denied.invalid`).
pub fn bad_cases(origin: SocketAddr, closed_port: u16) -> Vec<BadCase> {
    super::corpus::corpus(origin, closed_port)
        .into_iter()
        .filter(|case| case.lab)
        .collect()
}

/// Sends one bad case and checks the answer.
pub fn run_bad_case(proxy: SocketAddr, case: &BadCase) -> Result<(), Failure> {
    let response = http::exchange(proxy, &case.request, CHECK_TIMEOUT)?;
    match case.expect {
        Expect::Status(want) if response.status == Some(want) => Ok(()),
        Expect::Status(want) => Err(Failure::new(
            format!(
                "expected status {want}, got {}",
                if response.raw.is_empty() {
                    "a close without an answer".to_string()
                } else {
                    format!("{:?}", response.status_line())
                }
            ),
            Some(
                "answer bad requests with an error page (clienterror) instead of closing or forwarding them",
            ),
        )),
        Expect::ErrorOrClose => match response.status {
            None if response.raw.is_empty() => Ok(()),
            Some(s) if s >= 400 => Ok(()),
            _ => Err(Failure::new(
                format!(
                    "expected an error or a close, got {:?}",
                    response.status_line()
                ),
                Some("this request must not be forwarded"),
            )),
        },
        Expect::StatusOrClose(want) if response.raw.is_empty() || response.status == Some(want) => {
            Ok(())
        }
        Expect::StatusOrClose(want) => Err(Failure::new(
            format!(
                "expected status {want} or a close without an answer, got {:?}",
                response.status_line()
            ),
            Some("a request head that never ends cannot be answered; do not forward it"),
        )),
        Expect::StatusWithout(want, text) => {
            let found = response
                .raw
                .windows(text.len().max(1))
                .any(|w| w == text.as_bytes());
            if response.status == Some(want) && !found {
                Ok(())
            } else {
                Err(Failure::new(
                    format!(
                        "expected status {want} without {text:?} in the answer, got {:?}{}",
                        response.status_line(),
                        if found {
                            format!(" containing {text:?}")
                        } else {
                            String::new()
                        }
                    ),
                    Some("forward only the first request, and never a URI's #fragment"),
                ))
            }
        }
    }
}

/// The bad-input section: every case, then a normal fetch to show the
/// proxy still serves.
pub fn bad_input(lab: Lab, cases: &[BadCase]) -> Vec<Check> {
    let mut checks: Vec<Check> = cases
        .iter()
        .map(|case| {
            Check::from_result(
                Section::Statuses,
                case.name.clone(),
                run_bad_case(lab.proxy, case),
            )
        })
        .collect();
    checks.push(Check::from_result(
        Section::Statuses,
        "still serves after the bad requests",
        same_as_direct(lab, "/home.html"),
    ));
    checks
}

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
pub fn closed_port() -> u16 {
    crate::process::free_port().unwrap_or(1)
}
