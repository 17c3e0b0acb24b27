//! The command line shared by all three variants (SPEC §3): the lab's
//! `./proxy PORT`, plus the limits, timeouts and switches of this project.
//!
//! One [`Config`] holds every limit and timeout a user can set, with the
//! defaults of SPEC.md, so no handler has a magic number of its own. The
//! request-head limits of SPEC §4.1 (8 KiB line, 64 KiB head) are fixed by
//! the spec and live as constants in [`crate::head`].
//!
//! Every number is checked when the command line is parsed (SPEC §3, issue
//! #14 item 12): a zero or absurd timeout or limit is refused at start with
//! a message that names the flag and its allowed range, and exit status 2,
//! the same in every variant — a timeout of `u64::MAX` seconds would
//! otherwise overflow the first deadline computed from it.

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

    /// Total bytes the cache may hold, keys and responses counted
    /// (1 B-64 GiB; use --no-cache to turn it off).
    #[arg(long, default_value_t = DEFAULT_CACHE_SIZE, value_name = "BYTES",
          value_parser = usize_in(1, MAX_CACHE_SIZE))]
    pub cache_size: usize,

    /// Largest response (head and body) the cache stores (at least 1, at
    /// most --cache-size).
    #[arg(long, default_value_t = DEFAULT_MAX_OBJECT, value_name = "BYTES",
          value_parser = usize_in(1, MAX_CACHE_SIZE))]
    pub max_object: usize,

    /// Turn the cache off.
    #[arg(long)]
    pub no_cache: bool,

    /// Refuse requests for HOST and its subdomains with 403 (repeatable).
    /// HOST may also be an address (`127.0.0.1`, `::1`) or a network
    /// (`10.0.0.0/8`); a name also denies the addresses it resolves to at
    /// start, and every target is resolved and compared by address.
    #[arg(long, value_name = "HOST")]
    pub deny: Vec<String>,

    /// Read hosts, addresses and networks to deny from FILE, one per line
    /// (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub deny_file: Option<PathBuf>,

    /// SIGPIPE disposition: `ignore` (Rust's default, the lab's fix) or
    /// `default` (the C default, to show the crash: the relay then writes
    /// with plain write(2) and, like a C loop that ignores `rio_writen`'s
    /// error, writes again after a failed write, so any client that hangs
    /// up mid-response — half-close, close or reset — kills the process).
    #[arg(long, value_enum, default_value_t = SigpipeMode::Ignore)]
    pub sigpipe: SigpipeMode,

    /// Seconds a client has to send its whole request head (1-3600).
    #[arg(long, default_value_t = 10, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=MAX_SHORT_TIMEOUT))]
    pub header_timeout: u64,

    /// Seconds to wait for the origin to accept the connection, 504 after
    /// (1-3600).
    #[arg(long, default_value_t = 5, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=MAX_SHORT_TIMEOUT))]
    pub connect_timeout: u64,

    /// Seconds a relay may make no progress in either direction (no byte
    /// from the origin, none taken by the client) before the connection is
    /// dropped (1-86400). The same meaning in every variant.
    #[arg(long, default_value_t = 30, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=MAX_IDLE_TIMEOUT))]
    pub idle_timeout: u64,

    /// Most client connections served at once (thread and async variants);
    /// a connection beyond it gets 503 at once. Lowered at start to what
    /// the open-file limit allows (1-1000000).
    #[arg(long, default_value_t = 4096, value_name = "N",
          value_parser = usize_in(1, MAX_CONNS))]
    pub max_conns: usize,

    /// Ports a CONNECT tunnel may go to, comma-separated (e.g. 443,8443);
    /// other ports get 403. An empty list ('') turns tunnels off: CONNECT
    /// gets 501, as in the lab.
    #[arg(long, default_value = "443", value_name = "LIST", value_parser = PortList::parse)]
    pub connect_ports: PortList,

    /// Seconds in-flight connections get to finish after SIGINT/SIGTERM
    /// (0-3600).
    #[arg(long, default_value_t = 5, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(0..=MAX_SHORT_TIMEOUT))]
    pub shutdown_grace: u64,
}

/// The ports of `--connect-ports`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortList(Vec<u16>);

impl PortList {
    /// Parses `443,8443` (spaces allowed around each port); `""` is the
    /// empty list. Each port is 1-65535.
    pub fn parse(text: &str) -> Result<PortList, String> {
        if text.trim().is_empty() {
            return Ok(PortList::default());
        }
        text.split(',')
            .map(|part| match part.trim().parse::<u16>() {
                Ok(port) if port != 0 => Ok(port),
                _ => Err(format!("{part:?} is not a port (1-65535)")),
            })
            .collect::<Result<Vec<u16>, String>>()
            .map(PortList)
    }

    /// `true` when `port` is in the list.
    pub fn contains(&self, port: u16) -> bool {
        self.0.contains(&port)
    }

    /// `true` when the list is empty (tunnels are off).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for PortList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<String> = self.0.iter().map(u16::to_string).collect();
        f.write_str(&ports.join(","))
    }
}

/// Largest `--header-timeout`, `--connect-timeout` and `--shutdown-grace`:
/// an hour. Anything longer is a typo, not a wish.
pub const MAX_SHORT_TIMEOUT: u64 = 3600;

/// Largest `--idle-timeout`: a day.
pub const MAX_IDLE_TIMEOUT: u64 = 86_400;

/// Largest `--max-conns`.
pub const MAX_CONNS: usize = 1_000_000;

/// Largest `--cache-size` (and so `--max-object`): 64 GiB.
pub const MAX_CACHE_SIZE: usize = 64 << 30;

/// A clap value parser for a `usize` in `min..=max`, with a message that
/// names the range.
fn usize_in(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |text: &str| match text.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is not in {min}..={max}")),
        Err(e) => Err(format!("{text:?} is not a number ({e})")),
    }
}

impl Config {
    /// Parses the command line like [`Parser::parse`] and then checks what
    /// one flag alone cannot ([`Config::validate`]); on an error prints it
    /// with the usage and exits with status 2, like any bad flag.
    pub fn parse_checked() -> Config {
        let config = Config::parse();
        if let Err(message) = config.validate() {
            Config::usage_error(&message);
        }
        config
    }

    /// Prints `message` as a command-line error (with the usage line) and
    /// exits with status 2.
    pub fn usage_error(message: &str) -> ! {
        use clap::CommandFactory;
        Config::command()
            .error(clap::error::ErrorKind::ValueValidation, message)
            .exit()
    }

    /// Checks the flags against each other (each one's own range is checked
    /// while parsing): `--max-object` cannot exceed `--cache-size`.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_object > self.cache_size {
            return Err(format!(
                "--max-object {} is larger than --cache-size {}: no such object could be stored",
                self.max_object, self.cache_size
            ));
        }
        Ok(())
    }

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

    #[test]
    fn zero_and_absurd_numbers_are_refused_with_the_flag_named() {
        for (flag, value) in [
            ("--idle-timeout", "0"),
            ("--idle-timeout", "18446744073709551615"),
            ("--header-timeout", "0"),
            ("--header-timeout", "3601"),
            ("--connect-timeout", "0"),
            ("--shutdown-grace", "99999"),
            ("--max-conns", "0"),
            ("--max-conns", "99999999999"),
            ("--cache-size", "0"),
            ("--cache-size", "1000000000000000"),
            ("--max-object", "0"),
        ] {
            let err = Config::try_parse_from(["proxy", flag, value])
                .expect_err(&format!("{flag} {value} accepted"));
            assert_eq!(err.exit_code(), 2, "{flag} {value}");
            let text = err.to_string();
            assert!(text.contains(flag), "{flag} {value}: {text}");
        }
        for (flag, value) in [
            ("--idle-timeout", "86400"),
            ("--header-timeout", "1"),
            ("--shutdown-grace", "0"),
            ("--max-conns", "1"),
        ] {
            assert!(
                Config::try_parse_from(["proxy", flag, value]).is_ok(),
                "{flag} {value}"
            );
        }
    }

    #[test]
    fn connect_ports_default_to_443_and_can_be_emptied() {
        let ports = |args: &[&str]| {
            let mut argv = vec!["proxy"];
            argv.extend_from_slice(args);
            Config::try_parse_from(argv).map(|c| c.connect_ports)
        };
        let default = ports(&[]).expect("default");
        assert!(default.contains(443) && !default.contains(80));
        assert_eq!(default.to_string(), "443");
        let two = ports(&["--connect-ports", "443, 8443"]).expect("two");
        assert!(two.contains(8443) && two.contains(443));
        assert!(ports(&["--connect-ports", ""]).expect("empty").is_empty());
        for bad in ["0", "x", "443,", "70000"] {
            let err = ports(&["--connect-ports", bad]).expect_err(bad);
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.to_string().contains("--connect-ports"), "{err}");
        }
    }

    #[test]
    fn max_object_cannot_exceed_cache_size() {
        let config = Config::parse_from(["proxy", "--cache-size", "100", "--max-object", "200"]);
        let message = config.validate().expect_err("accepted");
        assert!(message.contains("--max-object 200") && message.contains("--cache-size 100"));
        assert!(Config::parse_from(["proxy"]).validate().is_ok());
    }
}
