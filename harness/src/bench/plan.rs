//! What a bench run measures, in which order: the cells (body size ×
//! connections, caches off or on), the subjects in each, and the
//! interleaved order of the repetitions. Pure data and functions; nothing
//! here starts a process.

use std::fmt;
use std::time::Duration;

use harness::lab::Variant;

/// How many nginx worker processes a forward-proxy nginx runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workers {
    /// `worker_processes auto`: one per CPU, nginx's usual setting.
    Auto,
    /// `worker_processes 1`: one event loop, like proxy-async on one core.
    One,
}

/// Something wrk's load goes through (or, for [`Subject::Direct`], not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// wrk straight to the origin: the ceiling no proxy can pass.
    Direct,
    /// nginx as a forward proxy (`proxy_pass` to the request's absolute
    /// URI); in a cache cell, with `proxy_cache`.
    Nginx(Workers),
    /// tinyproxy, a small C forward proxy (no cache).
    Tinyproxy,
    /// squid, the classic caching proxy.
    Squid,
    /// One of our three variants.
    Ours(Variant),
    /// Any proxy, started by a shell command with `{port}` where the port
    /// goes (`--with`): a student's proxy, or another build of ours to
    /// compare within one run. The text lives for the whole program.
    Command(&'static str),
}

/// The reference every cell's ratios are taken to, besides the direct
/// fetch: nginx as a forward proxy, configured as nginx is usually run.
pub const NGINX: Subject = Subject::Nginx(Workers::Auto);

impl Subject {
    /// The row's name; `cache` says whether the cell has caches on.
    pub fn name(self, cache: bool) -> String {
        let on = if cache { " (cache on)" } else { "" };
        match self {
            Subject::Direct => "direct (origin)".into(),
            Subject::Nginx(workers) => {
                let what = if cache {
                    "nginx proxy_cache"
                } else {
                    "nginx fwd"
                };
                match workers {
                    Workers::Auto => format!("{what} (auto)"),
                    Workers::One => format!("{what} (1 worker)"),
                }
            }
            Subject::Tinyproxy => "tinyproxy".into(),
            Subject::Squid => format!("squid{on}"),
            Subject::Ours(v) => format!("{}{on}", v.package()),
            Subject::Command(cmd) => format!("`{cmd}`"),
        }
    }

    /// The name `--only` matches.
    pub fn short(self) -> &'static str {
        match self {
            Subject::Direct => "direct",
            Subject::Nginx(Workers::Auto) => "nginx",
            Subject::Nginx(Workers::One) => "nginx-1",
            Subject::Tinyproxy => "tinyproxy",
            Subject::Squid => "squid",
            Subject::Ours(v) => v.package().trim_start_matches("proxy-"),
            Subject::Command(cmd) => cmd,
        }
    }

    /// `true` for the subjects every ratio needs: always measured.
    pub fn is_anchor(self) -> bool {
        self == Subject::Direct || self == NGINX
    }
}

/// One cell of the table: every subject is measured under this load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cell {
    /// Body size in bytes.
    pub body: u64,
    /// Connections wrk keeps open.
    pub conns: u32,
    /// Caches on, the same object fetched again and again (a cache hit).
    pub cache: bool,
}

impl Cell {
    /// A cell with caches off.
    pub const fn miss(body: u64, conns: u32) -> Cell {
        Cell {
            body,
            conns,
            cache: false,
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hit = if self.cache { " hit" } else { "" };
        // `pad`, so a width in the format string (`{cell:<16}`) applies.
        f.pad(&format!("{}{hit} × {}", size_name(self.body), self.conns))
    }
}

/// 1 KiB × 64 connections: small objects, many clients.
pub const K1_64: Cell = Cell::miss(1024, 64);
/// 1 KiB × 1 connection: one client, latency-bound.
pub const K1_1: Cell = Cell::miss(1024, 1);
/// 100 KiB × 64.
pub const K100_64: Cell = Cell::miss(100 * 1024, 64);
/// 10 MiB × 64: bandwidth-bound.
pub const M10_64: Cell = Cell::miss(10 << 20, 64);
/// One 1 KiB object again and again, caches on, 64 connections.
pub const HIT_1K_64: Cell = Cell {
    body: 1024,
    conns: 64,
    cache: true,
};

/// The cells of every run, in the order they are measured.
pub const CELLS: [Cell; 5] = [K1_64, K1_1, K100_64, M10_64, HIT_1K_64];

/// Every subject of a full run (a cache cell leaves out tinyproxy, which
/// has no cache).
const FULL: [Subject; 8] = [
    Subject::Direct,
    Subject::Nginx(Workers::Auto),
    Subject::Nginx(Workers::One),
    Subject::Tinyproxy,
    Subject::Squid,
    Subject::Ours(Variant::Seq),
    Subject::Ours(Variant::Thread),
    Subject::Ours(Variant::Async),
];

/// `--quick`: what the targets need.
const QUICK: [Subject; 4] = [
    Subject::Direct,
    NGINX,
    Subject::Ours(Variant::Thread),
    Subject::Ours(Variant::Async),
];

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--quick`: fewer subjects, repetitions and seconds.
    pub quick: bool,
    /// `--only`: subjects besides the anchors (short names); empty = all.
    pub only: Vec<String>,
    /// `--reps`, if given.
    pub reps: Option<usize>,
    /// `--seconds`, if given.
    pub seconds: Option<u64>,
    /// `--with`: proxies started by a command, measured in every cell.
    pub with: Vec<&'static str>,
}

/// A whole run: cells, their subjects, repetitions and wrk's duration.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Each cell with the subjects measured in it, in their first order.
    pub cells: Vec<(Cell, Vec<Subject>)>,
    /// Subjects of the idle-connections measure.
    pub idle: Vec<Subject>,
    /// Rounds: in each, every subject of a cell is measured once.
    pub reps: usize,
    /// wrk's duration per measurement.
    pub duration: Duration,
    /// `--quick` was asked.
    pub quick: bool,
}

impl Plan {
    /// Builds the plan; `installed` says whether a subject's program is
    /// present (a missing peer is left out, not failed).
    pub fn new(options: &Options, installed: impl Fn(Subject) -> bool) -> Plan {
        let base: &[Subject] = if options.quick { &QUICK } else { &FULL };
        let pool: Vec<Subject> = base
            .iter()
            .copied()
            .chain(options.with.iter().map(|&c| Subject::Command(c)))
            .collect();
        let wanted = |s: Subject| {
            installed(s)
                && (s.is_anchor()
                    || matches!(s, Subject::Command(_))
                    || options.only.is_empty()
                    || options.only.iter().any(|o| o == s.short()))
        };
        let cells = CELLS
            .iter()
            .map(|&cell| {
                let subjects = pool
                    .iter()
                    .copied()
                    .filter(|&s| wanted(s) && !(cell.cache && s == Subject::Tinyproxy))
                    .collect();
                (cell, subjects)
            })
            .collect();
        let idle = pool
            .iter()
            .copied()
            .filter(|&s| !matches!(s, Subject::Direct | Subject::Nginx(_)))
            .filter(|&s| wanted(s))
            .collect();
        Plan {
            cells,
            idle,
            reps: options
                .reps
                .unwrap_or(if options.quick { 3 } else { 5 })
                .max(1),
            duration: Duration::from_secs(
                options
                    .seconds
                    .unwrap_or(if options.quick { 2 } else { 3 })
                    .max(1),
            ),
            quick: options.quick,
        }
    }

    /// Measurements in all (wrk runs), for progress lines.
    pub fn measurements(&self) -> usize {
        self.cells.iter().map(|(_, s)| s.len()).sum::<usize>() * self.reps
    }
}

/// The order of repetition `rep`: the subjects rotated by `rep` places, so
/// every subject is measured once per round, rounds interleave (ABC ABC,
/// never AAA BBB), and no subject is always first or always right after
/// the same neighbour's warm-up.
pub fn order<T: Clone>(subjects: &[T], rep: usize) -> Vec<T> {
    let mut rotated = subjects.to_vec();
    if !rotated.is_empty() {
        let by = rep % rotated.len();
        rotated.rotate_left(by);
    }
    rotated
}

/// `1 KiB`, `100 KiB`, `10 MiB`.
pub fn size_name(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: Subject) -> bool {
        true
    }

    #[test]
    fn every_round_measures_every_subject_once_in_a_new_order() {
        let subjects = FULL.to_vec();
        let mut firsts = Vec::new();
        for rep in 0..subjects.len() {
            let round = order(&subjects, rep);
            let mut sorted = round.clone();
            sorted.sort_by_key(|s| s.short());
            let mut expected = subjects.clone();
            expected.sort_by_key(|s| s.short());
            assert_eq!(sorted, expected, "round {rep}");
            firsts.push(round[0]);
        }
        // Every subject leads exactly one round.
        for s in &subjects {
            assert_eq!(firsts.iter().filter(|f| *f == s).count(), 1, "{s:?}");
        }
        assert_eq!(order(&subjects, 1)[0], Subject::Nginx(Workers::Auto));
        assert!(order::<Subject>(&[], 3).is_empty());
    }

    #[test]
    fn the_anchors_are_always_measured() {
        let options = Options {
            only: vec!["async".into()],
            ..Options::default()
        };
        let plan = Plan::new(&options, all);
        for (cell, subjects) in &plan.cells {
            assert_eq!(
                subjects,
                &vec![Subject::Direct, NGINX, Subject::Ours(Variant::Async)],
                "{cell}"
            );
        }
        assert_eq!(plan.idle, vec![Subject::Ours(Variant::Async)]);
    }

    #[test]
    fn quick_is_smaller_and_cache_cells_leave_out_tinyproxy() {
        let full = Plan::new(&Options::default(), all);
        let quick = Plan::new(
            &Options {
                quick: true,
                ..Options::default()
            },
            all,
        );
        assert!(quick.measurements() * 3 < full.measurements());
        assert_eq!((full.reps, quick.reps), (5, 3));
        let (hit, subjects) = full.cells.last().expect("cells");
        assert!(hit.cache);
        assert!(!subjects.contains(&Subject::Tinyproxy));
        assert!(full.cells[0].1.contains(&Subject::Tinyproxy));
        assert_eq!(full.cells.len(), CELLS.len());
    }

    #[test]
    fn commands_join_every_cell() {
        let options = Options {
            quick: true,
            only: vec!["thread".into()],
            with: vec!["/tmp/proxy {port}"],
            ..Options::default()
        };
        let plan = Plan::new(&options, all);
        let cmd = Subject::Command("/tmp/proxy {port}");
        assert!(plan.cells.iter().all(|(_, s)| s.contains(&cmd)));
        assert!(plan.idle.contains(&cmd));
        assert_eq!(cmd.name(false), "`/tmp/proxy {port}`");
    }

    #[test]
    fn missing_programs_are_left_out() {
        let plan = Plan::new(&Options::default(), |s| s != Subject::Squid);
        assert!(plan.cells.iter().all(|(_, s)| !s.contains(&Subject::Squid)));
        assert!(!plan.idle.contains(&Subject::Squid));
    }

    #[test]
    fn names_say_what_runs() {
        assert_eq!(K1_64.to_string(), "1 KiB × 64");
        assert_eq!(HIT_1K_64.to_string(), "1 KiB hit × 64");
        assert_eq!(M10_64.to_string(), "10 MiB × 64");
        assert_eq!(NGINX.name(false), "nginx fwd (auto)");
        assert_eq!(
            Subject::Nginx(Workers::One).name(true),
            "nginx proxy_cache (1 worker)"
        );
        assert_eq!(Subject::Ours(Variant::Async).short(), "async");
    }
}
