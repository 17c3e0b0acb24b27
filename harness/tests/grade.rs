//! Proof that grading is right: our variants get the course driver's
//! score (70, 70, and 55 for the sequential one); C fixture proxies that
//! are wrong in known ways (harness/fixtures/proxy.c, compiled here with
//! cc) get exactly the score driver.sh gives them, and the extra that
//! names their defect fails; two grades of one proxy agree.

use std::path::Path;
use std::process::Command;

use harness::checks::Section;
use harness::grading::{GradeOptions, Report, grade_with};
use harness::{ProxySpec, Variant};

/// The scores driver.sh gives, and the extras that must fail (and only
/// those, when `exactly` is set).
struct Expected {
    basic: u32,
    concurrency: u32,
    cache: u32,
    failing: &'static [Section],
    exactly: bool,
}

/// One grade at a time in this file: the points' 5 s fetch limits are the
/// driver's, and a grade beside another one's points (a dozen proxies at
/// work) on a small machine could time out for the machine's sake, not the
/// proxy's.
static ONE_GRADE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time<T>(f: impl FnOnce() -> T) -> T {
    let _turn = ONE_GRADE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f()
}

/// Grades `proxy` and checks the grade against `expected`. Where only the
/// failing extras are asserted (`exactly` unset), only those run.
fn grade_as(proxy: &ProxySpec, expected: &Expected) -> Report {
    let options = GradeOptions {
        extras: expected.exactly,
        ..GradeOptions::for_proxy(proxy)
    };
    let report = one_at_a_time(|| {
        let mut report = grade_with(proxy, options);
        if !expected.exactly {
            report.extra_checks = harness::grading::extras::run_only(proxy, expected.failing);
        }
        report
    });
    println!(
        "{}: {}/70 in {:.1} s",
        report.proxy, report.total, report.seconds
    );
    assert_grade(&report, expected);
    report
}

fn assert_grade(report: &Report, expected: &Expected) {
    let got = (
        report.points(Section::Basic),
        report.points(Section::Concurrency),
        report.points(Section::Cache),
    );
    assert_eq!(
        got,
        (expected.basic, expected.concurrency, expected.cache),
        "{}: wrong score\n{}",
        report.proxy,
        report.render()
    );
    assert!(
        report.harness_errors.is_empty(),
        "{}: the harness failed\n{}",
        report.proxy,
        report.render()
    );
    let failed = report.failed_extras();
    for section in expected.failing {
        assert!(
            failed.contains(section),
            "{}: the extra {section:?} should fail\n{}",
            report.proxy,
            report.render()
        );
    }
    if expected.exactly {
        assert_eq!(
            failed,
            expected.failing,
            "{}: unexpected extras failed\n{}",
            report.proxy,
            report.render()
        );
    }
}

#[test]
fn our_variants_get_the_driver_s_scores_and_pass_every_extra() {
    let cases = [
        (Variant::Seq, 40, 0, 15, &[Section::StalledClients][..]),
        (Variant::Thread, 40, 15, 15, &[][..]),
        (Variant::Async, 40, 15, 15, &[][..]),
    ];
    for (variant, basic, concurrency, cache, failing) in cases {
        let expected = Expected {
            basic,
            concurrency,
            cache,
            failing,
            exactly: true,
        };
        let report = grade_as(&ProxySpec::Variant(variant), &expected);
        assert!(
            report.failed_spec().is_empty(),
            "{variant}: the SPEC group failed\n{}",
            report.render()
        );
        assert!(!report.spec_checks.is_empty(), "no SPEC checks ran");
    }
}

/// (binary, Basic, Concurrency, Cache, extras that must fail). The scores
/// are the ones the course's driver.sh gives each binary (checked by
/// running the real driver.sh on them; see fixtures/README.md).
const FIXTURES: [(&str, u32, u32, u32, &[Section]); 11] = [
    ("proxy", 40, 15, 15, &[]),
    ("proxy-sequential", 40, 0, 15, &[Section::StalledClients]),
    ("proxy-http11", 40, 15, 15, &[Section::Request]),
    ("proxy-sigpipe", 40, 15, 15, &[Section::Sigpipe]),
    ("proxy-nocache", 40, 15, 0, &[Section::CacheHits]),
    ("proxy-truncate", 24, 15, 15, &[Section::LargeObject]),
    ("proxy-length", 40, 15, 15, &[Section::HeaderSpelling]),
    ("proxy-hitnul", 40, 15, 15, &[Section::CacheHits]),
    ("proxy-crash100k", 40, 15, 15, &[Section::LargeObject]),
    ("proxy-exitrefused", 40, 15, 15, &[Section::OriginDown]),
    // driver.sh never sees a proxy on [::] and stops without a score.
    ("proxy-ipv6", 0, 0, 0, &[]),
];

fn build_fixtures() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/build.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(dir.path())
        .status()
        .expect("run fixtures/build.sh (needs cc)");
    assert!(status.success(), "building the C fixtures failed");
    dir
}

#[test]
fn two_grades_of_one_proxy_agree() {
    // The sequential fixture is where a race could decide the score (the
    // hanging request and the page compete for the one loop): grade it
    // twice, score only.
    let dir = build_fixtures();
    let options = harness::grading::GradeOptions {
        extras: false,
        ..harness::grading::GradeOptions::for_proxy(&ProxySpec::Command(String::new()))
    };
    let scores: Vec<Vec<u32>> = (0..2)
        .map(|_| {
            let report = one_at_a_time(|| {
                harness::grading::grade_with(
                    &ProxySpec::Binary(dir.path().join("proxy-sequential")),
                    options,
                )
            });
            report.scores.iter().map(|s| s.points).collect()
        })
        .collect();
    assert_eq!(scores[0], [40, 0, 15]);
    assert!(scores.iter().all(|s| *s == scores[0]), "{scores:?}");
}

#[test]
fn fixture_proxies_get_the_driver_s_scores_and_their_defect_named() {
    let dir = build_fixtures();
    for (name, basic, concurrency, cache, failing) in FIXTURES {
        let expected = Expected {
            basic,
            concurrency,
            cache,
            failing,
            exactly: name == "proxy",
        };
        grade_as(&ProxySpec::Binary(dir.path().join(name)), &expected);
    }
}
