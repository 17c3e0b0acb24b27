//! Bad input: each error of SPEC §4 gets its status within seconds, on
//! every variant, and the proxy serves normally afterwards.

use harness::checks::{assert_all_passed, bad_cases, bad_input, closed_port};
use harness::lab::on_each_variant;
use harness::{VARIANTS, start_origin, start_variant};

#[test]
fn each_bad_request_gets_its_status() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let mut proxy = start_variant(variant, &["--deny", "denied.invalid"])?;
        let cases = bad_cases(origin.addr, closed_port());
        let mut checks = bad_input(origin.addr, proxy.addr, &cases);
        checks.push(if proxy.is_alive() {
            harness::checks::Check::pass("bad_input", "process alive")
        } else {
            harness::checks::Check::fail("bad_input", "process alive", proxy.output_text(), None)
        });
        Ok(checks)
    });
    assert_all_passed(&checks);
}

/// The bad-input corpus (`harness::corpus`, 50+ hostile requests) on every
/// variant, then the spellings of denied addresses, of the proxy itself
/// and of bad `Host` values (`harness::safety::spelling_corpus`, issue
/// #14), each with the deny list it needs. The header timeout is 1 s so
/// heads that never end (HTTP/0.9, a TLS ClientHello, garbage) are closed
/// quickly.
#[test]
fn corpus_of_hostile_requests_gets_its_answers() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let origin = start_origin(&[])?;
        let mut proxy = start_variant(
            variant,
            &["--deny", "denied.invalid", "--header-timeout", "1"],
        )?;
        let cases = harness::corpus::corpus(origin.addr, closed_port());
        let mut checks = bad_input(origin.addr, proxy.addr, &cases);
        let mut flags = harness::safety::SPELLING_DENY_FLAGS.to_vec();
        flags.extend(["--header-timeout", "1"]);
        let spelled = start_variant(variant, &flags)?;
        let cases = harness::safety::spelling_corpus(origin.addr, spelled.addr);
        checks.extend(bad_input(origin.addr, spelled.addr, &cases));
        checks.push(if proxy.is_alive() {
            harness::checks::Check::pass("bad_input", "process alive after the corpus")
        } else {
            harness::checks::Check::fail(
                "bad_input",
                "process alive after the corpus",
                proxy.output_text(),
                None,
            )
        });
        Ok(checks)
    });
    assert_all_passed(&checks);
}
