//! The `harness` subcommands. Each module has the same shape: an `Args`
//! struct (the subcommand's flags, for clap) and `run(&Args) ->
//! Result<ExitCode>`, which calls into the library and prints.

pub mod bench;
pub mod class;
pub mod compare;
pub mod demo;
pub mod grade;
pub mod load;
pub mod sandbox;
