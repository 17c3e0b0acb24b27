//! Running a command to completion within a time limit.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::group::kill_group;
use super::jobs::Jobs;
use super::output::{Output, drain};

/// How a bounded command ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status (after a SIGKILL when it overran).
    pub status: ExitStatus,
    /// `true` when it overran its limit and was killed with its group.
    pub timed_out: bool,
    /// Everything it wrote to stdout (capped).
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr (capped).
    pub stderr: Vec<u8>,
    /// How long it ran.
    pub elapsed: Duration,
    /// `true` when it was killed because its [`Jobs`] were cancelled.
    pub interrupted: bool,
}

impl Finished {
    /// Fails with the status and the end of stderr unless it exited 0
    /// in time.
    pub fn success(self) -> Result<Finished> {
        if self.interrupted {
            bail!("interrupted after {:.1} s", self.elapsed.as_secs_f64());
        }
        if self.timed_out {
            bail!("did not finish within {:.1} s", self.elapsed.as_secs_f64());
        }
        if !self.status.success() {
            let err = String::from_utf8_lossy(&self.stderr);
            let tail: Vec<&str> = err.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("{}: {}", super::describe_exit(self.status), tail.join("\n"));
        }
        Ok(self)
    }
}

/// Runs `cmd` in a process group of its own with stdin closed, draining
/// stdout and stderr, and kills the whole group if it has not exited
/// within `limit`. Only a failure to start is an error: an overrun or a
/// non-zero exit is in the [`Finished`] (see [`Finished::success`]).
/// Whatever the command left running in its group is killed too.
pub fn run_bounded(cmd: Command, limit: Duration) -> Result<Finished> {
    run(cmd, limit, None)
}

/// [`run_bounded`] as one of `jobs`: registered while it runs (so
/// [`Jobs::reap_strays`] never takes it for a stray), and killed with its
/// group as soon as `jobs` is cancelled ([`Finished::interrupted`]).
pub fn run_bounded_in(cmd: Command, limit: Duration, jobs: &Jobs) -> Result<Finished> {
    run(cmd, limit, Some(jobs))
}

fn run(mut cmd: Command, limit: Duration, jobs: Option<&Jobs>) -> Result<Finished> {
    let start = Instant::now();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .process_group(0);
    let spawned = match jobs {
        Some(jobs) => jobs.spawn(&mut cmd),
        None => cmd.spawn(),
    };
    let mut child = spawned.with_context(|| format!("starting {cmd:?}"))?;
    let pid = child.id();
    let (out, err) = (Output::default(), Output::default());
    let readers = [
        child.stdout.take().map(|s| drain(s, out.clone())),
        child.stderr.take().map(|s| drain(s, err.clone())),
    ];
    let deadline = start + limit;
    let (mut timed_out, mut interrupted) = (false, false);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        interrupted = jobs.is_some_and(Jobs::is_cancelled);
        if interrupted || Instant::now() > deadline {
            timed_out = !interrupted;
            kill_group(pid);
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The group may hold the pipes open after the leader exits (a
    // backgrounded child): kill it so the drains end.
    kill_group(pid);
    if let Some(jobs) = jobs {
        jobs.done(pid);
    }
    // A process that left the group (setsid) may still hold the pipes:
    // wait a little for the last words, never for it.
    let drained_by = Instant::now() + Duration::from_secs(2);
    for reader in readers.into_iter().flatten() {
        while !reader.is_finished() && Instant::now() < drained_by {
            std::thread::sleep(Duration::from_millis(10));
        }
        if reader.is_finished() {
            let _ = reader.join();
        }
    }
    Ok(Finished {
        status,
        timed_out,
        stdout: out.bytes(),
        stderr: err.bytes(),
        elapsed: start.elapsed(),
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_status_come_back() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let done = run_bounded(cmd, Duration::from_secs(10)).expect("runs");
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.stdout, b"out\n");
        assert_eq!(done.stderr, b"err\n");
        let error = done.success().expect_err("exit 3 is a failure");
        assert!(format!("{error:#}").contains("exit status 3"), "{error:#}");
    }

    #[test]
    fn an_overrun_is_killed_with_its_group() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30"]);
        let start = Instant::now();
        let done = run_bounded(cmd, Duration::from_millis(300)).expect("runs");
        assert!(done.timed_out);
        assert!(start.elapsed() < Duration::from_secs(10));
        let error = done.success().expect_err("an overrun is a failure");
        assert!(format!("{error:#}").contains("did not finish"), "{error:#}");
    }
}
