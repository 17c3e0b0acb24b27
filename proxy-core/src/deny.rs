//! The deny list (`--deny`, `--deny-file`): hosts the proxy refuses with
//! `403`, one of the reasons people put a proxy in the middle.

use std::path::Path;

use crate::error::ProxyError;

/// Hosts that are refused, each with all of its subdomains.
#[derive(Debug, Clone, Default)]
pub struct DenyList {
    /// Lower-case host names, without a trailing dot.
    hosts: Vec<String>,
}

impl DenyList {
    /// Builds the list from `--deny` values and the lines of `--deny-file`.
    pub fn new(hosts: &[String], file: Option<&Path>) -> std::io::Result<DenyList> {
        let mut list = DenyList::default();
        for host in hosts {
            list.add(host);
        }
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)?;
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or_default();
                list.add(line);
            }
        }
        Ok(list)
    }

    fn add(&mut self, host: &str) {
        let host = normalise(host.trim().trim_start_matches("*."));
        if !host.is_empty() {
            self.hosts.push(host);
        }
    }

    /// `true` when `host` is on the list or a subdomain of an entry,
    /// compared case-insensitively (`Ads.Example.com` matches `example.com`;
    /// `notexample.com` does not).
    pub fn denies(&self, host: &str) -> bool {
        let host = normalise(host);
        self.hosts.iter().any(|denied| {
            host == *denied
                || host
                    .strip_suffix(denied.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.'))
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

    /// How many entries the list has.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// `true` when nothing is denied.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

fn normalise(host: &str) -> String {
    host.trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_host_and_subdomains_case_insensitively() {
        let list = DenyList::new(&["Example.COM".into(), "*.ads.test".into()], None).expect("list");
        assert!(list.denies("example.com"));
        assert!(list.denies("WWW.example.com."));
        assert!(list.denies("a.b.example.com"));
        assert!(!list.denies("notexample.com"));
        assert!(!list.denies("example.com.evil"));
        assert!(list.denies("x.ads.test"));
        assert!(list.denies("ads.test"));
        assert_eq!(
            list.check("example.com").err().and_then(|e| e.status()),
            Some(403)
        );
    }

    #[test]
    fn reads_a_file_with_comments() {
        let dir = std::env::temp_dir().join(format!("deny-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("deny.txt");
        std::fs::write(&path, "# blocked\nbad.test\n\n  evil.test  # trailing\n").expect("write");
        let list = DenyList::new(&[], Some(&path)).expect("list");
        assert_eq!(list.len(), 2);
        assert!(list.denies("evil.test") && list.denies("www.bad.test"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ipv6_entries_match_literals() {
        let list = DenyList::new(&["[::1]".into()], None).expect("list");
        assert!(list.denies("::1"));
    }
}
