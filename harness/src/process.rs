//! Starting the servers under test and stopping them for sure.
//!
//! Each child runs in its own process group, and dropping a [`Running`]
//! kills the whole group, so a test that fails half-way leaves nothing
//! listening. Every wait is bounded.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// How long a server may take to print `listening on` / accept connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process under test.
#[derive(Debug)]
pub struct Running {
    /// What was started, for messages.
    pub name: String,
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
    output: Arc<Mutex<Vec<u8>>>,
    exit: Option<ExitStatus>,
}

impl Running {
    /// Starts `program args…` and waits (bounded) for its first stdout line
    /// `listening on ADDR:PORT`.
    pub fn start_listening(name: &str, program: &Path, args: &[String]) -> Result<Running> {
        let mut cmd = Command::new(program);
        cmd.args(args);
        let (mut running, stdout) = spawn(name, &mut cmd)?;
        let (tx, rx) = mpsc::channel();
        let output = Arc::clone(&running.output);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first.clone());
            append(&output, first.as_bytes());
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                append(&output, &buf[..n]);
            }
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                bail!("{name} printed no `listening on` line within {START_TIMEOUT:?}")
            }
        };
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .ok_or_else(|| {
                running.kill();
                anyhow!(
                    "{name}: first line was {line:?}, expected `listening on ADDR:PORT`; output: {}",
                    running.output_text()
                )
            })?;
        running.addr = addr;
        Ok(running)
    }

    /// Starts a command that takes its port on the command line (a
    /// student's `./proxy PORT`), on a port picked free just before, and
    /// waits (bounded) until that port accepts connections.
    pub fn start_on_port(name: &str, mut cmd: Command, port: u16) -> Result<Running> {
        let (mut running, stdout) = spawn(name, &mut cmd)?;
        let output = Arc::clone(&running.output);
        std::thread::spawn(move || {
            let mut stdout = stdout;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                append(&output, &buf[..n]);
            }
        });
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        // A proxy that takes its port on the command line listens at once;
        // half the usual start time keeps a grader section within budget.
        let deadline = Instant::now() + START_TIMEOUT / 2;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                // Something listens there; make sure it is our process (a
                // program that failed to bind may exit just after).
                std::thread::sleep(Duration::from_millis(50));
                if let Some(status) = running.exit_status() {
                    bail!(
                        "{name} exited ({}) right after start; output: {}",
                        describe_exit(status),
                        running.output_text()
                    );
                }
                running.addr = addr;
                return Ok(running);
            }
            if let Some(status) = running.exit_status() {
                bail!(
                    "{name} exited ({}) before listening on port {port}; output: {}",
                    describe_exit(status),
                    running.output_text()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} did not accept connections on port {port} within {:?}",
                    START_TIMEOUT / 2
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far (stdout and stderr).
    pub fn output_text(&self) -> String {
        let bytes = self.output.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
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
    pub fn signal(&self, signal: i32) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a pid we own; no memory is involved.
            unsafe {
                libc::kill(pid, signal);
            }
        }
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

fn spawn(name: &str, cmd: &mut Command) -> Result<(Running, std::process::ChildStdout)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .process_group(0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {name}: {cmd:?}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout pipe"))?;
    let output = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut stderr) = child.stderr.take() {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                append(&output, &buf[..n]);
            }
        });
    }
    let running = Running {
        name: name.to_string(),
        child,
        addr: ([127, 0, 0, 1], 0).into(),
        output,
        exit: None,
    };
    Ok((running, stdout))
}

/// Output kept per process, so a chatty server cannot fill the memory.
const MAX_OUTPUT: usize = 8 << 20;

fn append(output: &Mutex<Vec<u8>>, bytes: &[u8]) {
    if let Ok(mut out) = output.lock()
        && out.len() < MAX_OUTPUT
    {
        out.extend_from_slice(bytes);
    }
}

/// Kills the process group led by `pid` (every child here leads one).
pub fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) on a process group; no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// A port that was free a moment ago (for programs that need the port on
/// their command line and print nothing, like a student's `./proxy PORT`).
/// Never the same port twice in one process, so proxies started side by
/// side (the grader's sections) cannot be handed the same one.
pub fn free_port() -> Result<u16> {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    bail!("no fresh free port found")
}

/// "exit status 3", "killed by signal 13 (SIGPIPE)", …
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(13)) => "killed by signal 13 (SIGPIPE)".into(),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

/// Resolves `host:port` for messages and connecting.
pub fn resolve(addr: &str) -> Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow!("{addr} does not resolve"))
}
