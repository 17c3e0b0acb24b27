//! Every check the harness runs, as data.
//!
//! A check returns a [`Check`]: its [`Section`], its name, whether it
//! passed, what was expected and what came back, and a one-line hint in
//! the lab's terms. `cargo test -p harness` asserts that checks pass on our
//! variants; `harness grade` reports the same checks under the score.
//!
//! Sections are a type, and each knows its [`Kind`]: the course driver's
//! three scored sections, the extras (what the lab handout asks and the
//! driver does not check), this project's SPEC (our variants only), and
//! the harness's own failures. No score ever depends on a check's name.
//!
//! | module | checks |
//! |---|---|
//! | [`basic`] | objects through the proxy equal a direct fetch |
//! | [`headers`] | the request the origin receives |
//! | [`bad_input`](mod@bad_input), [`corpus`] | malformed and hostile requests |
//! | [`cache`] | served after the origin stops, limits, LRU |
//! | [`concurrency`] | stalled clients, a hanging origin, idle connections |
//! | [`robustness`] | clients that hang up (SIGPIPE), leaks, timeouts |
//! | [`tunnels`] | `CONNECT`: HTTPS through the proxy, refusals, idle tunnels |

pub mod bad_input;
pub mod basic;
pub mod cache;
pub mod concurrency;
pub mod corpus;
pub mod headers;
pub mod robustness;
pub mod tunnels;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clients::http;

pub use bad_input::{BadCase, Expect, bad_cases, bad_input, closed_port, run_bad_case};
pub use basic::{all_objects, basic_all, compare_responses, same_as_direct};
pub use headers::{SeenRequest, echo, request_exact};

/// The `User-Agent` the lab's proxy must send (SPEC §4.4).
pub const LAB_USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:10.0.3) Gecko/20120305 Firefox/10.0.3";

/// How long one check may wait for an answer.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// What a section is for, which decides where the grade reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One of the course driver's sections: the 70 points.
    Scored,
    /// What the lab handout asks and the driver does not check: reported
    /// under the score with a hint, never taking points.
    Extra,
    /// This project's SPEC (exact statuses, header order, limits): for our
    /// variants, never held against a student's proxy.
    Spec,
    /// The harness itself failed (an origin would not start, its own
    /// reference fetch went wrong): not the proxy's fault.
    Harness,
}

/// Where a check belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// driver.sh's Basic: objects through the proxy equal direct fetches.
    Basic,
    /// driver.sh's Concurrency: a fetch beside a request that hangs.
    Concurrency,
    /// driver.sh's Cache: served after the origin stops.
    Cache,
    /// A binary object over 100 KiB, with NULs and CRLFCRLF inside.
    LargeObject,
    /// Response headers spelled as real servers spell them.
    HeaderSpelling,
    /// Dynamic content (the lab's `cgi-bin/adder`).
    Dynamic,
    /// The request the origin receives, by the handout's rules.
    Request,
    /// Cache hits byte-identical to the miss, binaries, the object limit.
    CacheHits,
    /// An origin that is down does not take the proxy with it.
    OriginDown,
    /// Malformed requests do not take the proxy down.
    BadInput,
    /// Clients that hang up mid-response (SIGPIPE, EPIPE, ECONNRESET).
    Sigpipe,
    /// File descriptors and threads return to idle.
    Leaks,
    /// Silent and half-sent clients do not block others.
    StalledClients,
    /// Every object of the test site, byte for byte (SPEC §4.5).
    Objects,
    /// The exact request of SPEC §4.4, in order.
    RequestExact,
    /// The exact error statuses of SPEC §4 and the bad-input corpus.
    Statuses,
    /// The cache's own rules: LRU, limits, hits beside misses (SPEC §5).
    CacheRules,
    /// Header, connect and idle timeouts (SPEC §6).
    Timeouts,
    /// Connection limits, floods, shutdown, kernel memory (SPEC §6).
    Limits,
    /// The deny list and the loop guard, whatever the spelling (SPEC §4).
    Security,
    /// A graceful close that never destroys the answer (SPEC §4.6).
    Close,
    /// Bad configuration refused at start (SPEC §3).
    Config,
    /// Real clients: curl and a browser.
    RealClients,
    /// `CONNECT` tunnels (SPEC 4.7).
    Tunnels,
    /// The harness's own setup.
    Setup,
}

impl Section {
    /// Which group the section is reported in.
    #[must_use]
    pub fn kind(self) -> Kind {
        use Section::{
            BadInput, Basic, Cache, CacheHits, CacheRules, Close, Concurrency, Config, Dynamic,
            HeaderSpelling, LargeObject, Leaks, Limits, Objects, OriginDown, RealClients, Request,
            RequestExact, Security, Setup, Sigpipe, StalledClients, Statuses, Timeouts, Tunnels,
        };
        match self {
            Basic | Concurrency | Cache => Kind::Scored,
            LargeObject | HeaderSpelling | Dynamic | Request | CacheHits | OriginDown
            | BadInput | Sigpipe | Leaks | StalledClients => Kind::Extra,
            Objects | RequestExact | Statuses | CacheRules | Timeouts | Limits | Security
            | Close | Config | RealClients | Tunnels => Kind::Spec,
            Setup => Kind::Harness,
        }
    }

    /// The section's name in reports.
    #[must_use]
    pub fn title(self) -> &'static str {
        use Section::{
            BadInput, Basic, Cache, CacheHits, CacheRules, Close, Concurrency, Config, Dynamic,
            HeaderSpelling, LargeObject, Leaks, Limits, Objects, OriginDown, RealClients, Request,
            RequestExact, Security, Setup, Sigpipe, StalledClients, Statuses, Timeouts, Tunnels,
        };
        match self {
            Basic => "Basic",
            Concurrency => "Concurrency",
            Cache => "Cache",
            LargeObject => "large binary object",
            HeaderSpelling => "real servers' header spelling",
            Dynamic => "dynamic content",
            Request => "request to the origin",
            CacheHits => "cache hits",
            OriginDown => "origin down",
            BadInput => "malformed requests",
            Sigpipe => "clients that hang up",
            Leaks => "leaks",
            StalledClients => "stalled clients",
            Objects => "every object",
            RequestExact => "exact request (SPEC 4.4)",
            Statuses => "error statuses (SPEC 4)",
            CacheRules => "cache rules (SPEC 5)",
            Timeouts => "timeouts (SPEC 6)",
            Limits => "limits (SPEC 6)",
            Security => "deny list and loop guard (SPEC 4)",
            Close => "graceful close (SPEC 4.6)",
            Config => "configuration (SPEC 3)",
            RealClients => "real clients",
            Tunnels => "CONNECT tunnels (SPEC 4.7)",
            Setup => "harness setup",
        }
    }
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.title())
    }
}

/// The result of one check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// Where it belongs.
    pub section: Section,
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was expected and what came back (empty when it passed).
    pub detail: String,
    /// A hint in the lab's terms, when it failed.
    pub hint: Option<String>,
}

impl Check {
    /// A passed check.
    pub fn pass(section: Section, name: impl Into<String>) -> Check {
        Check {
            section,
            name: name.into(),
            passed: true,
            detail: String::new(),
            hint: None,
        }
    }

    /// A failed check with what went wrong and a hint.
    pub fn fail(
        section: Section,
        name: impl Into<String>,
        detail: impl Into<String>,
        hint: Option<&str>,
    ) -> Check {
        Check {
            section,
            name: name.into(),
            passed: false,
            detail: detail.into(),
            hint: hint.map(str::to_string),
        }
    }

    /// Pass or fail from a result.
    pub fn from_result(
        section: Section,
        name: impl Into<String>,
        result: Result<(), Failure>,
    ) -> Check {
        match result {
            Ok(()) => Check::pass(section, name),
            Err(f) => Check::fail(section, name, f.detail, f.hint),
        }
    }

    /// Pass when `ok`, else fail with `detail` and `hint`.
    pub fn expect(
        section: Section,
        name: impl Into<String>,
        ok: bool,
        detail: impl FnOnce() -> String,
        hint: Option<&str>,
    ) -> Check {
        if ok {
            Check::pass(section, name)
        } else {
            Check::fail(section, name, detail(), hint)
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.passed { "ok  " } else { "FAIL" };
        write!(f, "{mark} [{}] {}", self.section, self.name)?;
        if !self.passed {
            write!(f, "\n       {}", self.detail.replace('\n', "\n       "))?;
            if let Some(hint) = &self.hint {
                write!(f, "\n       hint: {hint}")?;
            }
        }
        Ok(())
    }
}

/// Why a check failed.
#[derive(Debug)]
pub struct Failure {
    /// Expected versus got.
    pub detail: String,
    /// A hint in the lab's terms.
    pub hint: Option<&'static str>,
}

impl Failure {
    /// A failure with a hint.
    pub fn new(detail: impl Into<String>, hint: Option<&'static str>) -> Failure {
        Failure {
            detail: detail.into(),
            hint,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        let text = format!("{error:#}");
        let partial = error
            .downcast_ref::<http::Incomplete>()
            .map(|i| i.partial.as_slice())
            .unwrap_or_default();
        let hint = if partial.starts_with(b"HTTP/1.1") {
            Some(
                "the answer started but never ended: your proxy sent HTTP/1.1 to the server, which kept the connection open; send HTTP/1.0 and Connection: close",
            )
        } else if text.contains("timed out") {
            Some("no answer in time: does your proxy hang on this request?")
        } else if text.contains("refused") {
            Some("the proxy refused the connection: did it die?")
        } else {
            None
        };
        Failure::new(text, hint)
    }
}

/// Panics with every failed check, for tests.
///
/// # Panics
///
/// When any check in `checks` failed; the message lists each failure.
pub fn assert_all_passed(checks: &[Check]) {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(std::string::ToString::to_string)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} checks failed:\n{}",
        failed.len(),
        checks.len(),
        failed.join("\n")
    );
    assert!(!checks.is_empty(), "no checks ran");
}
