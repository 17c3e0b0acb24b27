//! Grading one built submission: `harness grade --sandbox` in a child
//! process, read back section by section, so a grade stopped by its time
//! limit keeps the points it earned.

use super::{
    Built, ClassOptions, Command, Duration, Finished, Instant, Jobs, LOG_TAIL, NOTE_PREFIX,
    PORTS_ENV, Path, PermissionsExt, Report, Result, SECTION_PREFIX, SectionResult,
    SubmissionResult, TinyVersion, WorkRoot, Worker, build, copy_submission, die_with_parent,
    fill_in_handout, give_to, run_bounded_in, sandbox_flags, tail,
};

/// Builds and grades one submission (copied to `work`).
pub fn grade_one(
    name: &str,
    dir: &Path,
    work: &Path,
    fingerprint: String,
    options: &ClassOptions,
    worker: &Worker,
    jobs: &Jobs,
) -> Result<SubmissionResult> {
    let start = Instant::now();
    let mut notes = Vec::new();
    let built = match copy_submission(dir, work) {
        Err(e) => Built {
            proxy: None,
            log: format!("{e:#}\n"),
            note: Some(format!("{e:#}")),
        },
        Ok(skipped) => {
            if !skipped.is_empty() {
                notes.push(format!(
                    "not copied (symlinks and special files are not graded): {}",
                    skipped.join(", ")
                ));
            }
            let from_handout = match &options.handout {
                Some(handout) => fill_in_handout(handout, work)?,
                None => Vec::new(),
            };
            if let Some(user) = worker.run_as {
                give_to(work, user)?;
            }
            let mut built = build(work, options, worker, jobs)?;
            if !from_handout.is_empty() {
                built.log = format!(
                    "from the handout (not handed in): {}\n{}",
                    from_handout.join(", "),
                    built.log
                );
            }
            built
        }
    };
    let build_output = tail(&built.log, LOG_TAIL);
    let (report, complete) = match (&built.proxy, &built.note) {
        (Some(proxy), _) => grade_built(proxy, name, options, worker, jobs)?,
        (None, note) => {
            let why = note.clone().unwrap_or_else(|| "did not build".to_string());
            let report = Report::unfinished(
                name.to_string(),
                &[],
                &why,
                "fix the build: run `make` in your directory and read the first error (build.log has the whole output)",
                start.elapsed(),
            );
            (report, !why.starts_with("interrupted"))
        }
    };
    notes.extend(report.notes.iter().cloned());
    let failed_extras = report
        .failed_extras()
        .iter()
        .map(|s| s.title().to_string())
        .collect();
    let mut report = report;
    report.proxy = name.to_string();
    Ok(SubmissionResult {
        submission: name.to_string(),
        built: built.proxy.is_some(),
        basic: report.points(crate::checks::Section::Basic),
        concurrency: report.points(crate::checks::Section::Concurrency),
        cache: report.points(crate::checks::Section::Cache),
        total: report.total,
        failed_extras,
        seconds: start.elapsed().as_secs_f64(),
        notes,
        complete,
        fingerprint,
        build_output,
        build_log: built.log,
        report,
    })
}

/// Grades a built proxy in a sandboxed child harness; returns the report
/// and whether it is final.
pub(super) fn grade_built(
    proxy: &Path,
    name: &str,
    options: &ClassOptions,
    worker: &Worker,
    jobs: &Jobs,
) -> Result<(Report, bool)> {
    let start = Instant::now();
    let mut cmd = Command::new(&options.harness);
    cmd.arg("grade")
        .arg("--proxy-bin")
        .arg(proxy)
        .arg("--format=json")
        .arg("--sandbox")
        .arg("--stream-sections")
        .args(sandbox_flags(
            options.isolation,
            worker.run_as,
            &options.limits,
        ))
        .arg(format!("--tiny={}", tiny_name(options.tiny)));
    if !options.extras {
        cmd.arg("--score-only");
    }
    if let Some((first, last)) = worker.ports {
        cmd.env(PORTS_ENV, format!("{first}-{last}"));
    }
    die_with_parent(&mut cmd);
    let done = run_bounded_in(cmd, options.timeout, jobs)?;
    Ok(read_grade(&done, name, options.timeout, start.elapsed()))
}

pub(super) fn tiny_name(tiny: TinyVersion) -> &'static str {
    match tiny {
        TinyVersion::Book3e => "3e",
        TinyVersion::Handout2019 => "2019",
    }
}

/// What a child grade left: its report, or the sections it scored and its
/// notes when it was stopped.
pub(super) fn read_grade(
    done: &Finished,
    name: &str,
    timeout: Duration,
    took: Duration,
) -> (Report, bool) {
    let stderr = String::from_utf8_lossy(&done.stderr);
    let mut notes: Vec<String> = Vec::new();
    let mut sections: Vec<SectionResult> = Vec::new();
    for line in stderr.lines() {
        if let Some(note) = line.strip_prefix(NOTE_PREFIX) {
            if !notes.iter().any(|n| n == note) {
                notes.push(note.to_string());
            }
        } else if let Some(json) = line.strip_prefix(SECTION_PREFIX)
            && let Ok(section) = serde_json::from_str::<SectionResult>(json)
        {
            sections.push(section);
        }
    }
    let parsed = serde_json::from_slice::<Report>(&done.stdout);
    // A grade that ended wrote its notes into its report; one that was
    // stopped said them on stderr as they came.
    let ended = parsed.is_ok() && !done.timed_out && !done.interrupted;
    let (mut report, complete) = match parsed {
        _ if done.interrupted => (
            Report::unfinished(
                name.to_string(),
                &sections,
                "interrupted before the grade finished",
                "the grade was stopped by the instructor; it is graded again on the next run",
                took,
            ),
            false,
        ),
        _ if done.timed_out => (
            Report::unfinished(
                name.to_string(),
                &sections,
                &format!(
                    "the grade did not finish within its time limit of {} s: the proxy hangs or never answers; the sections not finished by then score 0",
                    timeout.as_secs()
                ),
                "a request must be answered (or refused) within seconds: bound every read and write, and never wait forever on one client or server",
                took,
            ),
            true,
        ),
        Ok(report) => {
            let complete = report.harness_errors.is_empty();
            (report, complete)
        }
        Err(e) => {
            let mut report = Report::unfinished(
                name.to_string(),
                &sections,
                "the harness failed to grade this submission",
                "not your proxy's fault: ask the staff to grade it again",
                took,
            );
            report.harness_errors.push(format!(
                "the grade ended ({}) without a report ({e}): {}",
                crate::process::describe_exit(done.status),
                tail(&stderr, 10)
            ));
            (report, false)
        }
    };
    if ended {
        return (report, complete);
    }
    for note in notes {
        if !report.notes.contains(&note) {
            report.notes.push(note);
        }
    }
    (report, complete)
}

/// The one submission in `dir` (the Gradescope layout: `dir` itself holds
/// `proxy.c` and the `Makefile`), built and graded as `harness class`
/// does.
pub fn grade_directory(
    dir: &Path,
    options: &ClassOptions,
    jobs: &Jobs,
) -> Result<SubmissionResult> {
    let work = WorkRoot::new(options.work.as_deref())?;
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755))?;
    // A user of its own even beside another grade on the same machine.
    let slot = 100_000 + std::process::id() as usize;
    let worker = Worker::new(slot, 1, options)?;
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "submission".to_string());
    let result = grade_one(
        &name,
        dir,
        &work.path().join("submission"),
        String::new(),
        options,
        &worker,
        jobs,
    );
    jobs.reap_strays();
    result
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;
    use crate::checks::{Check, Section};

    fn section(section: Section, points: u32, max: u32) -> String {
        let result = SectionResult {
            section,
            points,
            max,
            checks: vec![Check::pass(section, "x")],
        };
        format!(
            "{SECTION_PREFIX}{}",
            serde_json::to_string(&result).expect("json")
        )
    }

    #[test]
    fn a_grade_stopped_by_its_time_limit_keeps_the_sections_it_finished() {
        let stderr = format!(
            "{}\n{}\n{NOTE_PREFIX}ran 600 processes\n",
            section(Section::Basic, 24, 40),
            section(Section::Concurrency, 15, 15)
        );
        let done = Finished {
            status: std::process::ExitStatus::from_raw(9),
            timed_out: true,
            stdout: Vec::new(),
            stderr: stderr.into_bytes(),
            elapsed: Duration::from_secs(30),
            interrupted: false,
        };
        let (report, complete) = read_grade(&done, "s", Duration::from_secs(30), done.elapsed);
        assert!(complete, "a time limit is a final grade");
        assert_eq!(report.points(Section::Basic), 24);
        assert_eq!(report.points(Section::Concurrency), 15);
        assert_eq!(report.points(Section::Cache), 0);
        assert_eq!(report.total, 39);
        assert!(
            report.notes.iter().any(|n| n.contains("time limit")),
            "{:?}",
            report.notes
        );
        assert!(
            report.notes.iter().any(|n| n.contains("600 processes")),
            "{:?}",
            report.notes
        );
        let cache: Vec<&Check> = report
            .scored_checks
            .iter()
            .filter(|c| c.section == Section::Cache)
            .collect();
        assert_eq!(cache.len(), 1);
        assert!(!cache[0].passed);
    }

    #[test]
    fn an_interrupted_grade_is_not_final() {
        let done = Finished {
            status: std::process::ExitStatus::from_raw(9),
            timed_out: false,
            stdout: Vec::new(),
            stderr: section(Section::Basic, 40, 40).into_bytes(),
            elapsed: Duration::from_secs(3),
            interrupted: true,
        };
        let (report, complete) = read_grade(&done, "s", Duration::from_secs(30), done.elapsed);
        assert!(!complete);
        assert_eq!(report.total, 40);
    }
}
