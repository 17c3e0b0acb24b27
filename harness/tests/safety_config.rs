//! Small things a user hits (issue #14 item 12, SPEC §3): a `--deny-file`
//! that cannot be read is an error naming the file; zero or absurd
//! timeouts and limits are refused at start with a clear message and exit
//! status 2, the same in every variant.

use std::time::Duration;

use harness::VARIANTS;
use harness::bins::binary;
use harness::checks::{Check, Section, assert_all_passed};
use harness::lab::on_each_variant;
use harness::safety::run_to_exit;

#[test]
fn bad_configuration_is_refused_at_start() {
    let checks = on_each_variant(&VARIANTS, |variant| {
        let program = binary(variant.package())?;
        let dir = tempfile::tempdir()?;
        let missing = dir.path().join("no-such-deny-list.txt");
        let missing = missing.display().to_string();
        let bad_entry = dir.path().join("deny.txt");
        std::fs::write(&bad_entry, "ok.invalid\n10.0.0.0/99\n")?;
        let bad_entry = bad_entry.display().to_string();
        let cases: Vec<(Vec<&str>, Vec<String>)> = vec![
            (vec!["--deny-file", &missing], vec![missing.clone()]),
            (
                vec!["--deny-file", &bad_entry],
                vec![format!("{bad_entry} line 2"), "10.0.0.0/99".into()],
            ),
            (
                vec!["--deny", "a,b.invalid"],
                vec!["--deny".into(), "a,b.invalid".into()],
            ),
            (vec!["--idle-timeout", "0"], vec!["--idle-timeout".into()]),
            (
                vec!["--idle-timeout", "18446744073709551615"],
                vec!["--idle-timeout".into()],
            ),
            (
                vec!["--header-timeout", "0"],
                vec!["--header-timeout".into()],
            ),
            (
                vec!["--connect-timeout", "99999"],
                vec!["--connect-timeout".into()],
            ),
            (
                vec!["--shutdown-grace", "99999"],
                vec!["--shutdown-grace".into()],
            ),
            (vec!["--max-conns", "0"], vec!["--max-conns".into()]),
            (vec!["--cache-size", "0"], vec!["--cache-size".into()]),
            (
                vec!["--cache-size", "100", "--max-object", "200"],
                vec!["--max-object 200".into(), "--cache-size 100".into()],
            ),
        ];
        let mut checks = Vec::new();
        for (flags, words) in cases {
            let mut args = vec!["0"];
            args.extend(flags.iter().copied());
            let name = format!("{} refused with exit 2", flags.join(" "));
            let (code, stderr) = run_to_exit(&program, &args, Duration::from_secs(10))?;
            let named = words.iter().all(|w| stderr.contains(w.as_str()));
            checks.push(if code == Some(2) && named {
                Check::pass(Section::Config, name)
            } else {
                Check::fail(
                    Section::Config,
                    name,
                    format!("exit {code:?} (None: still running after 10 s), stderr {stderr:?}, should name {words:?}"),
                    None,
                )
            });
        }
        Ok(checks)
    });
    assert_all_passed(&checks);
}
