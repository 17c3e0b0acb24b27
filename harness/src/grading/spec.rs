//! The SPEC group: this project's own promises (SPEC §4), beyond the
//! handout — the exact request in order, and the exact status of each
//! error. It runs for our variants only; a student's proxy is never held
//! to it.

use std::time::Duration;

use super::sections::{join_all, spawn_section};
use crate::checks::bad_input::{bad_cases, bad_input, closed_port};
use crate::checks::headers::request_exact;
use crate::checks::{Check, Section};
use crate::lab::{Lab, ProxySpec, start_origin};

/// The longest one part may take.
const BUDGET: Duration = Duration::from_secs(20);

/// Runs the SPEC group against `proxy` (one of our variants).
pub fn run(proxy: &ProxySpec) -> Vec<Check> {
    let exact = spawn_section(
        proxy,
        Section::RequestExact,
        &["--no-cache"],
        BUDGET,
        |proxy, _| match start_origin(&[]) {
            Ok(origin) => request_exact(Lab {
                origin: origin.addr,
                proxy: proxy.addr,
            }),
            Err(e) => vec![setup_failed(Section::RequestExact, &e)],
        },
    );
    let statuses = spawn_section(
        proxy,
        Section::Statuses,
        &["--deny", "denied.invalid"],
        BUDGET,
        |proxy, _| match start_origin(&[]) {
            Ok(origin) => bad_input(
                Lab {
                    origin: origin.addr,
                    proxy: proxy.addr,
                },
                &bad_cases(origin.addr, closed_port()),
            ),
            Err(e) => vec![setup_failed(Section::Statuses, &e)],
        },
    );
    join_all(vec![
        (Section::RequestExact, exact),
        (Section::Statuses, statuses),
    ])
}

fn setup_failed(section: Section, error: &anyhow::Error) -> Check {
    Check::fail(
        Section::Setup,
        format!("{section}: start an origin"),
        format!("{error:#}"),
        None,
    )
}
