//! The command line: flags (`args`), the commands (`commands`), rendering
//! for people and scripts (`render`), terminal progress (`progress`),
//! signals (`signals`) and the streams (`output`). It calls the library
//! and never touches the index itself.

mod args;
mod commands;
mod output;
mod progress;
mod render;
mod signals;

pub(crate) use commands::main;
