//! `harness bench`: our three proxies side by side with a direct fetch,
//! nginx as a forward proxy, tinyproxy and squid, in one run, as Markdown.
//!
//! nginx (sendfile, one worker) is the origin. wrk is the load:
//! absolute-URI GETs with `Connection: close`, one request per connection
//! as in the lab, through each proxy or straight to the origin. Everything
//! shares the machine's cores, so absolute figures move with whatever else
//! runs: the report gives ratios within one run, to the direct fetch and to
//! nginx as a forward proxy (the best-known C event loop doing our job).
//! One wrk run swings by ±30% here, so every cell is measured in several
//! rounds with the subjects interleaved, and medians are judged.
//!
//! # Layout
//!
//! - [`plan`]: the cells, the subjects, the interleaved order (pure).
//! - [`run`]: starting and checking the subjects, running wrk, sampling RSS.
//! - [`results`], [`stats`]: what was measured; medians, spreads and
//!   paired ratios (pure).
//! - [`targets`]: the targets as a table, and how one is judged (pure).
//! - [`report`]: the Markdown.
//! - [`nginx`], [`peers`]: the programs measured and their config files;
//!   [`load`]: wrk; [`idle`]: the idle-connections measure; [`tls`]: the
//!   HTTPS cell, 10 MiB through our variants' `CONNECT` tunnels.
//!
//! The command line is [`crate::cli::bench`]. Everything binds 127.0.0.1
//! on free ports; config files go to a temporary directory; every process
//! started is in its own process group, killed when dropped.

pub mod idle;
pub mod load;
pub mod nginx;
pub mod peers;
pub mod plan;
pub mod report;
pub mod results;
pub mod run;
pub mod stats;
pub mod targets;
pub mod tls;
