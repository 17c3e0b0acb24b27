//! The Gradescope autograder (`autograder/run_autograder`) run against a
//! temporary directory laid out like Gradescope's `/autograder`, and its
//! `results.json` checked against Gradescope's documented fields: a total
//! `score` and `tests`, each with `name`, `score`, `max_score`, `status`,
//! `output` and `visibility`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use harness::process::run_bounded;
use serde_json::Value;

const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// `/autograder` in a temporary directory: the autograder's source (its
/// `handout/`), and a submission of `files` (name, content).
fn autograder_root(files: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let source = root.path().join("source");
    let handout = source.join("handout");
    std::fs::create_dir_all(&handout).expect("source");
    std::fs::copy(
        repo().join("autograder/handout/Makefile"),
        handout.join("Makefile"),
    )
    .expect("the handout's Makefile");
    let submission = root.path().join("submission");
    std::fs::create_dir_all(&submission).expect("submission");
    for (name, content) in files {
        std::fs::write(submission.join(name), content).expect("a submitted file");
    }
    root
}

/// Runs `run_autograder` on `root`; returns `results.json`.
fn run_autograder(root: &Path) -> Value {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("autograder/run_autograder"))
        .env("AUTOGRADER_ROOT", root)
        .env("HARNESS", HARNESS)
        .current_dir(root);
    let done = run_bounded(cmd, Duration::from_mins(4)).expect("run_autograder runs");
    assert!(
        !done.timed_out && done.status.success(),
        "run_autograder failed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    let text = std::fs::read_to_string(root.join("results/results.json")).expect("results.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("results.json is not JSON ({e}): {text}"))
}

/// The documented fields, with their types and values.
#[allow(
    clippy::float_cmp,
    reason = "scores are whole points, exact in f64; their sums must match exactly"
)]
fn check_format(results: &Value) {
    assert!(results["score"].is_number(), "{results}");
    assert!(results["output"].is_string(), "{results}");
    let tests = results["tests"].as_array().expect("tests[]");
    assert!(!tests.is_empty());
    for test in tests {
        assert!(test["name"].is_string(), "{test}");
        assert!(
            test["score"].is_number() && test["max_score"].is_number(),
            "{test}"
        );
        assert!(test["output"].is_string(), "{test}");
        assert!(
            ["passed", "failed"].contains(&test["status"].as_str().unwrap_or("")),
            "{test}"
        );
        assert!(
            ["visible", "hidden", "after_due_date", "after_published"]
                .contains(&test["visibility"].as_str().unwrap_or("")),
            "{test}"
        );
        assert!(
            test["score"].as_f64() <= test["max_score"].as_f64(),
            "{test}"
        );
    }
    let max: f64 = tests.iter().filter_map(|t| t["max_score"].as_f64()).sum();
    let sum: f64 = tests.iter().filter_map(|t| t["score"].as_f64()).sum();
    assert_eq!(max, 70.0, "the driver's 70 points in all");
    assert_eq!(
        Some(sum),
        results["score"].as_f64(),
        "the score is the tests' sum"
    );
}

fn test_named<'a>(results: &'a Value, name: &str) -> &'a Value {
    results["tests"]
        .as_array()
        .and_then(|tests| tests.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no test {name:?} in {results}"))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name),
    )
    .expect("fixture")
}

#[test]
fn a_proxy_without_a_cache_gets_55_and_the_reason() {
    // The handout's Makefile comes from source/handout/; the student
    // handed in proxy.c alone, written without a cache.
    let mut source = b"#define NO_CACHE 1\n".to_vec();
    source.extend(fixture("proxy.c"));
    let root = autograder_root(&[("proxy.c", source)]);
    let results = run_autograder(root.path());
    check_format(&results);
    assert_eq!(results["score"].as_f64(), Some(55.0), "{results}");
    assert_eq!(test_named(&results, "Basic (driver.sh)")["score"], 40.0);
    let cache = test_named(&results, "Cache (driver.sh)");
    assert_eq!(cache["status"], "failed");
    assert!(
        cache["output"].as_str().unwrap_or("").contains("hint:"),
        "{cache}"
    );
    assert_eq!(test_named(&results, "Build (make)")["status"], "passed");
    assert_eq!(
        test_named(&results, "Extra, no points: cache hits")["status"],
        "failed"
    );
}

#[test]
fn a_submission_that_does_not_compile_gets_0_and_the_compiler_s_words() {
    let root = autograder_root(&[("proxy.c", fixture("class/broken.c"))]);
    let results = run_autograder(root.path());
    check_format(&results);
    assert_eq!(results["score"].as_f64(), Some(0.0));
    let build = test_named(&results, "Build (make)");
    assert_eq!(build["status"], "failed");
    assert!(
        build["output"].as_str().unwrap_or("").contains("error"),
        "{build}"
    );
    assert!(
        results["output"]
            .as_str()
            .unwrap_or("")
            .contains("did not build"),
        "{results}"
    );
}

#[test]
fn grade_prints_gradescope_results_for_any_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = dir.path().join("proxy");
    let mut cc = Command::new("cc");
    cc.args(["-O2", "-pthread", "-o"])
        .arg(&proxy)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/proxy.c"));
    run_bounded(cc, Duration::from_mins(2))
        .and_then(harness::process::Finished::success)
        .expect("cc builds the fixture");
    let mut cmd = Command::new(HARNESS);
    cmd.args([
        "grade",
        "--score-only",
        "--format",
        "gradescope",
        "--proxy-bin",
    ])
    .arg(&proxy);
    let done = run_bounded(cmd, Duration::from_mins(2)).expect("harness grade runs");
    let results: Value = serde_json::from_slice(&done.stdout).expect("JSON");
    check_format(&results);
    assert_eq!(results["score"].as_f64(), Some(70.0), "{results}");
}
