//! # harness: starts, checks and grades Proxy Lab proxies
//!
//! The library behind `cargo test -p harness` and the `harness` command.
//! It starts tiny-origin and a proxy on free loopback ports, talks to them
//! with raw sockets (to control every byte) and with reqwest (a real
//! client), and kills everything it started, whatever happens.
//!
//! # Layout
//!
//! - [`bins`]: builds and finds the binaries under test (never a stale one).
//! - [`process`]: child processes in their own process group, the
//!   `listening on` handshake, bounded waits.
//! - [`lab`]: the variants list and starting origin and proxies.
//! - [`http`]: raw and reqwest fetches, with deadlines.
//! - [`checks`]: every check, as data (name, passed, expected/got, hint), so
//!   the tests and `harness grade` share one implementation.
//! - [`safety`]: helpers for the checks of issue #14 (cache privacy,
//!   address spellings, kernel memory per connection, open-file limits).

pub mod bins;
pub mod checks;
pub mod clients;
pub mod compare;
pub mod corpus;
pub mod grade;
pub mod http;
pub mod lab;
pub mod load;
pub mod process;
pub mod safety;

pub use lab::{CONCURRENT, ProxySpec, VARIANTS, Variant, start_origin, start_variant};
pub use process::Running;
