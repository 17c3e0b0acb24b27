//! Proof that grading is right: our three variants score 70/70 and pass
//! every extra section; C fixture proxies that are wrong in known ways
//! (harness/fixtures/proxy.c, compiled here with cc) get exactly the score
//! their defect deserves.

use std::path::Path;
use std::process::Command;

use harness::grade::{Report, grade};
use harness::{ProxySpec, VARIANTS};

fn assert_scores(
    report: &Report,
    basic: u32,
    concurrency: u32,
    cache: u32,
    failing_extra: &[&str],
) {
    let got = (
        report.points("Basic"),
        report.points("Concurrency"),
        report.points("Cache"),
    );
    assert_eq!(
        got,
        (basic, concurrency, cache),
        "{}: wrong score\n{}",
        report.proxy,
        report.render()
    );
    let failed = report.failed_extra_sections();
    for section in failing_extra {
        assert!(
            failed.iter().any(|f| f == section),
            "{}: the {section} section should fail\n{}",
            report.proxy,
            report.render()
        );
    }
    if failing_extra.is_empty() {
        assert!(
            failed.is_empty(),
            "{}: extra sections failed: {failed:?}\n{}",
            report.proxy,
            report.render()
        );
    }
}

#[test]
fn our_variants_score_70_and_pass_every_extra_section() {
    for variant in harness::CONCURRENT {
        let report = grade(&ProxySpec::Variant(variant)).expect("grade");
        assert!(report.full_score(), "{}", report.render());
        assert_scores(&report, 40, 15, 15, &[]);
        println!("{variant}: {}/70 in {:.1} s", report.total, report.seconds);
    }
}

#[test]
fn the_sequential_variant_loses_exactly_the_concurrency_points() {
    // proxy-seq is the lab's first step: one stalled request blocks it, so
    // the driver's concurrency check must fail on it — that is the lesson.
    let report = grade(&ProxySpec::Variant(harness::Variant::Seq)).expect("grade");
    assert_scores(&report, 40, 0, 15, &["stalled_clients"]);
    assert_eq!(VARIANTS.len(), 3);
}

#[test]
fn fixture_proxies_get_their_expected_scores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/build.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(dir.path())
        .status()
        .expect("run fixtures/build.sh (needs cc)");
    assert!(status.success(), "building the C fixtures failed");

    // (binary, basic, concurrency, cache, extra sections that must fail)
    let expected: [(&str, u32, u32, u32, &[&str]); 6] = [
        ("proxy", 40, 15, 15, &[]),
        ("proxy-sequential", 40, 0, 15, &["stalled_clients"]),
        ("proxy-http11", 0, 0, 0, &["headers"]),
        ("proxy-sigpipe", 40, 15, 15, &["sigpipe"]),
        ("proxy-nocache", 40, 15, 0, &[]),
        ("proxy-truncate", 24, 15, 15, &[]),
    ];
    std::thread::scope(|scope| {
        let handles: Vec<_> = expected
            .iter()
            .map(|&(name, basic, concurrency, cache, failing)| {
                let path = dir.path().join(name);
                scope.spawn(move || {
                    let report = grade(&ProxySpec::Binary(path)).expect("grade");
                    println!("{name}: {}/70 in {:.1} s", report.total, report.seconds);
                    assert_scores(&report, basic, concurrency, cache, failing);
                })
            })
            .collect();
        for handle in handles {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}
