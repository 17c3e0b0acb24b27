//! `CONNECT` tunnels through every variant (SPEC §4.7, issue #17): HTTPS
//! to a local TLS origin byte for byte against a direct fetch (curl, and a
//! client that half-closes), the refusals, the idle timeout, leaks, the
//! connection limit, graceful shutdown, and idle tunnels beside other
//! clients.

use std::io::Write;
use std::time::{Duration, Instant};

use harness::checks::tunnels::{
    TUNNEL_TIMEOUT, TunnelLab, curl_through_tunnel, half_closing_client, idle_tunnel_is_closed,
    idle_tunnels_beside_a_client, log_line_without_content, refusals, tunnels_do_not_leak,
};
use harness::checks::{CHECK_TIMEOUT, Check, Section, assert_all_passed, closed_port};
use harness::clients::http::{get_via_proxy, url};
use harness::clients::tls::{Ending, connect_request, get_direct_tls, get_via_tunnel};
use harness::lab::NopServer;
use harness::process::Signal;
use harness::{CONCURRENT, VARIANTS, on_each_variant, start_origin, start_variant};

/// 10 MiB, the size issue #17 asks for.
const TEN_MIB: &str = "/bytes/10485760";

#[test]
fn curl_https_through_every_variant_equals_direct() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let lab = TunnelLab::start(variant, &[])?;
        Ok(curl_through_tunnel(
            &lab,
            &["/home.html", "/images/logo.gif", "/big.bin", TEN_MIB],
        ))
    });
    assert_all_passed(&checks);
}

#[test]
fn a_client_that_half_closes_still_gets_the_whole_answer() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let lab = TunnelLab::start(variant, &[])?;
        Ok(vec![
            half_closing_client(&lab, "/bytes/1000000"),
            log_line_without_content(&lab),
        ])
    });
    assert_all_passed(&checks);
}

#[test]
fn tunnels_to_ports_not_allowed_denied_or_closed_hosts_are_refused() {
    let tls = start_origin(&["--tls"]).expect("origin");
    let closed = closed_port();
    let checks = on_each_variant(&VARIANTS, |variant| {
        refusals(variant, tls.addr.port(), closed)
    });
    assert_all_passed(&checks);
}

#[test]
fn an_idle_tunnel_is_closed_after_the_idle_timeout() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        Ok(vec![idle_tunnel_is_closed(variant)?])
    });
    assert_all_passed(&checks);
}

#[test]
fn tunnels_leave_no_descriptor_or_thread_behind() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let lab = TunnelLab::start(variant, &[])?;
        tunnels_do_not_leak(&lab, 60)
            .map(|check| vec![check])
            .ok_or_else(|| anyhow::anyhow!("/proc not readable"))
    });
    assert_all_passed(&checks);
}

/// 200 idle tunnels do not hold up a client beside them (thread and async;
/// proxy-seq serves one connection at a time, tunnels included). Prints
/// what the open tunnels cost.
#[test]
fn two_hundred_idle_tunnels_do_not_block_other_clients() {
    let checks = on_each_variant(&CONCURRENT, |variant| {
        let (checks, footprint) = idle_tunnels_beside_a_client(variant, 200)?;
        match footprint {
            Some(f) => println!(
                "{variant}: {} idle tunnels: {} threads, {} fds, {} KiB RSS",
                f.tunnels, f.threads, f.fds, f.rss_kib
            ),
            None => println!("{variant}: /proc not readable, no footprint"),
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}

/// `--max-conns` counts tunnels: with two open, a third client gets 503.
#[test]
fn max_conns_counts_tunnels() {
    let checks = on_each_variant(&CONCURRENT, |variant| {
        let nop = NopServer::start()?;
        let origin = start_origin(&[])?;
        let port = nop.addr.port().to_string();
        let proxy = start_variant(variant, &["--connect-ports", &port, "--max-conns", "2"])?;
        let open: Vec<_> = (0..2)
            .map(|_| connect_request(proxy.addr, &nop.addr.to_string(), CHECK_TIMEOUT))
            .collect();
        let opened = open.iter().all(|r| matches!(r, Ok((_, Some(200)))));
        let third = get_via_proxy(proxy.addr, &url(origin.addr, "/home.html"), CHECK_TIMEOUT)
            .map(|r| r.status);
        let name = "a third client beside two tunnels at --max-conns 2 gets 503";
        Ok(vec![match (opened, third) {
            (true, Ok(Some(503))) => Check::pass(Section::Tunnels, name),
            (opened, third) => Check::fail(
                Section::Tunnels,
                name,
                format!("tunnels opened: {opened}; third client: {third:?}"),
                None,
            ),
        }])
    });
    assert_all_passed(&checks);
}

/// SIGTERM while a tunnel carries a slow download: the download finishes
/// byte for byte and the proxy exits 0.
#[test]
fn shutdown_lets_a_tunnel_in_flight_finish() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let mut lab = TunnelLab::start(variant, &["--shutdown-grace", "20"])?;
        let path = "/slow/60000?chunk=1000&ms=20";
        let direct = get_direct_tls(lab.origin.addr, &lab.cert, path, TUNNEL_TIMEOUT)?;
        let (addrs, cert) = (lab.lab(), lab.cert.clone());
        let fetch = std::thread::spawn(move || {
            get_via_tunnel(addrs, &cert, path, Ending::Plain, TUNNEL_TIMEOUT)
        });
        std::thread::sleep(Duration::from_millis(300));
        lab.proxy.signal(Signal::SIGTERM);
        let fetched = fetch
            .join()
            .map_err(|_| anyhow::anyhow!("the fetch panicked"))?;
        let status = lab.proxy.wait_exit(Duration::from_secs(30));
        let name = "a tunnel in flight finishes after SIGTERM, then exit 0";
        Ok(vec![match (fetched, status.and_then(|s| s.code())) {
            (Ok(body), Some(0)) if body == direct => Check::pass(Section::Tunnels, name),
            (fetched, code) => Check::fail(
                Section::Tunnels,
                name,
                format!(
                    "fetched {:?} of {} bytes, exit code {code:?}",
                    fetched.map(|b| b.len()),
                    direct.len()
                ),
                None,
            ),
        }])
    });
    assert_all_passed(&checks);
}

/// A tunnel is a connection like any other for the grace period: one held
/// open by a silent client does not keep the proxy from exiting.
#[test]
fn an_idle_tunnel_does_not_outlive_the_grace_period() {
    for variant in VARIANTS {
        let nop = NopServer::start().expect("nop");
        let port = nop.addr.port().to_string();
        let mut proxy = start_variant(
            variant,
            &["--connect-ports", &port, "--shutdown-grace", "1"],
        )
        .expect("proxy");
        let (mut tunnel, status) =
            connect_request(proxy.addr, &nop.addr.to_string(), CHECK_TIMEOUT).expect("connect");
        assert_eq!(status, Some(200), "{variant}");
        let _ = tunnel.write_all(b"x");
        let _held = tunnel;
        proxy.signal(Signal::SIGTERM);
        let started = Instant::now();
        let status = proxy
            .wait_exit(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{variant}: still running 30 s after SIGTERM"));
        assert_eq!(status.code(), Some(0), "{variant}: {status:?}");
        println!("{variant}: exited {:?} after SIGTERM", started.elapsed());
    }
}

/// `harness compare`'s scenario (e): while one client talks both ways in
/// a tunnel, proxy-seq serves nobody else (every other first byte comes
/// after the tunnel closed); thread and async serve the others while the
/// tunnel is still open (it stays open until they are done). An ordering,
/// not a timing: the tunnel's bound only ends the sequential run.
#[test]
fn compare_shows_proxy_seq_frozen_by_a_busy_tunnel() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let run =
            harness::compare::tunnel::beside_a_busy_tunnel(variant, 4, Duration::from_secs(8))?;
        let closed = run.tunnel.end_ms;
        let firsts: Vec<Option<f64>> = run.others.iter().map(|b| b.first_byte_ms).collect();
        let served = run.others.iter().all(|b| b.ok) && run.others.len() == 4;
        let (expected, held) = if variant.is_concurrent() {
            (
                "served while the tunnel is open",
                firsts.iter().all(|f| f.is_some_and(|t| t < closed)),
            )
        } else {
            (
                "served only after the tunnel closed",
                firsts.iter().all(|f| f.is_some_and(|t| t >= closed)),
            )
        };
        let name = format!("beside a busy tunnel, the others are {expected}");
        Ok(vec![if served && held && run.rounds > 0 && run.tunnel.ok {
            Check::pass(Section::Tunnels, name)
        } else {
            Check::fail(
                Section::Tunnels,
                name,
                format!(
                    "tunnel closed at {closed:.0} ms after {} rounds (ok {}); others' first bytes {firsts:?}",
                    run.rounds, run.tunnel.ok
                ),
                None,
            )
        }])
    });
    assert_all_passed(&checks);
}

/// The TLS cell for `harness bench` ([`harness::tunnel_load`]), run tiny on
/// each variant: every download arrives whole and right.
#[test]
fn tunnel_load_runs_tiny_on_every_variant() {
    use harness::tunnel_load::{TunnelLoadPlan, tunnel_load};
    let checks = on_each_variant(&VARIANTS, |variant| {
        let lab = TunnelLab::start(variant, &[])?;
        let plan = TunnelLoadPlan {
            connections: 2,
            object: 1 << 20,
            duration: Duration::from_millis(300),
            fetch_timeout: TUNNEL_TIMEOUT,
        };
        let load = tunnel_load(Some(lab.proxy.addr), lab.origin.addr, &lab.cert, &plan);
        println!(
            "{variant}: {} fetches of 1 MiB, {} errors, {:.1} MiB/s",
            load.fetches,
            load.errors,
            load.mib_per_sec()
        );
        let name = "1 MiB downloads through tunnels, 2 at once";
        Ok(vec![
            if load.fetches >= 2 && load.errors == 0 && load.bytes == load.fetches << 20 {
                Check::pass(Section::Tunnels, name)
            } else {
                Check::fail(Section::Tunnels, name, format!("{load:?}"), None)
            },
        ])
    });
    assert_all_passed(&checks);
}
