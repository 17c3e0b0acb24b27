//! The programs the bench runs besides nginx (see [`super::nginx`]):
//! tinyproxy and squid (the peers) and our proxies, each bound to
//! 127.0.0.1 on a free port, the peers with a config file written to the
//! bench's temporary directory, each in its own process group (a
//! [`Running`] kills the group when dropped); and the site they all fetch.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow};
use harness::Running;
use harness::lab::Variant;
use harness::process::{START_TIMEOUT, free_port};

/// Where the bench's helper programs are (`None`: not installed).
#[derive(Debug, Clone)]
pub struct Tools {
    /// nginx, the origin.
    pub nginx: Option<PathBuf>,
    /// wrk, the load generator.
    pub wrk: Option<PathBuf>,
    /// tinyproxy.
    pub tinyproxy: Option<PathBuf>,
    /// squid.
    pub squid: Option<PathBuf>,
}

impl Tools {
    /// Looks for each tool on `PATH` and in the `sbin` directories, where
    /// Debian puts daemons and which a user's `PATH` may lack.
    pub fn find() -> Tools {
        Tools {
            nginx: find_program("nginx"),
            wrk: find_program("wrk"),
            tinyproxy: find_program("tinyproxy"),
            squid: find_program("squid"),
        }
    }

    /// Names of the missing tools.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            ("nginx", &self.nginx),
            ("wrk", &self.wrk),
            ("tinyproxy", &self.tinyproxy),
            ("squid", &self.squid),
        ]
        .into_iter()
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| n)
        .collect()
    }
}

/// `name` on `PATH`, else in the `sbin` directories.
fn find_program(name: &str) -> Option<PathBuf> {
    which::which(name)
        .or_else(|_| which::which_in(name, Some(SBIN), "/"))
        .ok()
}

/// Where Debian puts daemons; a user's `PATH` may lack them.
const SBIN: &str = "/usr/sbin:/usr/local/sbin:/sbin";

/// The sizes of the bodies the bench fetches, and the files' names.
pub const BODIES: [(u64, &str); 3] = [
    (1024, "1k.bin"),
    (100 * 1024, "100k.bin"),
    (10 * 1024 * 1024, "10m.bin"),
];

/// The file name for a body size.
pub fn file_for(body: u64) -> Result<&'static str> {
    BODIES
        .iter()
        .find(|(size, _)| *size == body)
        .map(|(_, name)| *name)
        .ok_or_else(|| anyhow!("no file of {body} bytes"))
}

/// Makes `dir` readable (and, with `writable`, writable) by everyone: the
/// daemons drop root for `nobody` (nginx's workers) or `proxy` (squid), and
/// must still read the files and write their logs in the temporary
/// directory, which is private to the bench's user by default.
pub fn open_up(dir: &Path, writable: bool) -> Result<()> {
    let mode = if writable { 0o777 } else { 0o755 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", dir.display()))
}

/// The body of `size` bytes the site serves: deterministic bytes, so a
/// check fetch can compare what arrived byte for byte.
#[allow(
    clippy::cast_possible_truncation,
    reason = "each byte is bits 24..32 of the xorshift state: the truncation is the point"
)]
pub fn body_bytes(size: u64) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ size;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Writes the bodies under `root`.
pub fn write_site(root: &Path) -> Result<()> {
    std::fs::create_dir_all(root)?;
    open_up(root, false)?;
    for (size, name) in BODIES {
        let path = root.join(name);
        std::fs::write(&path, body_bytes(size))
            .with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

/// Starts tinyproxy in the foreground on 127.0.0.1.
pub fn start_tinyproxy(tinyproxy: &Path, dir: &Path) -> Result<Running> {
    let port = free_port()?;
    let conf = format!(
        "# written by `harness bench`
Port {port}
Listen 127.0.0.1
Timeout 600
MaxClients 4096
LogLevel Critical
Allow 127.0.0.1
DisableViaHeader Yes
"
    );
    let path = dir.join("tinyproxy.conf");
    std::fs::write(&path, conf)?;
    let mut cmd = Command::new(tinyproxy);
    cmd.arg("-d").arg("-c").arg(&path);
    Ok(Running::start_on_port(
        "tinyproxy",
        cmd,
        port,
        START_TIMEOUT,
    )?)
}

/// Starts squid in the foreground on 127.0.0.1: with `cache` false nothing
/// is cached (`cache deny all`), otherwise a memory-only cache.
pub fn start_squid(squid: &Path, dir: &Path, cache: bool) -> Result<Running> {
    let port = free_port()?;
    let logs = dir.join("squid");
    std::fs::create_dir_all(&logs)?;
    open_up(&logs, true)?;
    let l = logs.display();
    let mut conf = format!(
        "# written by `harness bench`
http_port 127.0.0.1:{port}
http_access allow all
access_log none
cache_store_log none
cache_log {l}/cache.log
pid_filename {l}/squid.pid
coredump_dir {l}
pinger_enable off
shutdown_lifetime 0 seconds
via off
forwarded_for delete
max_filedescriptors 16384
"
    );
    if cache {
        conf.push_str(
            "cache_mem 64 MB\nmaximum_object_size_in_memory 1 MB\nmemory_cache_mode always\n",
        );
    } else {
        conf.push_str("cache deny all\ncache_mem 0 MB\n");
    }
    let path = dir.join(if cache {
        "squid-cache.conf"
    } else {
        "squid.conf"
    });
    std::fs::write(&path, conf)?;
    let mut cmd = Command::new(squid);
    cmd.arg("-N").arg("-f").arg(&path);
    Ok(Running::start_on_port("squid", cmd, port, START_TIMEOUT)?)
}

/// Starts one of our proxies with `RUST_LOG=log` and `extra` flags. `env`
/// sets the variable and execs the proxy, so the pid is the proxy's.
pub fn start_ours(variant: Variant, log: &str, extra: &[&str]) -> Result<Running> {
    let program = harness::bins::binary(variant.package())?;
    let mut args = vec![
        format!("RUST_LOG={log}"),
        program.display().to_string(),
        "0".to_string(),
    ];
    args.extend(extra.iter().map(std::string::ToString::to_string));
    Ok(Running::start_listening(
        variant.package(),
        Path::new("/usr/bin/env"),
        &args,
    )?)
}

/// A one-line description of a program's version, for the table's notes.
pub fn version(program: &Path, flag: &str) -> String {
    let Ok(out) = Command::new(program).arg(flag).output() else {
        return "?".into();
    };
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = write!(text, "{}", String::from_utf8_lossy(&out.stderr));
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("?")
        .trim()
        .to_string()
}
