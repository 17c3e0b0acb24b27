//! Namespaces of its own for one sandboxed harness process: a network
//! with nothing but its own loopback, and (at [`Isolation::Full`]) a PID
//! namespace with its own `/proc`, whose end kills everything in it.
//!
//! [`enter`] is called at the very start of `harness grade --sandbox` and
//! `harness sandbox-exec`, while the process is still single-threaded. It
//! unshares the namespaces (as root directly, otherwise inside a user
//! namespace of its own, where the kernel allows that), then forks:
//!
//! - the parent (the *outer* process) only waits, and exits with the
//!   child's status. It is what the caller started and kills;
//! - the child (the *inner* process) dies with it (`PR_SET_PDEATHSIG`),
//!   starts a session of its own (so the scheduler's autogroup gives the
//!   whole submission one share of the CPU: a fork bomb's thousand
//!   spinning processes compete with each other, not with the other
//!   submissions graded at the same time), is PID 1 of the new PID
//!   namespace — when it exits, the kernel kills every process left in
//!   it, however it forked or whatever session it started — mounts a
//!   fresh `/proc` (so process ids the harness reads there are the ones
//!   it spawned), and brings the namespace's loopback up. [`enter`]
//!   returns in the inner process only.
//!
//! The harness's origins then listen on the namespace's 127.0.0.1, the
//! proxy it starts there reaches them and nothing else: not the grading
//! host's own services on its loopback, not another submission's
//! namespace, not the network. Parallel grades cannot collide on a port.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result, bail};
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe2, setsid};
use serde::{Deserialize, Serialize};

/// How much of the host an untrusted program is kept from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Network, PID and mount namespaces (with a fresh `/proc`).
    Full,
    /// A network namespace only (the kernel refused a PID namespace or a
    /// new `/proc`).
    Network,
    /// No namespace: resource limits, free ports and process groups only.
    None,
}

impl Isolation {
    /// How a report describes it.
    pub fn describe(self) -> &'static str {
        match self {
            Isolation::Full => {
                "private network, PID and mount namespaces (only its own loopback; everything it started dies with the grade)"
            }
            Isolation::Network => "a private network namespace (only its own loopback)",
            Isolation::None => {
                "no namespaces: resource limits, free ports and process groups only (the submission could reach the host's loopback and the network)"
            }
        }
    }
}

/// This process's id before [`enter`] (inside a PID namespace of its own
/// the inner process is 1).
static ORIGINAL_PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// The id the harness had on the host: [`std::process::id`] before
/// [`enter`], unique among the processes running there.
pub fn original_pid() -> u32 {
    ORIGINAL_PID.get().copied().unwrap_or_else(std::process::id)
}

/// Enters namespaces for `level`, forks, and returns in the inner process
/// (see the module docs); the outer process waits for it and exits with
/// its status, so this function returns only there. Must be called while
/// the process has a single thread.
pub fn enter(level: Isolation) -> Result<()> {
    let _ = ORIGINAL_PID.set(std::process::id());
    if threads() != Some(1) {
        bail!("namespaces must be entered before any thread starts");
    }
    if level != Isolation::None {
        unshare_for(level)?;
    }
    // The life line: the outer process holds the write end; the inner sees
    // end-of-file on its read end once the outer is gone.
    let (alive_r, alive_w) = pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    // SAFETY: fork is sound here because this process has one thread
    // (checked above): the child gets a consistent copy of every lock and
    // allocator state, and goes on running ordinary Rust code.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Parent { child } => {
            drop(alive_r);
            let code = loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => break code,
                    Ok(WaitStatus::Signaled(_, signal, _)) => break 128 + signal as i32,
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => break 125,
                }
            };
            drop(alive_w);
            std::process::exit(code);
        }
        ForkResult::Child => {
            drop(alive_w);
            inner_setup(level, alive_r)
        }
    }
}

/// The `unshare` for `level`: directly as root, else in a user namespace
/// of our own that maps this user to its root.
fn unshare_for(level: Isolation) -> Result<()> {
    let root = nix::unistd::geteuid().is_root();
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    let mut flags = CloneFlags::CLONE_NEWNET;
    if level == Isolation::Full {
        flags |= CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS;
    }
    if !root {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    unshare(flags).with_context(|| format!("unshare({flags:?})"))?;
    if !root {
        write_file("/proc/self/setgroups", "deny")?;
        write_file("/proc/self/uid_map", &format!("0 {uid} 1\n"))?;
        write_file("/proc/self/gid_map", &format!("0 {gid} 1\n"))?;
    }
    Ok(())
}

fn write_file(path: &str, text: &str) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("writing {text:?} to {path}"))
}

/// The inner process's part: die with the outer, a session of its own, a
/// fresh `/proc`, the loopback up.
fn inner_setup(level: Isolation, alive: OwnedFd) -> Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("PR_SET_PDEATHSIG")?;
    // The outer may have died before the line above: then the pipe is
    // already at end-of-file.
    nix::fcntl::fcntl(&alive, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).context("fcntl")?;
    if let Ok(0) = nix::unistd::read(&alive, &mut [0u8; 1]) {
        std::process::exit(125);
    }
    drop(alive);
    setsid().context("setsid")?;
    if level == Isolation::Full {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .context("making the mounts private")?;
        mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .context("mounting a fresh /proc")?;
    }
    if level != Isolation::None {
        loopback_up()?;
    }
    Ok(())
}

nix::ioctl_read_bad!(get_interface_flags, libc::SIOCGIFFLAGS, libc::ifreq);
nix::ioctl_write_ptr_bad!(set_interface_flags, libc::SIOCSIFFLAGS, libc::ifreq);

/// Brings the namespace's `lo` up (a new network namespace has it down,
/// and 127.0.0.1 cannot be bound until it is up).
fn loopback_up() -> Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket for ioctl")?;
    // SAFETY: ifreq is a plain C struct (a name and a union of integers
    // and addresses) for which all zero bytes are a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    #[allow(
        clippy::cast_possible_wrap,
        reason = "c_char is i8 or u8 depending on the target; `as` copies the ASCII byte either way"
    )]
    for (to, from) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *to = *from as libc::c_char;
    }
    let up = libc::c_short::try_from(libc::IFF_UP).context("IFF_UP as a short")?;
    // SAFETY: the ioctls read and write one ifreq, which `request` is, on
    // a socket this function owns; the kernel fills the flags member of
    // the union, which is the member read and written below.
    unsafe {
        get_interface_flags(sock.as_raw_fd(), &raw mut request).context("SIOCGIFFLAGS lo")?;
        request.ifr_ifru.ifru_flags |= up;
        set_interface_flags(sock.as_raw_fd(), &raw const request).context("SIOCSIFFLAGS lo up")?;
    }
    Ok(())
}

/// The number of threads of this process, from `/proc`.
fn threads() -> Option<u64> {
    crate::process::procfs::threads(std::process::id())
}
