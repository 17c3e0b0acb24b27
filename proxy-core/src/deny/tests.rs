use super::*;

fn list(entries: &[&str]) -> DenyList {
    let entries: Vec<String> = entries
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    DenyList::new(&entries, None).expect("list")
}

#[test]
fn matches_host_and_subdomains_case_insensitively() {
    let list = list(&["Example.COM", "*.ads.test"]);
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
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("deny.txt");
    std::fs::write(
        &path,
        "# blocked\nbad.test\n\n  evil.test  # trailing\n10.0.0.0/8\n",
    )
    .expect("write");
    let list = DenyList::new(&[], Some(&path)).expect("list");
    assert_eq!(list.len(), 3);
    assert!(list.denies("evil.test") && list.denies("www.bad.test"));
    assert!(list.denies_addr("10.1.2.3".parse().expect("ip")));
}

#[test]
fn errors_name_the_file_and_the_line() {
    let missing = std::path::Path::new("/nonexistent/deny-list.txt");
    let err = DenyList::new(&[], Some(missing)).expect_err("missing file");
    let text = err.to_string();
    assert!(
        text.contains("--deny-file /nonexistent/deny-list.txt"),
        "{text}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("deny.txt");
    std::fs::write(&path, "ok.test\n10.0.0.0/33\n").expect("write");
    let text = DenyList::new(&[], Some(&path))
        .expect_err("bad net")
        .to_string();
    assert!(
        text.contains(&format!("{} line 2", path.display())) && text.contains("10.0.0.0/33"),
        "{text}"
    );
    let text = DenyList::new(&["a,b".into()], None)
        .expect_err("bad name")
        .to_string();
    assert!(text.contains("--deny") && text.contains("a,b"), "{text}");
}

#[test]
fn every_spelling_of_a_denied_address_is_denied() {
    let list = list(&["127.0.0.1", "[::1]"]);
    for spelling in [
        "127.0.0.1",
        "2130706433",
        "0x7f.1",
        "0x7F000001",
        "127.1",
        "127.0.1",
        "0177.0.0.1",
        "127.000.000.001",
        "::ffff:127.0.0.1",
        "[::ffff:127.0.0.1]",
        "[0:0:0:0:0:0:0:1]",
        "::1",
        "0.0.0.0",
        "0",
        "[::]",
    ] {
        assert!(list.denies(spelling), "{spelling} is not denied");
    }
    for other in ["127.0.0.2", "128.0.0.1", "0x80.1", "::2", "10.0.0.1"] {
        assert!(!list.denies(other), "{other} is denied");
    }
}

#[test]
fn networks_and_mapped_networks() {
    let list = list(&["10.0.0.0/8", "::1/128", "::ffff:192.168.0.0/112"]);
    assert!(list.denies_addr("10.255.0.1".parse().expect("ip")));
    assert!(list.denies_addr("::ffff:10.0.0.1".parse().expect("ip")));
    assert!(list.denies("167772161"));
    assert!(list.denies("[::1]"));
    assert!(list.denies_addr("192.168.3.4".parse().expect("ip")));
    assert!(!list.denies_addr("11.0.0.1".parse().expect("ip")));
}

#[test]
fn inet_aton_spellings() {
    let v4 = |s: &str| parse_ipv4_like_inet_aton(s);
    assert_eq!(v4("1.2.3.4"), Some(Ipv4Addr::new(1, 2, 3, 4)));
    assert_eq!(v4("0"), Some(Ipv4Addr::UNSPECIFIED));
    assert_eq!(v4("0x"), Some(Ipv4Addr::UNSPECIFIED));
    assert_eq!(v4("1.0x10000"), Some(Ipv4Addr::new(1, 1, 0, 0)));
    assert_eq!(v4("4294967295"), Some(Ipv4Addr::BROADCAST));
    for bad in [
        "4294967296",
        "256.1.1.1",
        "1.2.3.4.5",
        "08.1.1.1",
        "a.b",
        "",
        "1..2",
        "1.2.65536",
        "example.com",
    ] {
        assert_eq!(v4(bad), None, "{bad}");
    }
}

#[test]
fn names_resolve_to_denied_addresses() {
    // `localhost` is in every /etc/hosts; `.invalid` is never resolved.
    let list = list(&["localhost", "never.invalid"]);
    assert!(!list.denies_addr("127.0.0.1".parse().expect("ip")));
    list.resolve_names(Duration::from_secs(10));
    assert!(list.denies_addr("127.0.0.1".parse().expect("ip")));
    assert!(list.denies("2130706433"));
    assert!(!list.denies_addr("10.0.0.1".parse().expect("ip")));
}
