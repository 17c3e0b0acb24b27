//! `--tls`: the same site over HTTPS, with a certificate generated at
//! start that a client can trust (and that `--tls-cert` writes out).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rustls::pki_types::{CertificateDer, ServerName};

fn start(args: &[&str]) -> tiny_origin::ServerHandle {
    let config = tiny_origin::Config::try_parse_from(
        ["tiny-origin", "0", "--tls"]
            .iter()
            .chain(args.iter())
            .copied(),
    )
    .expect("flags");
    tiny_origin::start(&config).expect("start")
}

/// One HTTP/1.0 request over TLS, trusting only `cert`; the raw answer.
fn https_get(server: &tiny_origin::ServerHandle, path: &str) -> Vec<u8> {
    let cert = server
        .certificate()
        .expect("a TLS server has a certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.der.clone()))
        .expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let tls = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = TcpStream::connect(server.addr()).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("answer");
    answer
}

#[test]
fn serves_the_site_over_tls() {
    let server = start(&[]);
    let answer = https_get(&server, "/bytes/300000");
    let body_at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert!(answer.starts_with(b"HTTP/1.0 200 OK\r\n"));
    assert_eq!(answer[body_at..], tiny_origin::pattern_bytes(300_000)[..]);
    let home = https_get(&server, "/home.html");
    assert!(home.ends_with(tiny_origin::home_html().as_bytes()));
}

#[test]
fn plain_http_on_the_tls_port_gets_no_page_and_the_cert_file_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("cert.pem");
    let server = start(&["--tls-cert", path.to_str().expect("utf-8")]);
    let pem = std::fs::read_to_string(&path).expect("cert file");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        Some(pem.as_str()),
        server.certificate().map(|c| c.pem.as_str())
    );
    let mut tcp = TcpStream::connect(server.addr()).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let _ = tcp.write_all(b"GET /home.html HTTP/1.0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(!answer.windows(4).any(|w| w == b"HTTP"), "{answer:?}");
}
