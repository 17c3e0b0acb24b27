//! Building a submission: `make` in the sandbox under a time limit and
//! [`Limits::BUILD`], its output kept for the report.

use super::{
    ClassOptions, Command, Isolation, Jobs, Limits, Path, PathBuf, PermissionsExt, Result, RunAs,
    Worker, die_with_parent, run_bounded_in,
};
use std::fmt::Write as _;

/// The `Makefile` of a work directory, if it has one (the names GNU make
/// looks for).
pub(super) fn has_makefile(dir: &Path) -> bool {
    ["GNUmakefile", "makefile", "Makefile"]
        .iter()
        .any(|name| dir.join(name).is_file())
}

/// Flags that hand the sandbox's settings to a child harness.
pub(super) fn sandbox_flags(
    isolation: Isolation,
    run_as: Option<RunAs>,
    limits: &Limits,
) -> Vec<String> {
    let mut flags = vec![
        "--isolation".to_string(),
        match isolation {
            Isolation::Full => "full",
            Isolation::Network => "network",
            Isolation::None => "none",
        }
        .to_string(),
        format!("--cpu-secs={}", limits.cpu_secs),
        format!("--memory-mib={}", limits.memory_mib),
        format!("--max-procs={}", limits.processes),
        format!("--max-files={}", limits.open_files),
        format!("--max-file-mib={}", limits.file_size_mib),
    ];
    if let Some(user) = run_as {
        flags.push(format!("--run-as={}:{}", user.uid, user.gid));
    }
    flags
}

/// How a build went.
pub(super) struct Built {
    /// `./proxy`, when there is one to grade.
    pub(super) proxy: Option<PathBuf>,
    /// The whole output (for `build.log`).
    pub(super) log: String,
    /// Why there is no proxy, in a note's words.
    pub(super) note: Option<String>,
}

/// Builds the work directory `work` (a copy of the submission).
pub(super) fn build(
    work: &Path,
    options: &ClassOptions,
    worker: &Worker,
    jobs: &Jobs,
) -> Result<Built> {
    let proxy = work.join("proxy");
    if !has_makefile(work) {
        if proxy.is_file() {
            std::fs::set_permissions(&proxy, std::fs::Permissions::from_mode(0o755))?;
            return Ok(Built {
                proxy: Some(proxy),
                log: "no Makefile: grading the prebuilt ./proxy\n".into(),
                note: None,
            });
        }
        return Ok(Built {
            proxy: None,
            log: "no Makefile and no ./proxy: nothing to build or grade\n".into(),
            note: Some("no Makefile and no ./proxy: nothing to build or grade".into()),
        });
    }
    // Built from source, never from what was handed in: make would think
    // a prebuilt ./proxy newer than proxy.c is up to date.
    for entry in std::fs::read_dir(work)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "proxy" || entry.path().extension().is_some_and(|ext| ext == "o") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let mut cmd = Command::new(&options.harness);
    cmd.arg("sandbox-exec")
        .args(sandbox_flags(
            options.isolation,
            worker.run_as,
            &Limits::BUILD,
        ))
        .arg("--")
        .arg("make")
        .current_dir(work);
    die_with_parent(&mut cmd);
    let done = run_bounded_in(cmd, options.build_timeout, jobs)?;
    let mut log = String::from_utf8_lossy(&done.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&done.stderr);
    if !stderr.trim().is_empty() {
        log.push_str(&stderr);
    }
    let note = if done.interrupted {
        Some("interrupted while building".to_string())
    } else if done.timed_out {
        Some(format!(
            "did not build: make did not finish within {} s",
            options.build_timeout.as_secs()
        ))
    } else if !done.status.success() {
        Some(format!(
            "did not build: make failed ({}){}",
            crate::process::describe_exit(done.status),
            first_error(&log)
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ))
    } else if !proxy.is_file() {
        Some("did not build: make succeeded but made no ./proxy".to_string())
    } else {
        None
    };
    let _ = writeln!(
        log,
        "\n[make: {} in {:.1} s]",
        if done.timed_out {
            "time limit".to_string()
        } else {
            crate::process::describe_exit(done.status)
        },
        done.elapsed.as_secs_f64()
    );
    Ok(Built {
        proxy: note.is_none().then_some(proxy),
        log,
        note,
    })
}

/// The compiler's first error line in a build log.
pub(super) fn first_error(log: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains("error"))
        .map(|l| l.trim().chars().take(200).collect())
}

/// The last `n` lines of `text`.
pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
