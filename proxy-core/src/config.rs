//! The command line shared by all three variants (SPEC §3): the lab's
//! `./proxy PORT`, plus the limits, timeouts and switches of this project.
//!
//! One [`Config`] holds every limit and timeout a user can set, with the
//! defaults of SPEC.md, so no handler has a magic number of its own. The
//! request-head limits of SPEC §4.1 (8 KiB line, 64 KiB head) are fixed by
//! the spec and live as constants in [`crate::head`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::cache::{DEFAULT_CACHE_SIZE, DEFAULT_MAX_OBJECT};

/// What to do when writing to a client that has hung up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SigpipeMode {
    /// Keep Rust's default, `SIG_IGN`: the write fails with `EPIPE` and only
    /// that connection ends (the lab's `Signal(SIGPIPE, SIG_IGN)`).
    Ignore,
    /// Restore the C default: the process dies on the first such write.
    /// For demonstrating the lab's crash only.
    Default,
}

/// A forward HTTP/1.0 GET proxy (CS:APP Proxy Lab, in Rust).
///
/// Run `PROXY PORT`, then point a client at it, e.g.
/// `curl -x http://127.0.0.1:PORT http://127.0.0.1:8000/home.html`.
#[derive(Debug, Clone, Parser)]
#[command(version)]
pub struct Config {
    /// Port to listen on, like the lab's `./proxy 15213`; 0 picks a free one.
    #[arg(value_name = "PORT", conflicts_with = "port_flag")]
    pub port: Option<u16>,

    /// Port to listen on (same as the positional PORT).
    #[arg(long = "port", value_name = "PORT")]
    pub port_flag: Option<u16>,

    /// Address to bind. Loopback by default: an open proxy on a public
    /// address is a gift to abusers.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: IpAddr,

    /// Total bytes the cache may hold.
    #[arg(long, default_value_t = DEFAULT_CACHE_SIZE, value_name = "BYTES")]
    pub cache_size: usize,

    /// Largest response (head and body) the cache stores.
    #[arg(long, default_value_t = DEFAULT_MAX_OBJECT, value_name = "BYTES")]
    pub max_object: usize,

    /// Turn the cache off.
    #[arg(long)]
    pub no_cache: bool,

    /// Refuse requests for HOST and its subdomains with 403 (repeatable).
    #[arg(long, value_name = "HOST")]
    pub deny: Vec<String>,

    /// Read hosts to deny from FILE, one per line (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub deny_file: Option<PathBuf>,

    /// SIGPIPE disposition: `ignore` (Rust's default, the lab's fix) or
    /// `default` (the C default, to show the crash: the relay then writes
    /// with plain write(2), and a write to a client that has half-closed and
    /// hung up kills the process; a bare reset gives ECONNRESET instead).
    #[arg(long, value_enum, default_value_t = SigpipeMode::Ignore)]
    pub sigpipe: SigpipeMode,

    /// Seconds a client has to send its whole request head.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub header_timeout: u64,

    /// Seconds to wait for the origin to accept the connection (504 after).
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub connect_timeout: u64,

    /// Seconds either side may stay silent during the relay before the
    /// connection is dropped.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub idle_timeout: u64,

    /// Most client connections served at once (thread and async variants);
    /// a connection beyond it gets 503 at once.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub max_conns: usize,

    /// Seconds in-flight connections get to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub shutdown_grace: u64,
}

impl Config {
    /// The port to bind: the positional one, else `--port`, else 0 (free).
    pub fn port(&self) -> u16 {
        self.port.or(self.port_flag).unwrap_or(0)
    }

    /// [`Config::header_timeout`] as a duration.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout)
    }

    /// [`Config::connect_timeout`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout)
    }

    /// [`Config::idle_timeout`] as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout)
    }

    /// [`Config::shutdown_grace`] as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let config = Config::parse_from(["proxy", "15213"]);
        assert_eq!(config.port(), 15213);
        assert_eq!(config.bind.to_string(), "127.0.0.1");
        assert_eq!(config.cache_size, 1_049_000);
        assert_eq!(config.max_object, 102_400);
        assert_eq!(config.sigpipe, SigpipeMode::Ignore);
        assert_eq!(
            (
                config.header_timeout,
                config.connect_timeout,
                config.idle_timeout
            ),
            (10, 5, 30)
        );
    }

    #[test]
    fn port_flag_and_bad_flags() {
        assert_eq!(Config::parse_from(["proxy", "--port", "0"]).port(), 0);
        assert_eq!(Config::parse_from(["proxy"]).port(), 0);
        let err = Config::try_parse_from(["proxy", "--sigpipe", "maybe"]).expect_err("bad value");
        assert_eq!(err.exit_code(), 2);
        let err = Config::try_parse_from(["proxy", "notaport"]).expect_err("bad port");
        assert_eq!(err.exit_code(), 2);
    }
}
