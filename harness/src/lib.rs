//! # harness: starts, checks and grades Proxy Lab proxies
//!
//! The library behind `cargo test -p harness` and the `harness` command.
//! It runs tiny-origin in this process, starts a proxy on a free loopback
//! port, talks to it with raw sockets (to control every byte), with curl's
//! semantics (to see what the course's driver sees) and with reqwest (a
//! real client), and kills everything it started, whatever happens.
//!
//! # Layout
//!
//! Dependencies point one way, down this list:
//!
//! - [`class`]: a whole class — every submission built with `make` and
//!   graded in the sandbox, several at once; `grades.csv`, `grades.json`,
//!   `report.html`, a `feedback.txt` per student.
//! - [`grading`]: the course driver's 70 points ([`grading::driver`]), the
//!   extras that explain without scoring, the SPEC group, the report, and
//!   Gradescope's `results.json` ([`grading::gradescope`]).
//! - [`compare`], [`load`]: the lecture's side-by-side run and the load test.
//! - [`checks`]: every check, as data (section, name, passed,
//!   expected/got, hint), shared by the tests and the grade.
//! - [`lab`]: our variants, any proxy command, the in-process origins, and
//!   the [`Lab`] pair of addresses every check takes.
//! - [`clients`]: raw sockets, curl's semantics, real programs.
//! - [`sandbox`]: untrusted code's limits, user of its own and namespaces.
//! - [`process`]: child processes, bounded runs and jobs, `/proc`.
//! - [`bins`]: builds our variants (never a stale one).
//! - [`tunnel_load`]: MiB/s through `CONNECT` tunnels, behind `harness
//!   bench`'s TLS cell.
//!
//! The `harness` binary adds `cli` (one `Args` and `run` per subcommand)
//! and `bench` (plan, interleaved rounds, medians, the nginx and peer
//! configurations, the report), which only the command needs.
//! - [`safety`]: helpers for the checks of SPEC §4–§6's promises (cache
//!   privacy, address spellings, stalled clients, open-file limits).

pub mod bins;
pub mod checks;
pub mod class;
pub mod clients;
pub mod compare;
pub mod grading;
pub mod lab;
pub mod load;
pub mod process;
pub mod safety;
pub mod sandbox;
pub mod tunnel_load;

pub use lab::{
    CONCURRENT, Lab, Origin, ProxySpec, Setup, VARIANTS, Variant, on_each_variant,
    on_each_variant_with, start_origin, start_tiny, start_variant,
};
pub use process::Running;
