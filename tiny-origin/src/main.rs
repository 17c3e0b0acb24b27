//! `tiny-origin`: the Tiny-like origin server binary. It parses the flags and
//! calls [`tiny_origin::run`]; see the library docs for what it serves.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config = tiny_origin::Config::parse();
    tiny_origin::init_logging();
    tiny_origin::run(&config)
}
