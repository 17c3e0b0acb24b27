//! The deny list (`--deny`, `--deny-file`): hosts, addresses and networks
//! the proxy refuses with `403`, one of the reasons people put a proxy in
//! the middle. The lab's C proxy has none; this is the part a careful
//! operator adds to `doit` before `open_clientfd`.
//!
//! # Addresses, not spellings (SPEC §4, issue #14 item 5)
//!
//! Comparing the text of a URI's host with the list is easy to get around:
//! `127.0.0.1` is also `2130706433`, `0x7f.1`, `127.1`, `0177.0.0.1`,
//! `[::ffff:127.0.0.1]`, `0.0.0.0` (which reaches this host), or any name
//! an `/etc/hosts` alias gives it. So the list holds three kinds of entry:
//!
//! - **names** (`example.com`, `*.ads.test`): the name and its subdomains,
//!   any case, trailing dot ignored — compared with the URI's host and the
//!   client's `Host` before anything is resolved;
//! - **addresses and networks** (`127.0.0.1`, `::1`, `10.0.0.0/8`,
//!   `::1/128`, also in the spellings above);
//! - **what the names resolve to**: at start every name (except those under
//!   `.invalid`, which never resolve) is resolved once and its addresses
//!   join the denied ones ([`DenyList::resolve_names`]).
//!
//! The connect step ([`crate::connect`]) resolves the target and refuses it
//! when any of its addresses is denied ([`DenyList::denies_addr`]), after
//! normalising: an IPv4-mapped IPv6 address is its IPv4 address, and the
//! unspecified address (`0.0.0.0`, `::`) counts as the loopback it reaches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::error::ProxyError;

/// How many threads resolve the denied names at start.
const RESOLVERS: usize = 8;

/// Hosts, addresses and networks that are refused.
#[derive(Debug, Default)]
pub struct DenyList {
    /// Lower-case host names, without a trailing dot: each denies itself
    /// and its subdomains.
    names: Vec<String>,
    /// Denied addresses (as /32 or /128) and networks, IPv4-mapped ones
    /// stored as IPv4.
    nets: Vec<IpNet>,
    /// Addresses the names resolved to; filled at start, and later by
    /// lookups that were still running when the proxy began to serve.
    resolved: Arc<RwLock<Vec<IpAddr>>>,
}

/// A deny entry that could not be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum DenyError {
    /// `--deny-file` could not be read.
    #[error("cannot read --deny-file {path}: {error}")]
    File {
        /// The file as given on the command line.
        path: String,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// An entry is neither a host name, an address nor a network.
    #[error("{origin}: {entry:?} is not a host name, an address or a network ({why})")]
    Entry {
        /// Where it came from: `--deny`, or `--deny-file FILE line N`.
        origin: String,
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        why: String,
    },
}

impl DenyList {
    /// Builds the list from `--deny` values and the lines of `--deny-file`.
    /// An unreadable file or a malformed entry is an error that names it.
    pub fn new(hosts: &[String], file: Option<&Path>) -> Result<DenyList, DenyError> {
        let mut list = DenyList::default();
        for host in hosts {
            list.add(host, || "--deny".to_string())?;
        }
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|error| DenyError::File {
                path: path.display().to_string(),
                error,
            })?;
            for (number, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or_default();
                list.add(line, || {
                    format!("--deny-file {} line {}", path.display(), number + 1)
                })?;
            }
        }
        Ok(list)
    }

    fn add(&mut self, entry: &str, origin: impl Fn() -> String) -> Result<(), DenyError> {
        let trimmed = entry.trim();
        if trimmed.is_empty() {
            return Ok(());
        }
        let bad = |why: &str| DenyError::Entry {
            origin: origin(),
            entry: trimmed.to_string(),
            why: why.to_string(),
        };
        if trimmed.contains('/') {
            let net: IpNet = strip_brackets(trimmed)
                .parse()
                .map_err(|e| bad(&format!("bad network: {e}")))?;
            self.nets.push(canonical_net(net.trunc()));
            return Ok(());
        }
        if let Some(ip) = parse_ip_any_spelling(strip_brackets(trimmed)) {
            self.nets.push(IpNet::from(ip.to_canonical()));
            return Ok(());
        }
        let name = normalise(trimmed.trim_start_matches("*."));
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        if !valid {
            return Err(bad("a name has only letters, digits, '-', '_' and '.'"));
        }
        self.names.push(name);
        Ok(())
    }

    /// Resolves every denied name (not those under `.invalid`) so that the
    /// addresses they stand for are denied too. Waits at most `wait`;
    /// lookups still running then go on in the background and add their
    /// addresses when they finish. Returns how many addresses were added
    /// within the wait.
    pub fn resolve_names(&self, wait: Duration) -> usize {
        let names: Vec<String> = self
            .names
            .iter()
            .filter(|n| *n != "invalid" && !n.ends_with(".invalid"))
            .cloned()
            .collect();
        if names.is_empty() {
            return 0;
        }
        let queue = Arc::new(Mutex::new(names));
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let workers = RESOLVERS.min(queue.lock().map_or(1, |q| q.len()));
        for _ in 0..workers {
            let queue = Arc::clone(&queue);
            let resolved = Arc::clone(&self.resolved);
            let done = done_tx.clone();
            let spawned = std::thread::Builder::new()
                .name("deny-resolve".into())
                .spawn(move || {
                    loop {
                        let next = queue.lock().ok().and_then(|mut q| q.pop());
                        let Some(name) = next else { break };
                        let addrs: Vec<IpAddr> = match (name.as_str(), 0).to_socket_addrs() {
                            Ok(addrs) => addrs.map(|a| a.ip().to_canonical()).collect(),
                            Err(e) => {
                                tracing::debug!("denied name {name} does not resolve: {e}");
                                Vec::new()
                            }
                        };
                        if !addrs.is_empty() {
                            tracing::info!("denied name {name} resolves to {addrs:?}: denied too");
                            if let Ok(mut all) = resolved.write() {
                                all.extend(addrs);
                            }
                        }
                    }
                    let _ = done.send(());
                });
            if spawned.is_err() {
                break;
            }
        }
        drop(done_tx);
        let deadline = Instant::now() + wait;
        for _ in 0..workers {
            let left = deadline.saturating_duration_since(Instant::now());
            if done_rx.recv_timeout(left).is_err() {
                tracing::warn!(
                    "denied names still resolving after {wait:?}; their addresses are added when known"
                );
                break;
            }
        }
        self.resolved.read().map_or(0, |r| r.len())
    }

    /// `true` when `host` (a URI host or a `Host` header's host) is on the
    /// list: a denied name or a subdomain of one, compared
    /// case-insensitively (`Ads.Example.com` matches `example.com`;
    /// `notexample.com` does not), or an address literal in any spelling
    /// that [`DenyList::denies_addr`] refuses.
    pub fn denies(&self, host: &str) -> bool {
        if let Some(ip) = parse_ip_any_spelling(strip_brackets(host.trim_end_matches('.'))) {
            return self.denies_addr(ip);
        }
        let host = normalise(host);
        self.names.iter().any(|denied| {
            host == *denied
                || host
                    .strip_suffix(denied.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.'))
        })
    }

    /// `true` when connecting to `ip` would reach a denied address: `ip`
    /// is normalised first (IPv4-mapped IPv6 → IPv4; the unspecified
    /// address also stands for the loopback it reaches).
    pub fn denies_addr(&self, ip: IpAddr) -> bool {
        let resolved = self.resolved.read();
        reaches(ip).iter().any(|ip| {
            self.nets.iter().any(|net| net.contains(ip))
                || resolved.as_ref().is_ok_and(|r| r.contains(ip))
        })
    }

    /// `Err(Forbidden)` when the host is denied.
    pub fn check(&self, host: &str) -> Result<(), ProxyError> {
        if self.denies(host) {
            Err(ProxyError::Forbidden(host.to_string()))
        } else {
            Ok(())
        }
    }

    /// How many entries the list has (names, addresses and networks).
    pub fn len(&self) -> usize {
        self.names.len() + self.nets.len()
    }

    /// `true` when nothing is denied.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The addresses a connection to `ip` may reach, normalised: the canonical
/// form (IPv4-mapped IPv6 as IPv4), and for the unspecified address also
/// the loopback address of its family, which is where Linux sends it.
pub fn reaches(ip: IpAddr) -> Vec<IpAddr> {
    let ip = ip.to_canonical();
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => vec![ip, Ipv4Addr::LOCALHOST.into()],
        IpAddr::V6(v6) if v6.is_unspecified() => vec![ip, Ipv6Addr::LOCALHOST.into()],
        _ => vec![ip],
    }
}

/// An IP address in any spelling the system resolver accepts for one:
/// an IPv6 literal, or an IPv4 address in the forms of `inet_aton(3)` —
/// one to four parts, each decimal, octal (leading `0`) or hex (`0x`), the
/// last part filling the remaining bytes (`127.1`, `0x7f.1`,
/// `2130706433`, `0177.0.0.1`). `None` for anything else, e.g. a name.
pub fn parse_ip_any_spelling(text: &str) -> Option<IpAddr> {
    if let Ok(v6) = text.parse::<Ipv6Addr>() {
        return Some(IpAddr::V6(v6));
    }
    parse_ipv4_like_inet_aton(text).map(IpAddr::V4)
}

fn parse_ipv4_like_inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        values.push(parse_inet_aton_part(part)?);
    }
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|&v| v > 0xff) {
        return None;
    }
    // At most three leading parts (`parts.len() <= 4`), so 8..=32 bits.
    let last_bits = 8 * (4 - leading.len());
    if last_bits < 32 && *last >= 1u64 << last_bits {
        return None;
    }
    if *last > u64::from(u32::MAX) {
        return None;
    }
    let mut value: u64 = 0;
    for &v in leading {
        value = (value << 8) | v;
    }
    value = (value << last_bits) | last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

/// One part of an `inet_aton` address: `0x1f`, `017`, `31`.
fn parse_inet_aton_part(part: &str) -> Option<u64> {
    if part.is_empty() || part.len() > 12 {
        return None;
    }
    let lower = part.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        if hex.is_empty() {
            return Some(0);
        }
        return u64::from_str_radix(hex, 16).ok();
    }
    if lower.len() > 1 && lower.starts_with('0') {
        return u64::from_str_radix(&lower[1..], 8).ok();
    }
    if lower.bytes().all(|b| b.is_ascii_digit()) {
        return lower.parse().ok();
    }
    None
}

/// A network of IPv4-mapped IPv6 addresses as the IPv4 network it is.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn normalise(host: &str) -> String {
    strip_brackets(host.trim_end_matches('.')).to_ascii_lowercase()
}

#[cfg(test)]
mod tests;
