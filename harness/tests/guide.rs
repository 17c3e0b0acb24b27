//! The lab guides' commands run, so the guides cannot rot.
//!
//! `docs/guide.md` and its Korean twin `docs/guide.ko.md` mark every shell
//! block a reader can run with the info string `sh run` (a fence that
//! opens with three backticks and `sh run`). These tests:
//!
//! - run every such block of the English guide with `bash -euo pipefail`
//!   from the workspace root, each in its own process group with a time
//!   limit ([`BLOCK_TIMEOUT`]); a block must exit 0, and whatever it leaves
//!   running is killed;
//! - check that both guides have the same runnable blocks with the same
//!   commands (full-line `#` comments may differ, so the Korean guide can
//!   explain in Korean but cannot drift) — so the Korean blocks, being the
//!   same commands, are known to run without running them twice;
//! - check that every relative link resolves, and that a link whose text
//!   names a Rust item (`` [`parse_target`](../proxy-core/src/request.rs) ``)
//!   points at the file that defines it.
//!
//! The blocks start their own servers on port 0 and read the
//! `listening on ADDR:PORT` line, use `mktemp` for files, and build what
//! they run with `cargo`, so they run beside the other harness tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use harness::process::{Finished, describe_exit, run_bounded};

/// The longest one block may run before its process group is killed.
const BLOCK_TIMEOUT: Duration = Duration::from_mins(2);

/// The English guide and its Korean twin, relative to the workspace root.
const ENGLISH: &str = "docs/guide.md";
const KOREAN: &str = "docs/guide.ko.md";

/// Environment variables that could send curl or reqwest around the proxy
/// or change what the proxies log.
const CLEARED_ENV: [&str; 9] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "RUST_LOG",
];

/// One guide's blocks at a time: the blocks measure timings (a stalled
/// sequential proxy, thread counts) that blocks running at once on a small
/// machine would blur.
static ONE_GUIDE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness crate sits in the workspace")
        .to_path_buf()
}

fn read_guide(path: &str) -> String {
    let full = workspace().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// A fenced code block of a Markdown file.
#[derive(Debug, Clone)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string, e.g. `sh run`.
    info: String,
    /// The lines between the fences.
    code: String,
}

impl Block {
    fn runnable(&self) -> bool {
        let words: Vec<&str> = self.info.split_whitespace().collect();
        words == ["sh", "run"]
    }

    /// The commands without full-line comments and trailing blanks: what
    /// must be the same in both guides.
    fn commands(&self) -> Vec<&str> {
        self.code
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim_start().starts_with('#') && !l.is_empty())
            .collect()
    }
}

/// The fenced blocks of `markdown` (fences of backticks at the start of a
/// line; the guides nest none).
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String, Vec<&str>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut open {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some((i + 1, info.trim().to_string(), Vec::new()));
                }
            }
            Some((start, info, code)) => {
                if line.trim_end() == "```" {
                    out.push(Block {
                        line: *start,
                        info: std::mem::take(info),
                        code: code.join("\n") + "\n",
                    });
                    open = None;
                } else {
                    code.push(line);
                }
            }
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    out
}

fn runnable_blocks(path: &str) -> Vec<Block> {
    let found: Vec<Block> = blocks(&read_guide(path))
        .into_iter()
        .filter(Block::runnable)
        .collect();
    assert!(!found.is_empty(), "{path} has no `sh run` blocks");
    found
}

/// Runs `code` with `bash -euo pipefail` from the workspace root in a
/// process group of its own; the group is killed after `limit` (and, in
/// any case, whatever the block left behind).
fn run_block(code: &str, limit: Duration) -> Finished {
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", code])
        .current_dir(workspace())
        .env("CARGO_TERM_COLOR", "never");
    for name in CLEARED_ENV {
        cmd.env_remove(name);
    }
    run_bounded(cmd, limit).expect("starting bash")
}

fn passed(ran: &Finished) -> bool {
    !ran.timed_out && ran.status.success()
}

fn output_of(ran: &Finished) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    )
}

/// Runs every `sh run` block of one guide, one after another, and fails
/// with each failing block's line, status and output.
fn run_guide(path: &str) {
    let _one = ONE_GUIDE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut failures = Vec::new();
    let total = Instant::now();
    for block in runnable_blocks(path) {
        let ran = run_block(&block.code, BLOCK_TIMEOUT);
        let passed = passed(&ran);
        let output = output_of(&ran);
        println!(
            "--- {path}:{} ({:.1} s, {})\n{output}",
            block.line,
            ran.elapsed.as_secs_f64(),
            if passed { "ok" } else { "FAILED" },
        );
        if !passed {
            let how = if ran.timed_out {
                format!("still running after {BLOCK_TIMEOUT:?}, killed")
            } else {
                describe_exit(ran.status)
            };
            failures.push(format!(
                "{path}:{}: {how}\n--- block:\n{}--- output:\n{output}",
                block.line, block.code
            ));
        }
    }
    println!(
        "{path}: all blocks in {:.1} s",
        total.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} runnable block(s) of {path} failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn english_guide_commands_run() {
    run_guide(ENGLISH);
}

// The Korean guide's blocks are not run a second time: the test below
// checks that they are the English guide's commands, line for line, and
// those run above. (Running both doubled the longest test of the suite.)

#[test]
fn both_guides_have_the_same_commands() {
    let en = runnable_blocks(ENGLISH);
    let ko = runnable_blocks(KOREAN);
    assert_eq!(
        en.len(),
        ko.len(),
        "{ENGLISH} has {} `sh run` blocks, {KOREAN} has {}",
        en.len(),
        ko.len()
    );
    for (e, k) in en.iter().zip(&ko) {
        assert_eq!(
            e.commands(),
            k.commands(),
            "the block at {ENGLISH}:{} and the one at {KOREAN}:{} differ (only full-line comments may)",
            e.line,
            k.line
        );
    }
}

/// The Markdown links `[text](target)` of a text, with their line.
fn links(markdown: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (i, line) in markdown.lines().enumerate() {
        let mut rest = line;
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let Some(close) = after.find("](") else {
                break;
            };
            let text = &after[..close];
            let target_start = &after[close + 2..];
            let Some(end) = target_start.find(')') else {
                break;
            };
            // `[` inside the text means the real link starts later.
            if let Some(inner) = text.rfind('[') {
                rest = &after[inner..];
                continue;
            }
            out.push((i + 1, text.to_string(), target_start[..end].to_string()));
            rest = &target_start[end..];
        }
    }
    out
}

/// `true` when `source` defines `name` (a fn, type, const, static or mod).
fn defines(source: &str, name: &str) -> bool {
    [
        "fn ", "struct ", "enum ", "const ", "static ", "mod ", "type ", "trait ",
    ]
    .iter()
    .any(|kind| {
        let needle = format!("{kind}{name}");
        source.match_indices(&needle).any(|(at, _)| {
            let next = source[at + needle.len()..].chars().next();
            !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

#[test]
fn guide_links_point_at_what_they_name() {
    let docs = workspace().join("docs");
    let mut broken = Vec::new();
    for guide in [ENGLISH, KOREAN] {
        let text = read_guide(guide);
        let found = links(&text);
        assert!(
            found.len() > 20,
            "{guide}: only {} links found",
            found.len()
        );
        for (line, label, target) in found {
            if target.contains("://") || target.starts_with('#') {
                continue;
            }
            let file = target.split('#').next().unwrap_or_default();
            let path = docs.join(file);
            if !path.exists() {
                broken.push(format!("{guide}:{line}: {target} does not exist"));
                continue;
            }
            // [`name`](file.rs) or [`Type::name`](file.rs): the file must
            // define `name`.
            let Some(code) = label.strip_prefix('`').and_then(|l| l.strip_suffix('`')) else {
                continue;
            };
            let name = code.rsplit("::").next().unwrap_or(code);
            let is_ident = !name.is_empty()
                && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                && !name.chars().all(|c| c.is_ascii_digit());
            if is_ident && path.extension().is_some_and(|ext| ext == "rs") {
                let source = std::fs::read_to_string(&path).unwrap_or_default();
                if !defines(&source, name) {
                    broken.push(format!(
                        "{guide}:{line}: {target} defines no `{name}` (link text {label})"
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_runner_catches_failures_and_hangs() {
    // A wrong expectation fails the block (bash -e).
    let ran = run_block(
        "echo 'listening on 127.0.0.1:1' | grep -q 'listening on 127.0.0.1:2'\necho unreachable\n",
        Duration::from_secs(10),
    );
    assert!(!passed(&ran), "a failing grep passed: {ran:?}");
    assert!(!output_of(&ran).contains("unreachable"), "{ran:?}");
    // A failing command in the middle of a pipeline fails it (pipefail).
    let ran = run_block("false | cat\n", Duration::from_secs(10));
    assert!(!passed(&ran), "pipefail is off: {ran:?}");
    // A hanging block is killed with everything it started.
    let ran = run_block("sleep 60 & echo $!; wait\n", Duration::from_secs(1));
    assert!(ran.timed_out && !passed(&ran), "{ran:?}");
    assert!(
        ran.elapsed < Duration::from_secs(10),
        "the hang was not cut short: {ran:?}"
    );
    let output = output_of(&ran);
    let sleeper = output.trim();
    assert!(!sleeper.is_empty(), "{ran:?}");
    let gone = (0..40).any(|_| {
        // Gone, or a zombie waiting for init to reap it.
        let stat = std::fs::read_to_string(format!("/proc/{sleeper}/stat")).unwrap_or_default();
        let dead = stat.is_empty() || stat.contains(") Z ");
        if !dead {
            std::thread::sleep(Duration::from_millis(50));
        }
        dead
    });
    assert!(gone, "the block's background sleep {sleeper} outlived it");
    // And a good block passes, with its output kept.
    let ran = run_block("echo hello from $(pwd)\n", Duration::from_secs(10));
    assert!(passed(&ran), "{ran:?}");
    assert!(output_of(&ran).contains("hello from"), "{ran:?}");
}

#[test]
fn block_parsing_finds_only_runnable_blocks() {
    let md = "text\n```sh run\necho a\n# note\necho b\n```\n```sh\nnot run\n```\n```text\nx\n```\n";
    let found = blocks(md);
    assert_eq!(found.len(), 3);
    let runnable: Vec<&Block> = found.iter().filter(|b| b.runnable()).collect();
    assert_eq!(runnable.len(), 1);
    assert_eq!(runnable[0].line, 2);
    assert_eq!(runnable[0].commands(), ["echo a", "echo b"]);
}
