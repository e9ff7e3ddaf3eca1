//! The checks that keep `docs/` and `README.md` true to the code, so the walkthrough can
//! never drift from what it explains:
//!
//! - [`excerpts`]: every code block that quotes a file says which file and region, and
//!   matches it; every region marked in the sources is quoted somewhere.
//! - [`commands`]: every command under a "Run it" heading runs, and prints what the page
//!   says it prints (its stable parts: ports and coin flips vary).
//! - [`links`]: every relative link resolves, down to the heading it points at, and every
//!   test a page names exists.
//! - [`flags`]: every flag default a page's table quotes is the one `--help` prints.
//! - [`figures`]: a measured figure is quoted on one page only, the one that measures it.
//!
//! When a quoted region changes on purpose, `DOCS=overwrite cargo test --test docs`
//! rewrites the excerpts from the sources; read the diff, then fix the prose around them.

mod commands;
mod excerpts;
mod figures;
mod flags;
mod links;
mod markdown;
