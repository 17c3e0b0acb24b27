//! The state every connection of one proxy shares, and the pure part of
//! `doit`: from a request head to what must be done with it.
//!
//! [`Proxy::prepare`] parses the head, applies the deny list to the names,
//! decides whether the cache may be used, and builds the origin request and
//! the cache key. [`Proxy::check_resolved`] applies the deny list and the
//! loop guard to the addresses the target resolved to. Both the blocking
//! and the async connection code call them, so the rules live in one place.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::cache::Cache;
use crate::cache_policy::request_may_use_cache;
use crate::config::Config;
use crate::deny::{DenyList, reaches};
use crate::error::ProxyError;
use crate::outcome::{CacheUse, Outcome};
use crate::relay::status_of;
use crate::request::{Request, Target, parse_host_header, parse_request};
use crate::rewrite::origin_request;

/// One proxy's configuration, deny list, cache and own address.
#[derive(Debug)]
pub struct Proxy {
    /// The command line it was started with.
    pub config: Config,
    /// Hosts, addresses and networks refused with 403.
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
    /// `None` when the cache may answer this request and store its
    /// response; otherwise the request header that forbids it (SPEC §5).
    pub bypass: Option<&'static str>,
}

/// What the cache says about a prepared request.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A stored response: send these bytes, the origin is not contacted.
    Hit(Arc<[u8]>),
    /// Go to the origin, and offer the response to this cache (`None`:
    /// the cache is off or the request may not use it).
    Miss(Option<&'a Cache>),
}

impl Proxy {
    /// Builds the shared state from the command line. An unreadable
    /// `--deny-file` or a bad deny entry is an error naming it.
    pub fn new(config: Config, local_addr: SocketAddr) -> std::io::Result<Proxy> {
        let deny = DenyList::new(&config.deny, config.deny_file.as_deref())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
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
    /// The client's `Host` header is forwarded (SPEC §4.4), so it must be a
    /// valid `host[:port]` (checked while parsing), it is also checked
    /// against the deny list, and when it names another authority than the
    /// URI it becomes part of the cache key: otherwise a client could store
    /// one virtual host's page under another's URI.
    pub fn prepare(&self, head: &[u8]) -> Result<Prepared, ProxyError> {
        let request = parse_request(head)?;
        self.deny.check(&request.target.host)?;
        let mut cache_key = request.target.cache_key();
        if let Some(value) = request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("Host"))
        {
            let (host, port) = parse_host_header(&value.value).ok_or_else(|| {
                ProxyError::BadRequest("the Host header is not a host[:port]".into())
            })?;
            self.deny.check(&host)?;
            let same =
                host.eq_ignore_ascii_case(&request.target.host) && port == request.target.port;
            if !same {
                cache_key.push_str(" host=");
                cache_key.push_str(&String::from_utf8_lossy(&value.value).to_ascii_lowercase());
            }
        }
        let bypass = request_may_use_cache(&request).err();
        let origin_request = origin_request(&request);
        Ok(Prepared {
            request,
            origin_request,
            cache_key,
            bypass,
        })
    }

    /// Applies the deny list and the loop guard to every address the
    /// target resolved to (SPEC §4, issue #14 items 5 and 6): `403` when
    /// any of them is denied, `508` when any of them, at the target's port,
    /// is where this proxy listens — whatever spelling the URI used.
    pub fn check_resolved(&self, target: &Target, addrs: &[SocketAddr]) -> Result<(), ProxyError> {
        if let Some(denied) = addrs.iter().find(|a| self.deny.denies_addr(a.ip())) {
            return Err(ProxyError::Forbidden(format!(
                "{} (resolves to {})",
                target.host,
                denied.ip()
            )));
        }
        if addrs.iter().any(|&a| self.is_self(a)) {
            return Err(ProxyError::LoopDetected(target.host_header()));
        }
        Ok(())
    }

    /// `Err(LoopDetected)` when `addr` is this proxy's own listening socket:
    /// forwarding there would make the proxy call itself forever.
    pub fn check_not_self(&self, target: &Target, addr: SocketAddr) -> Result<(), ProxyError> {
        if self.is_self(addr) {
            Err(ProxyError::LoopDetected(target.host_header()))
        } else {
            Ok(())
        }
    }

    /// `true` when a connection to `addr` would reach this proxy's
    /// listening socket: same port, and an address the proxy listens on —
    /// its bind address, or, for a wildcard bind, any address of this host
    /// of the same family. `addr` is normalised first (IPv4-mapped IPv6 as
    /// IPv4; the unspecified address as the loopback it reaches).
    pub fn is_self(&self, addr: SocketAddr) -> bool {
        let own = self.local_addr;
        addr.port() == own.port()
            && reaches(addr.ip()).into_iter().any(|ip| {
                if own.ip().is_unspecified() {
                    ip.is_ipv4() == own.ip().is_ipv4() && is_local(ip)
                } else {
                    ip == own.ip()
                }
            })
    }

    /// Asks the cache for a prepared request (the cache-hit branch both
    /// `doit`s share) and notes hit, miss or bypass in the log line.
    pub fn look_up(&self, prepared: &Prepared, outcome: &mut Outcome) -> Lookup<'_> {
        let cache = self.cache().filter(|_| prepared.bypass.is_none());
        if let Some(cache) = cache {
            if let Some(hit) = cache.get(&prepared.cache_key) {
                outcome.cache = CacheUse::Hit;
                outcome.status = status_of(&hit);
                outcome.bytes = hit.len() as u64;
                return Lookup::Hit(hit);
            }
            outcome.cache = CacheUse::Miss;
        } else if self.cache().is_some() {
            outcome.cache = CacheUse::Bypass;
        }
        Lookup::Miss(cache)
    }

    /// The cache, if it is on.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_deref()
    }
}

/// `true` for an address of this machine: loopback, unspecified, or one
/// the kernel lets a socket bind to (an address of one of its interfaces).
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback()
        || ip.is_unspecified()
        || std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn proxy(args: &[&str], local: &str) -> Proxy {
        let config = Config::parse_from(std::iter::once(&"proxy").chain(args));
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
    fn a_bad_host_header_is_400_and_a_denied_literal_403() {
        let p = proxy(&["--deny", "127.0.0.2"], "127.0.0.1:3128");
        let status = |host: &str| {
            let head = format!("GET http://ok.test/ HTTP/1.1\r\nHost: {host}\r\n\r\n");
            p.prepare(head.as_bytes()).err().and_then(|e| e.status())
        };
        assert_eq!(status(""), Some(400));
        assert_eq!(status("a,b"), Some(400));
        assert_eq!(status("ok.test:+80"), Some(400));
        assert_eq!(status("0x7f.2"), Some(403));
        assert_eq!(status("[::ffff:127.0.0.2]:80"), Some(403));
        assert_eq!(status("ok.test"), None);
    }

    #[test]
    fn requests_with_credentials_bypass_the_cache() {
        let p = proxy(&[], "127.0.0.1:3128");
        let plain = p.prepare(b"GET http://a/ HTTP/1.0\r\n\r\n").expect("ok");
        assert_eq!(plain.bypass, None);
        let cookie = p
            .prepare(b"GET http://a/ HTTP/1.0\r\nCookie: s=1\r\n\r\n")
            .expect("ok");
        assert_eq!(cookie.bypass, Some("Cookie"));
    }

    #[test]
    fn loop_guard_sees_every_spelling() {
        let p = proxy(&[], "127.0.0.1:3128");
        let t = crate::request::parse_target("http://x/").expect("t");
        for addr in ["127.0.0.1:3128", "[::ffff:127.0.0.1]:3128", "0.0.0.0:3128"] {
            let addrs = [addr.parse().expect("addr")];
            assert_eq!(
                p.check_resolved(&t, &addrs).err().and_then(|e| e.status()),
                Some(508),
                "{addr}"
            );
        }
        for addr in ["127.0.0.1:3129", "127.0.0.2:3128", "[::1]:3128"] {
            assert!(
                p.check_resolved(&t, &[addr.parse().expect("a")]).is_ok(),
                "{addr}"
            );
        }
        // One looping address among several is enough.
        let mixed = [
            "10.0.0.1:3128".parse().expect("a"),
            "0.0.0.0:3128".parse().expect("a"),
        ];
        assert!(p.check_resolved(&t, &mixed).is_err());
        let v6 = proxy(&["--bind", "::1"], "[::1]:3128");
        assert!(
            v6.check_resolved(&t, &["[::]:3128".parse().expect("a")])
                .is_err()
        );
        assert!(
            v6.check_resolved(&t, &["127.0.0.1:3128".parse().expect("a")])
                .is_ok()
        );
        let any = proxy(&["--bind", "0.0.0.0"], "0.0.0.0:3128");
        for addr in [
            "127.0.0.1:3128",
            "127.3.2.1:3128",
            "0.0.0.0:3128",
            "[::ffff:127.0.0.1]:3128",
        ] {
            assert!(
                any.check_resolved(&t, &[addr.parse().expect("a")]).is_err(),
                "{addr}"
            );
        }
        assert!(
            any.check_resolved(&t, &["[::1]:3128".parse().expect("a")])
                .is_ok()
        );
    }

    #[test]
    fn denied_addresses_are_403_before_the_loop_guard() {
        let p = proxy(&["--deny", "127.0.0.0/8"], "127.0.0.1:3128");
        let t = crate::request::parse_target("http://x/").expect("t");
        let status = p
            .check_resolved(&t, &["127.0.0.1:3128".parse().expect("a")])
            .err()
            .and_then(|e| e.status());
        assert_eq!(status, Some(403));
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
