//! The bad-input corpus (being written).

use std::net::SocketAddr;

use crate::checks::BadCase;

/// Hostile and malformed requests with the answer each must get.
pub fn corpus(_origin: SocketAddr, _closed_port: u16) -> Vec<BadCase> {
    Vec::new()
}
