//! Grading any proxy the way the course's driver does (SPEC §8).
//!
//! [`grade`] gives the 70 points exactly as driver.sh gives them — Basic
//! 40, Concurrency 15, Cache 15, by driver.sh's own procedure against an
//! origin that answers like Tiny ([`driver`]) — and then runs the
//! [`extras`]: what the lab handout asks and the driver does not check,
//! each with what was expected, what came back and a hint. Extras never
//! take points. For this workspace's own variants it also runs the
//! [`spec`] group (this project's exact statuses and header order).
//!
//! Nothing here builds anything or spawns an origin: the origins run in
//! this process (tiny-origin is linked in), so the `harness` binary alone
//! grades `./proxy` in any directory.

pub mod driver;
pub mod extras;
pub mod gradescope;
pub mod report;
mod sections;
pub mod spec;

use std::time::Instant;

use tiny_origin::TinyVersion;

use crate::lab::ProxySpec;

pub use report::{Report, Score};

/// What a grade runs besides the 70 points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GradeOptions {
    /// Run the extras (the default).
    pub extras: bool,
    /// Run this project's SPEC group (the default for our variants only).
    pub spec: bool,
    /// Which `tiny.c` the 70 points are graded against (the book's by
    /// default; the 2019 handout's differs only in two header lines).
    pub tiny: TinyVersion,
}

impl GradeOptions {
    /// The defaults for `proxy`: extras always, the SPEC group for our
    /// variants.
    pub fn for_proxy(proxy: &ProxySpec) -> GradeOptions {
        GradeOptions {
            extras: true,
            spec: matches!(proxy, ProxySpec::Variant(_)),
            tiny: TinyVersion::default(),
        }
    }
}

/// Grades `proxy` with the default options.
pub fn grade(proxy: &ProxySpec) -> Report {
    grade_with(proxy, GradeOptions::for_proxy(proxy))
}

/// Grades `proxy`: the driver's three sections one after another (as
/// driver.sh runs them, each with a fresh proxy and a fresh origin), then
/// the extras and the SPEC group side by side.
pub fn grade_with(proxy: &ProxySpec, options: GradeOptions) -> Report {
    grade_reporting(proxy, options, &mut |_| {})
}

/// [`grade_with`], handing each of the three scored sections to
/// `scored` as soon as it is done (before the extras run): a grade that
/// is stopped later still knows the points already earned.
pub fn grade_reporting(
    proxy: &ProxySpec,
    options: GradeOptions,
    scored: &mut dyn FnMut(&driver::SectionResult),
) -> Report {
    let start = Instant::now();
    let driven = driver::run_reporting(proxy, options.tiny, scored);
    let extra_checks = if options.extras {
        extras::run(proxy)
    } else {
        Vec::new()
    };
    let spec_checks = if options.spec {
        spec::run(proxy)
    } else {
        Vec::new()
    };
    Report::new(
        proxy.name(),
        driven,
        extra_checks,
        spec_checks,
        start.elapsed(),
    )
}
