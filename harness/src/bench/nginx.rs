//! nginx twice over: the origin every subject fetches from, and the best
//! known C event loop doing our job — a forward proxy — which the targets
//! measure us against.
//!
//! Each nginx gets its own config file and prefix directory in the bench's
//! temporary directory, listens on 127.0.0.1 on a free port and runs in the
//! foreground in its own process group. The config texts are pure
//! functions, unit-tested here.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use harness::Running;
use harness::process::{START_TIMEOUT, free_port};

use super::peers::open_up;
use super::plan::Workers;

/// The origin's status page (`stub_status`): its request counter shows
/// whether a check fetch through a proxy really reached the origin.
pub const STATUS_PATH: &str = "/bench-status";

/// Settings every bench nginx shares: foreground, no access log, its own
/// pid, error log and temporary directories under `dir`.
fn preamble(dir: &Path, workers: &str) -> String {
    let d = dir.display();
    format!(
        "# written by `harness bench`
daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile 16384;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
"
    )
}

/// The origin: static files from `root` with sendfile, one worker, and a
/// `stub_status` page at [`STATUS_PATH`].
pub fn origin_conf(dir: &Path, root: &Path, port: u16) -> String {
    let mut conf = preamble(dir, "1");
    let _ = writeln!(
        conf,
        "    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
        location = {STATUS_PATH} {{ stub_status; }}
    }}
}}",
        root = root.display()
    );
    conf
}

/// nginx as a forward proxy: the request line's absolute URI (what wrk and
/// browsers send a proxy) is captured by a `map` and handed to
/// `proxy_pass` as it is, so nginx connects to the host and port the
/// client named, like our proxies; anything else gets 400. Towards the
/// origin: HTTP/1.0 and `Connection: close`, as the lab's proxy does; 64
/// KiB buffers. Without `cache`, `proxy_buffering off` relays as the bytes
/// arrive (our relay's behaviour); with it, `proxy_cache` keeps 200
/// responses (buffering on, which caching needs) and marks each response
/// `X-Cache-Status`.
pub fn forward_conf(dir: &Path, port: u16, workers: Workers, cache: bool) -> String {
    let d = dir.display();
    let workers = match workers {
        Workers::Auto => "auto",
        Workers::One => "1",
    };
    let mut conf = preamble(dir, workers);
    conf.push_str(
        r#"    map $request $forward_to {
        "~^GET (?<fwd_uri>http://[^ ]+) HTTP/1\.[01]$" $fwd_uri;
        default "";
    }
    proxy_http_version 1.0;
    proxy_set_header Connection close;
    proxy_buffer_size 64k;
    proxy_buffers 8 64k;
    proxy_busy_buffers_size 128k;
"#,
    );
    if cache {
        let _ = writeln!(
            conf,
            "    proxy_cache_path {d}/cache levels=1:2 keys_zone=bench:8m max_size=64m \
             inactive=1h use_temp_path=off;
    proxy_cache bench;
    proxy_cache_key $forward_to;
    proxy_cache_valid 200 1h;
    add_header X-Cache-Status $upstream_cache_status;"
        );
    } else {
        conf.push_str("    proxy_buffering off;\n");
    }
    let _ = writeln!(
        conf,
        r#"    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            if ($forward_to = "") {{ return 400; }}
            proxy_pass $forward_to;
        }}
    }}
}}"#
    );
    conf
}

/// Writes `conf` (built for a free port) into `dir` and starts nginx on it.
fn start(nginx: &Path, dir: &Path, name: &str, conf: impl Fn(u16) -> String) -> Result<Running> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // The workers drop root for `nobody` and must write their temporary
    // and cache files here.
    open_up(dir, true)?;
    let port = free_port()?;
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf(port)).with_context(|| format!("writing {}", path.display()))?;
    let mut cmd = Command::new(nginx);
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg(dir.join("error.log"));
    Ok(Running::start_on_port(name, cmd, port, START_TIMEOUT)?)
}

/// Starts the origin serving `root`, configured in `dir`.
pub fn start_origin(nginx: &Path, dir: &Path, root: &Path) -> Result<Running> {
    start(nginx, dir, "nginx origin", |port| {
        origin_conf(dir, root, port)
    })
}

/// Starts nginx as a forward proxy, configured in `dir`.
pub fn start_forward(nginx: &Path, dir: &Path, workers: Workers, cache: bool) -> Result<Running> {
    start(nginx, dir, "nginx fwd", |port| {
        forward_conf(dir, port, workers, cache)
    })
}

/// The origin's request counter from its `stub_status` page
/// (`server accepts handled requests` / `N N REQUESTS`).
pub fn parse_requests(status: &str) -> Option<u64> {
    let mut lines = status.lines();
    lines.find(|l| l.trim_start().starts_with("server accepts"))?;
    lines.next()?.split_whitespace().nth(2)?.parse().ok()
}

/// Fetches the origin's request counter (this fetch counts itself).
pub fn origin_requests(origin: std::net::SocketAddr) -> Result<u64> {
    let response =
        harness::clients::http::get_direct(origin, STATUS_PATH, std::time::Duration::from_secs(5))?;
    let text = String::from_utf8_lossy(response.body());
    match parse_requests(&text) {
        Some(n) if response.status == Some(200) => Ok(n),
        _ => bail!("the origin's {STATUS_PATH} said {}", response.status_line()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forward_proxy_passes_the_absolute_uri_and_relays_unbuffered() {
        let conf = forward_conf(Path::new("/tmp/b"), 4242, Workers::Auto, false);
        for line in [
            "worker_processes auto;",
            "listen 127.0.0.1:4242 backlog=4096;",
            "proxy_pass $forward_to;",
            r#""~^GET (?<fwd_uri>http://[^ ]+) HTTP/1\.[01]$" $fwd_uri;"#,
            "proxy_http_version 1.0;",
            "proxy_set_header Connection close;",
            "proxy_buffering off;",
            "proxy_buffer_size 64k;",
            "pid /tmp/b/nginx.pid;",
            "daemon off;",
        ] {
            assert!(conf.contains(line), "missing {line:?} in\n{conf}");
        }
        assert!(!conf.contains("proxy_cache"), "{conf}");
        let one = forward_conf(Path::new("/tmp/b"), 1, Workers::One, false);
        assert!(one.contains("worker_processes 1;"));
    }

    #[test]
    fn the_caching_proxy_buffers_and_caches_200s() {
        let conf = forward_conf(Path::new("/tmp/c"), 1, Workers::Auto, true);
        for line in [
            "proxy_cache bench;",
            "proxy_cache_key $forward_to;",
            "proxy_cache_valid 200 1h;",
            "proxy_cache_path /tmp/c/cache ",
            "add_header X-Cache-Status $upstream_cache_status;",
        ] {
            assert!(conf.contains(line), "missing {line:?} in\n{conf}");
        }
        // nginx cannot cache with buffering off.
        assert!(!conf.contains("proxy_buffering off"), "{conf}");
    }

    #[test]
    fn braces_balance() {
        for conf in [
            forward_conf(Path::new("/d"), 1, Workers::One, true),
            forward_conf(Path::new("/d"), 1, Workers::Auto, false),
            origin_conf(Path::new("/d"), Path::new("/d/www"), 2),
        ] {
            let open = conf.matches('{').count();
            assert_eq!(open, conf.matches('}').count(), "{conf}");
        }
    }

    #[test]
    fn the_origin_serves_files_with_sendfile_and_counts_requests() {
        let conf = origin_conf(Path::new("/d"), Path::new("/d/www"), 7);
        assert!(conf.contains("root /d/www;") && conf.contains("sendfile on;"));
        assert!(conf.contains("location = /bench-status { stub_status; }"));
        assert!(conf.contains("worker_processes 1;"));
    }

    #[test]
    fn reads_the_request_counter() {
        let page = "Active connections: 1 \nserver accepts handled requests\n 12 12 37 \n\
                    Reading: 0 Writing: 1 Waiting: 0 \n";
        assert_eq!(parse_requests(page), Some(37));
        assert_eq!(parse_requests("Active connections: 1\n"), None);
        assert_eq!(
            parse_requests("server accepts handled requests\n 1 2\n"),
            None
        );
    }
}
