//! The state every connection of one proxy shares, and the pure part of
//! `doit`: from a request head to what must be done with it.
//!
//! [`Proxy::prepare`] parses the head, applies the deny list, builds the
//! origin request and the cache key. Both the blocking and the async
//! connection code call it, so the rules live in one place.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::cache::Cache;
use crate::config::Config;
use crate::deny::DenyList;
use crate::error::ProxyError;
use crate::request::{Request, Target, parse_request};
use crate::rewrite::origin_request;

/// One proxy's configuration, deny list, cache and own address.
#[derive(Debug)]
pub struct Proxy {
    /// The command line it was started with.
    pub config: Config,
    /// Hosts refused with 403.
    pub deny: DenyList,
    /// The shared cache, `None` with `--no-cache`.
    pub cache: Option<Arc<Cache>>,
    /// The address the proxy listens on (to refuse requests for itself).
    pub local_addr: SocketAddr,
}

/// A request that passed every check, ready to be served.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The parsed client request.
    pub request: Request,
    /// The exact bytes to send to the origin (SPEC §4.4).
    pub origin_request: Vec<u8>,
    /// The normalised URI the cache uses.
    pub cache_key: String,
}

impl Proxy {
    /// Builds the shared state from the command line.
    pub fn new(config: Config, local_addr: SocketAddr) -> std::io::Result<Proxy> {
        let deny = DenyList::new(&config.deny, config.deny_file.as_deref())?;
        let cache =
            (!config.no_cache).then(|| Arc::new(Cache::new(config.cache_size, config.max_object)));
        Ok(Proxy {
            config,
            deny,
            cache,
            local_addr,
        })
    }

    /// Everything `doit` decides before touching the origin.
    ///
    /// The client's `Host` header is forwarded (SPEC §4.4), so it is also
    /// checked against the deny list, and when it names another host than
    /// the URI it becomes part of the cache key: otherwise a client could
    /// store one virtual host's page under another's URI.
    pub fn prepare(&self, head: &[u8]) -> Result<Prepared, ProxyError> {
        let request = parse_request(head)?;
        self.deny.check(&request.target.host)?;
        let client_host = request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("Host"))
            .map(|h| String::from_utf8_lossy(&h.value).to_ascii_lowercase());
        let mut cache_key = request.target.cache_key();
        if let Some(host) = &client_host {
            self.deny.check(host_part(host))?;
            if !same_authority(host, &request.target) {
                cache_key.push_str(" host=");
                cache_key.push_str(host);
            }
        }
        let origin_request = origin_request(&request);
        Ok(Prepared {
            request,
            origin_request,
            cache_key,
        })
    }

    /// `Err(LoopDetected)` when `addr` is this proxy's own listening socket:
    /// forwarding there would make the proxy call itself forever.
    pub fn check_not_self(&self, target: &Target, addr: SocketAddr) -> Result<(), ProxyError> {
        let own = self.local_addr;
        let same_ip = addr.ip() == own.ip()
            || (own.ip().is_unspecified() && (addr.ip().is_loopback() || is_local(addr.ip())));
        if addr.port() == own.port() && same_ip {
            Err(ProxyError::LoopDetected(target.host_header()))
        } else {
            Ok(())
        }
    }

    /// The cache, if it is on.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_deref()
    }
}

/// The host of a `Host` header value, without its port or IPv6 brackets.
fn host_part(value: &str) -> &str {
    match value.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => value.split(':').next().unwrap_or(value),
    }
}

/// `true` when a `Host` value names the target's host and port (the
/// port defaulting to 80, so `a.test:80` and `a.test` are the same).
fn same_authority(value: &str, target: &Target) -> bool {
    let host = host_part(value);
    let after_host = match value.strip_prefix('[') {
        Some(v6) => v6.get(host.len() + 1..).unwrap_or_default(),
        None => value.get(host.len()..).unwrap_or_default(),
    };
    let port = match after_host.strip_prefix(':') {
        Some(port) => port.parse::<u16>().ok(),
        None if after_host.is_empty() => Some(80),
        None => None,
    };
    host.eq_ignore_ascii_case(&target.host) && port == Some(target.port)
}

/// `true` for addresses that are this machine's own whatever the interface
/// (the unspecified address reaches the local host when connected to).
fn is_local(ip: IpAddr) -> bool {
    ip.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn proxy(args: &[&str], local: &str) -> Proxy {
        let mut argv = vec!["proxy"];
        argv.extend_from_slice(args);
        let config = Config::parse_from(argv);
        Proxy::new(config, local.parse().expect("addr")).expect("proxy")
    }

    #[test]
    fn prepare_applies_deny_and_builds_key() {
        let p = proxy(&["--deny", "blocked.test"], "127.0.0.1:3128");
        let ok = p
            .prepare(b"GET http://A.test:81/x HTTP/1.1\r\n\r\n")
            .expect("ok");
        assert_eq!(ok.cache_key, "http://a.test:81/x");
        assert!(ok.origin_request.starts_with(b"GET /x HTTP/1.0\r\n"));
        let denied = p.prepare(b"GET http://www.Blocked.test/ HTTP/1.1\r\n\r\n");
        assert_eq!(denied.err().and_then(|e| e.status()), Some(403));
    }

    #[test]
    fn client_host_is_denied_and_keyed() {
        let p = proxy(&["--deny", "blocked.test"], "127.0.0.1:3128");
        let denied =
            p.prepare(b"GET http://ok.test/ HTTP/1.1\r\nHost: WWW.blocked.test:80\r\n\r\n");
        assert_eq!(denied.err().and_then(|e| e.status()), Some(403));
        let same = p
            .prepare(b"GET http://ok.test/ HTTP/1.1\r\nHost: OK.test\r\n\r\n")
            .expect("ok");
        assert_eq!(same.cache_key, "http://ok.test:80/");
        let other = p
            .prepare(b"GET http://ok.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n")
            .expect("ok");
        assert_eq!(other.cache_key, "http://ok.test:80/ host=other.test");
        for (host, key) in [
            ("ok.test:80", "http://ok.test:80/"),
            ("ok.test:81", "http://ok.test:80/ host=ok.test:81"),
            ("", "http://ok.test:80/ host="),
        ] {
            let head = format!("GET http://ok.test/ HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert_eq!(p.prepare(head.as_bytes()).expect("ok").cache_key, key);
        }
        let v6 = p
            .prepare(b"GET http://[::1]:81/ HTTP/1.1\r\nHost: [::1]:81\r\n\r\n")
            .expect("ok");
        assert_eq!(v6.cache_key, "http://[::1]:81/");
    }

    #[test]
    fn refuses_its_own_address() {
        let p = proxy(&[], "127.0.0.1:3128");
        let t = crate::request::parse_target("http://127.0.0.1:3128/").expect("t");
        let status = |addr: &str| {
            p.check_not_self(&t, addr.parse().expect("addr"))
                .err()
                .and_then(|e| e.status())
        };
        assert_eq!(status("127.0.0.1:3128"), Some(508));
        assert_eq!(status("127.0.0.1:3129"), None);
        let any = proxy(&["--bind", "0.0.0.0"], "0.0.0.0:3128");
        assert!(
            any.check_not_self(&t, "127.0.0.1:3128".parse().expect("a"))
                .is_err()
        );
        assert!(
            any.check_not_self(&t, "0.0.0.0:3128".parse().expect("a"))
                .is_err()
        );
    }
}
