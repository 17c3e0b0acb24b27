//! A server under test: started in its own process group, waited for
//! (bounded) until it listens, its output kept, killed with its group when
//! dropped — so a test that fails half-way leaves nothing listening.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::group::{Signal, kill_group, send_signal};
use super::output::{Output, drain};
use super::{describe_exit, procfs};

/// How long a server may take to print `listening on` / accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Lines of output shown when a start fails.
const TAIL_LINES: usize = 8;

/// Why a server did not start. Typed, so a caller can tell a process that
/// exited at once (worth retrying on another port) from one that never
/// listened.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The program could not be run at all.
    #[error("cannot run {name}: {source}")]
    Spawn {
        /// What was started.
        name: String,
        /// Why not.
        source: std::io::Error,
    },
    /// It exited before (or right after) it listened.
    #[error("{name} exited ({}) before it listened{}", describe_exit(*.status), shown(.output))]
    Exited {
        /// What was started.
        name: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines it printed (stdout and stderr).
        output: String,
    },
    /// It ran, but did not listen in time.
    #[error("{name} did not {what} within {waited:?}{}", shown(.output))]
    NoListen {
        /// What was started.
        name: String,
        /// "print `listening on`", "accept connections on port N".
        what: String,
        /// How long it was given.
        waited: Duration,
        /// The last lines it printed.
        output: String,
    },
    /// Its first line was not `listening on ADDR:PORT`.
    #[error("{name}: first line was {line:?}, expected `listening on ADDR:PORT`{}", shown(.output))]
    BadFirstLine {
        /// What was started.
        name: String,
        /// The line it printed.
        line: String,
        /// The last lines it printed.
        output: String,
    },
}

fn shown(output: &str) -> String {
    if output.trim().is_empty() {
        "; it printed nothing".to_string()
    } else {
        format!("; its last lines:\n{output}")
    }
}

/// A child process under test.
#[derive(Debug)]
pub struct Running {
    /// What was started, for messages.
    pub name: String,
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
    stdout: Output,
    stderr: Output,
    exit: Option<ExitStatus>,
}

impl Running {
    /// Starts `program args…` and waits (bounded) for its first stdout line
    /// `listening on ADDR:PORT`.
    pub fn start_listening(
        name: &str,
        program: &Path,
        args: &[String],
    ) -> Result<Running, StartError> {
        let mut cmd = Command::new(program);
        cmd.args(args);
        let (mut running, stdout) = spawn(name, cmd)?;
        let (tx, rx) = mpsc::channel();
        let kept = running.stdout.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            kept.append(first.as_bytes());
            let _ = tx.send(first);
            let _ = drain(reader, kept).join();
        });
        let Ok(line) = rx.recv_timeout(START_TIMEOUT) else {
            let error = running.not_listening("print `listening on`", START_TIMEOUT);
            running.kill();
            return Err(error);
        };
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse::<SocketAddr>().ok());
        if let Some(addr) = addr {
            running.addr = addr;
            Ok(running)
        } else {
            // Give stderr a moment to arrive, for the message.
            std::thread::sleep(Duration::from_millis(50));
            let error = match running.exit_status() {
                Some(status) if line.is_empty() => running.exited(status),
                _ => StartError::BadFirstLine {
                    name: running.name.clone(),
                    line,
                    output: running.tail(),
                },
            };
            running.kill();
            Err(error)
        }
    }

    /// Starts a command that takes its port on the command line (a
    /// student's `./proxy PORT`), on a port picked free just before, and
    /// waits (bounded by `limit`) until a socket listens on that port, as
    /// driver.sh waits for it — by looking, not by connecting.
    pub fn start_on_port(
        name: &str,
        cmd: Command,
        port: u16,
        limit: Duration,
    ) -> Result<Running, StartError> {
        let (mut running, stdout) = spawn(name, cmd)?;
        drain(stdout, running.stdout.clone());
        let deadline = Instant::now() + limit;
        loop {
            let listening = procfs::listening(port);
            if listening.any() {
                // Something listens there; make sure it is our process (a
                // program that failed to bind may exit just after).
                std::thread::sleep(Duration::from_millis(50));
                if let Some(status) = running.exit_status() {
                    return Err(running.exited(status));
                }
                let ip: IpAddr = if listening.ipv4 {
                    Ipv4Addr::LOCALHOST.into()
                } else {
                    Ipv6Addr::LOCALHOST.into()
                };
                running.addr = SocketAddr::new(ip, port);
                return Ok(running);
            }
            if let Some(status) = running.exit_status() {
                return Err(running.exited(status));
            }
            if Instant::now() > deadline {
                let error = running.not_listening(&format!("listen on port {port}"), limit);
                running.kill();
                return Err(error);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn exited(&self, status: ExitStatus) -> StartError {
        // The drains may still be reading the last words.
        std::thread::sleep(Duration::from_millis(50));
        StartError::Exited {
            name: self.name.clone(),
            status,
            output: self.tail(),
        }
    }

    fn not_listening(&mut self, what: &str, waited: Duration) -> StartError {
        if let Some(status) = self.exit_status() {
            return self.exited(status);
        }
        StartError::NoListen {
            name: self.name.clone(),
            what: what.to_string(),
            waited,
            output: self.tail(),
        }
    }

    /// The last lines of stdout and of stderr, for messages.
    fn tail(&self) -> String {
        [self.stdout.tail(TAIL_LINES), self.stderr.tail(TAIL_LINES)]
            .into_iter()
            .filter(|t| !t.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The process id (also its process group's id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far: stdout, then stderr.
    pub fn output_text(&self) -> String {
        let mut text = self.stdout.text();
        text.push_str(&self.stderr.text());
        text
    }

    /// `Some(status)` once the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// `true` while the process runs.
    pub fn is_alive(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.exit_status()
    }

    /// Sends `signal` to the process (not its group).
    pub fn signal(&self, signal: Signal) {
        send_signal(self.child.id(), signal);
    }

    /// Kills the whole process group and reaps the process.
    pub fn kill(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.kill();
        if self.exit.is_none() {
            self.exit = self.child.wait().ok();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns `cmd` in its own process group with stdin closed and the proxy
/// variables of the environment removed; drains stderr at once and hands
/// back stdout for the caller's handshake.
fn spawn(name: &str, mut cmd: Command) -> Result<(Running, ChildStdout), StartError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| StartError::Spawn {
        name: name.to_string(),
        source,
    })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        kill_group(child.id());
        return Err(StartError::Spawn {
            name: name.to_string(),
            source: std::io::Error::other("no pipes to the child"),
        });
    };
    let stderr_kept = Output::default();
    drain(stderr, stderr_kept.clone());
    let running = Running {
        name: name.to_string(),
        child,
        addr: ([127, 0, 0, 1], 0).into(),
        stdout: Output::default(),
        stderr: stderr_kept,
        exit: None,
    };
    Ok((running, stdout))
}
