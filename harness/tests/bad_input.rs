//! Bad input: each error of SPEC §4 gets its status within seconds, on
//! every variant, and the proxy serves normally afterwards.

use harness::checks::{Check, Section, assert_all_passed, bad_cases, bad_input, closed_port};
use harness::{Setup, VARIANTS, on_each_variant_with};

fn alive(setup: &mut Setup, after: &str) -> Check {
    let output = setup.proxy.output_text();
    Check::expect(
        Section::Statuses,
        format!("process alive after {after}"),
        setup.proxy.is_alive(),
        || output,
        None,
    )
}

#[test]
fn each_bad_request_gets_its_status() {
    let checks = on_each_variant_with(&VARIANTS, &[], &["--deny", "denied.invalid"], |setup| {
        let cases = bad_cases(setup.origin.addr, closed_port());
        assert!(cases.len() >= 10, "the lab subset of the corpus is tagged");
        let mut checks = bad_input(setup.lab(), &cases);
        checks.push(alive(setup, "the lab's bad requests"));
        Ok(checks)
    });
    assert_all_passed(&checks);
}

/// The bad-input corpus (`harness::checks::corpus`, 80+ hostile requests)
/// on every variant, then the spellings of denied addresses, of the proxy
/// itself and of bad `Host` values (`harness::checks::corpus::spelling_corpus`),
/// with the deny list they need. The header timeout is 1 s so heads that
/// never end (HTTP/0.9, a TLS `ClientHello`, garbage) are closed quickly.
#[test]
fn corpus_of_hostile_requests_gets_its_answers() {
    let flags = ["--deny", "denied.invalid", "--header-timeout", "1"];
    let checks = on_each_variant_with(&VARIANTS, &[], &flags, |setup| {
        let cases = harness::checks::corpus::corpus(setup.origin.addr, closed_port());
        let mut checks = bad_input(setup.lab(), &cases);
        let mut spelling_flags = harness::checks::corpus::SPELLING_DENY_FLAGS.to_vec();
        spelling_flags.extend(["--header-timeout", "1"]);
        let spelled = harness::start_variant(setup.variant, &spelling_flags)?;
        let lab = harness::Lab {
            origin: setup.origin.addr,
            proxy: spelled.addr,
        };
        checks.extend(bad_input(
            lab,
            &harness::checks::corpus::spelling_corpus(lab),
        ));
        checks.push(alive(setup, "the corpus"));
        Ok(checks)
    });
    assert_all_passed(&checks);
}
