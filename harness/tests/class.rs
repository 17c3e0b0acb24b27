//! `harness class` on a class of fixture submissions: correct and
//! defective proxies graded with the driver's scores, and hostile ones —
//! a fork bomb, an endless malloc, a proxy that never exits (and starts a
//! daemon), one that snoops on the host's loopback and on the other
//! submissions, one that does not compile — contained, graded 0 where they
//! must be, with a note saying why; nothing of theirs left running.
//!
//! The class is laid out by `fixtures/class/make-class.sh` and graded by
//! the `harness` binary itself (it re-executes itself for each build and
//! grade, so it cannot run inside this test process).

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use harness::class::{ClassResult, SubmissionResult, outputs};
use harness::process::run_bounded;

const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

/// The ports harness class hands its workers when there is no network
/// namespace (3 workers: 20000–21199): the snoop scans only these there.
const NO_NAMESPACE_SCAN: &str = "20000-21199";

/// `true` when this machine gives network namespaces (the environment
/// variable `HARNESS_TEST_NO_NAMESPACES` pretends it does not, to run the
/// fallback on a machine that has them).
fn namespaces() -> bool {
    if std::env::var_os("HARNESS_TEST_NO_NAMESPACES").is_some() {
        return false;
    }
    Command::new(HARNESS)
        .args(["sandbox-probe", "--isolation", "network"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A service on the host's loopback, outside every namespace: counts the
/// connections it accepts until dropped.
struct HostService {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl HostService {
    fn start() -> HostService {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let (accepted, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (count, stopping) = (Arc::clone(&accepted), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok(_) => {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        HostService {
            port,
            accepted,
            stop,
        }
    }
}

impl Drop for HostService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Lays out the fixture class in `dir`.
fn make_class(dir: &Path, host_port: u16, scan: Option<&str>) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/class/make-class.sh");
    let mut cmd = Command::new("sh");
    cmd.arg(&script).arg(dir).arg(host_port.to_string());
    if let Some(range) = scan {
        cmd.arg(range);
    }
    let done = run_bounded(cmd, Duration::from_mins(2)).expect("make-class.sh runs");
    assert!(
        done.status.success(),
        "make-class.sh failed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

/// The uids one test's class runs as (when root): tests run at once, and
/// two classes must never share a uid (nor its process count).
fn uid_base(test: u32) -> u32 {
    harness::sandbox::DEFAULT_UID_BASE + (std::process::id() % 100_000) * 1000 + test * 100
}

/// `harness class` with the test's limits: 3 at once (1 without root and
/// namespaces, where every submission shares the user's process limit
/// and a fork bomb would starve the others of threads), `timeout` seconds
/// per submission, the uids of test number `test`.
fn class_command(
    test: u32,
    (class, out, work): (&Path, &Path, &Path),
    timeout: u64,
    extra: &[&str],
) -> Command {
    let mut cmd = Command::new(HARNESS);
    cmd.arg("class")
        .arg(format!("--uid-base={}", uid_base(test)))
        .arg(class)
        .arg("--out")
        .arg(out)
        .arg("--work")
        .arg(work)
        .arg(if namespaces() || nix::unistd::geteuid().is_root() {
            "-j3"
        } else {
            "-j1"
        })
        .args(["--memory-mib", "256", "--max-procs", "256"])
        .args(if namespaces() {
            &[][..]
        } else {
            &["--isolation", "none"][..]
        })
        .arg(format!("--timeout={timeout}"))
        .args(extra);
    cmd
}

/// Every process whose executable or working directory is under `dir`.
fn processes_under(dir: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            ["exe", "cwd"].iter().find_map(|link| {
                let target = std::fs::read_link(format!("/proc/{pid}/{link}")).ok()?;
                target.starts_with(dir).then_some((pid, target))
            })
        })
        .collect()
}

/// Waits (bounded) until nothing runs under `dir`; returns what is left.
fn wait_until_nothing_under(dir: &Path, limit: Duration) -> Vec<(u32, PathBuf)> {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_under(dir);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read_class(out: &Path) -> ClassResult {
    let text = std::fs::read_to_string(out.join(outputs::JSON_FILE)).expect("grades.json");
    serde_json::from_str(&text).expect("grades.json parses")
}

#[test]
fn a_class_is_graded_and_hostile_submissions_are_contained() {
    let isolated = namespaces();
    let host = HostService::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (class, out, work) = (
        tmp.path().join("class"),
        tmp.path().join("grades"),
        tmp.path().join("work"),
    );
    make_class(&class, host.port, (!isolated).then_some(NO_NAMESPACE_SCAN));
    let done = run_bounded(
        class_command(1, (&class, &out, &work), 30, &[]),
        Duration::from_mins(5),
    )
    .expect("harness class runs");
    let stderr = String::from_utf8_lossy(&done.stderr);
    println!("{stderr}");
    assert!(!done.timed_out, "harness class did not finish:\n{stderr}");
    let class_result = read_class(&out);
    let expected = assert_scores(&class_result, &stderr);
    assert_notes(&class_result);
    assert_instructor_files(&out, &expected);
    assert_contained(isolated, &host, &work);

    // Nothing of any submission is left running.
    let left = wait_until_nothing_under(&work, Duration::from_secs(10));
    assert!(left.is_empty(), "left running: {left:?}");

    // A second run grades nothing again.
    let again = run_bounded(
        class_command(1, (&class, &out, &work), 30, &[]),
        Duration::from_mins(1),
    )
    .expect("runs again");
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("0 graded now, 8 graded before"),
        "{text}\n{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

fn by_name<'a>(class: &'a ClassResult, name: &str) -> &'a SubmissionResult {
    class
        .submissions
        .iter()
        .find(|s| s.submission == name)
        .unwrap_or_else(|| panic!("{name} was not graded"))
}

/// Each submission's name, whether it built, and its three sections'
/// points, in the order graded.
fn scores_of(class_result: &ClassResult) -> Vec<(String, bool, [u32; 3])> {
    class_result
        .submissions
        .iter()
        .map(|s| {
            (
                s.submission.clone(),
                s.built,
                [s.basic, s.concurrency, s.cache],
            )
        })
        .collect()
}

/// The scores of the test class are the expected ones; returns the names.
fn assert_scores(class_result: &ClassResult, stderr: &str) -> Vec<(String, bool, [u32; 3])> {
    let by_name = |name: &str| by_name(class_result, name);
    let scores = scores_of(class_result);
    let expected: [(&str, bool, [u32; 3]); 8] = [
        ("01-hang", true, [0, 0, 0]),
        ("02-snoop", true, [40, 15, 15]),
        ("03-forkbomb", true, [0, 0, 0]),
        ("04-eater", true, [0, 0, 0]),
        ("05-correct", true, [40, 15, 15]),
        ("06-nocache", true, [40, 15, 0]),
        ("07-sequential-prebuilt", true, [40, 0, 15]),
        ("08-broken", false, [0, 0, 0]),
    ];
    let expected: Vec<(String, bool, [u32; 3])> = expected
        .iter()
        .map(|(n, b, s)| (n.to_string(), *b, *s))
        .collect();
    assert_eq!(scores, expected, "{stderr}");
    // Every one is a final grade, and the correct ones pass every extra.
    assert!(
        class_result.submissions.iter().all(|s| s.complete),
        "{stderr}"
    );
    assert!(by_name("05-correct").failed_extras.is_empty());
    assert_eq!(by_name("06-nocache").failed_extras, ["cache hits"]);
    expected
}

/// Each hostile submission has a note that says why it scored nothing.
fn assert_notes(class_result: &ClassResult) {
    let by_name = |name: &str| by_name(class_result, name);
    let note = |name: &str| by_name(name).note();
    assert!(
        note("03-forkbomb").contains("forks"),
        "{}",
        note("03-forkbomb")
    );
    assert!(
        note("04-eater").contains("allocates"),
        "{}",
        note("04-eater")
    );
    assert!(
        note("01-hang").contains("time limit"),
        "{}",
        note("01-hang")
    );
    assert!(
        note("08-broken").contains("did not build") && note("08-broken").contains("error"),
        "{}",
        note("08-broken")
    );
    assert!(note("05-correct").is_empty(), "{}", note("05-correct"));
    // malloc returned NULL at the memory limit (the eater says so as it
    // exits): the limit, not the machine, stopped it.
    let eater_said = by_name("04-eater")
        .report
        .scored_checks
        .iter()
        .any(|c| c.detail.contains("out of memory"));
    assert!(eater_said, "{:?}", by_name("04-eater").report.scored_checks);
}

/// The files instructors use: grades.csv, feedback and build logs, the
/// HTML report.
fn assert_instructor_files(out: &Path, expected: &[(String, bool, [u32; 3])]) {
    let csv = std::fs::read_to_string(out.join(outputs::CSV_FILE)).expect("grades.csv");
    assert_eq!(
        csv.lines().next(),
        Some("submission,built,basic,concurrency,cache,total,failed extras,seconds,note")
    );
    assert!(csv.contains("05-correct,yes,40,15,15,70,,"), "{csv}");
    assert!(csv.contains("08-broken,no,0,0,0,0,,"), "{csv}");
    for (name, ..) in expected {
        let dir = out.join(name);
        let feedback = std::fs::read_to_string(dir.join(outputs::FEEDBACK_FILE)).expect("feedback");
        assert!(feedback.contains("Proxy Lab grade for"), "{feedback}");
        assert!(dir.join(outputs::BUILD_LOG).is_file());
    }
    let broken_log =
        std::fs::read_to_string(out.join("08-broken").join(outputs::BUILD_LOG)).expect("build.log");
    assert!(broken_log.contains("error"), "{broken_log}");
    let feedback = std::fs::read_to_string(out.join("06-nocache").join(outputs::FEEDBACK_FILE))
        .expect("feedback");
    assert!(feedback.contains("hint:"), "{feedback}");
    let html = std::fs::read_to_string(out.join(outputs::HTML_FILE)).expect("report.html");
    for (name, ..) in expected {
        assert!(html.contains(name), "{name} missing from report.html");
    }
    assert!(html.contains("id=\"distribution\"") && html.contains("id=\"grades\""));
}

/// No submission reached the host's loopback or another submission (when
/// network namespaces are available).
fn assert_contained(isolated: bool, host: &HostService, work: &Path) {
    let snoop_log = std::fs::read_to_string(work.join("02-snoop/snoop.log")).unwrap_or_default();
    let intruded = work.join("01-hang/intruded.log");
    let reached = host.accepted.load(Ordering::SeqCst);
    if isolated {
        assert_eq!(
            reached, 0,
            "a submission reached a service on the host's loopback\n{snoop_log}"
        );
        assert!(
            snoop_log.contains("unreachable"),
            "the snoop never tried: {snoop_log}"
        );
        assert!(
            !intruded.exists(),
            "a submission reached another one's port: {}",
            std::fs::read_to_string(&intruded).unwrap_or_default()
        );
    } else {
        println!(
            "no network namespaces here: the host's service accepted {reached} connections from the snoop, and the other submission was {}reached (expected without namespaces)",
            if intruded.exists() { "" } else { "not " }
        );
    }
}

#[test]
fn an_interrupted_class_leaves_nothing_running_and_is_finished_later() {
    let host = HostService::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (class, out, work) = (
        tmp.path().join("class"),
        tmp.path().join("grades"),
        tmp.path().join("work"),
    );
    make_class(&class, host.port, Some(NO_NAMESPACE_SCAN));
    // Keep the one that never exits and a correct one, graded first (so
    // that it is done before the other hangs, even one at a time).
    for entry in std::fs::read_dir(&class).expect("class").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "01-hang" && name != "05-correct" {
            std::fs::remove_dir_all(entry.path()).expect("remove");
        }
    }
    std::fs::rename(class.join("05-correct"), class.join("00-correct")).expect("rename");
    let mut cmd = class_command(2, (&class, &out, &work), 120, &[]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("harness class starts");
    // Wait until the correct one is graded and the hanging one is running.
    let deadline = Instant::now() + Duration::from_mins(1);
    let graded = out.join("00-correct").join(outputs::RESULT_FILE);
    while !graded.is_file() || processes_under(&work.join("01-hang")).is_empty() {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut err);
            }
            panic!("harness class ended early ({status}): {err}");
        }
        assert!(Instant::now() < deadline, "the class never got going");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("harness class did not stop after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut stdout);
    }
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("INTERRUPTED"), "{stdout}");
    let left = wait_until_nothing_under(&work, Duration::from_secs(10));
    assert!(left.is_empty(), "left running after SIGINT: {left:?}");
    let interrupted = read_class(&out);
    let hang = interrupted
        .submissions
        .iter()
        .find(|s| s.submission == "01-hang")
        .expect("the interrupted one is listed");
    assert!(!hang.complete, "an interrupted grade is not final");

    // The next run grades only what the interrupted one did not finish.
    std::fs::remove_dir_all(class.join("01-hang")).expect("remove");
    let again = run_bounded(
        class_command(2, (&class, &out, &work), 120, &[]),
        Duration::from_mins(1),
    )
    .expect("runs again");
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("0 graded now, 1 graded before"), "{text}");
    let regraded = run_bounded(
        class_command(2, (&class, &out, &work), 120, &["--regrade"]),
        Duration::from_mins(1),
    )
    .expect("regrades");
    let text = String::from_utf8_lossy(&regraded.stdout);
    assert!(text.contains("1 graded now, 0 graded before"), "{text}");
}

/// `--handout DIR`: a submission of sources alone gets the handout's
/// Makefile; one with its own keeps it; a prebuilt one gets nothing.
#[test]
fn the_handout_fills_in_what_a_submission_did_not_hand_in() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (class, out, work) = (
        tmp.path().join("class"),
        tmp.path().join("grades"),
        tmp.path().join("work"),
    );
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let handout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../autograder/handout");
    let submission = |name: &str, files: &[(&str, &[u8])]| {
        let dir = class.join(name);
        std::fs::create_dir_all(&dir).expect("submission dir");
        for (file, content) in files {
            std::fs::write(dir.join(file), content).expect("submission file");
        }
    };
    let proxy_c = std::fs::read(fixtures.join("proxy.c")).expect("proxy.c");
    submission("a-sources-only", &[("proxy.c", &proxy_c)]);
    let own_makefile = "proxy: proxy.c\n\tcc -O2 -pthread -DNO_CACHE -o proxy proxy.c\n";
    submission(
        "b-own-makefile",
        &[("proxy.c", &proxy_c), ("Makefile", own_makefile.as_bytes())],
    );
    std::fs::create_dir_all(class.join("c-prebuilt")).expect("prebuilt dir");
    let cc = Command::new("cc")
        .args(["-O2", "-pthread", "-DSEQUENTIAL", "-o"])
        .arg(class.join("c-prebuilt/proxy"))
        .arg(fixtures.join("proxy.c"))
        .status()
        .expect("cc runs");
    assert!(cc.success(), "cc failed");

    let mut cmd = class_command(3, (&class, &out, &work), 60, &["--score-only"]);
    cmd.arg("--handout").arg(&handout);
    let done = run_bounded(cmd, Duration::from_mins(3)).expect("harness class runs");
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(!done.timed_out, "harness class did not finish:\n{stderr}");
    let class_result = read_class(&out);
    let expected = [
        ("a-sources-only", true, [40, 15, 15]),
        ("b-own-makefile", true, [40, 15, 0]),
        ("c-prebuilt", true, [40, 0, 15]),
    ]
    .map(|(name, built, points)| (name.to_string(), built, points));
    assert_eq!(scores_of(&class_result), expected, "{stderr}");
    let log = |name: &str| {
        std::fs::read_to_string(out.join(name).join(outputs::BUILD_LOG)).expect("build.log")
    };
    assert!(
        log("a-sources-only").contains("from the handout (not handed in): Makefile"),
        "{}",
        log("a-sources-only")
    );
    assert!(!log("b-own-makefile").contains("from the handout"));
    assert!(!log("c-prebuilt").contains("from the handout"));
    assert!(
        !class.join("a-sources-only/Makefile").exists(),
        "the class directory is never written"
    );
}
