//! Every relative link in the docs leads somewhere: a file or folder of the repository, and
//! for a link into a page, one of its headings. Links with a scheme (https:) are left to the
//! reader's browser: checking them needs a network that CI does not have.
//!
//! Written here rather than with a link checker such as lychee because this is a few lines
//! over the pages the other checks already parse, while building lychee would add minutes
//! to every CI run.

use std::path::{Component, Path, PathBuf};

use crate::markdown::{self, Page, root};

#[test]
fn every_relative_link_resolves() {
    let pages = markdown::pages();
    let mut broken = Vec::new();
    for page in &pages {
        for (target, at) in markdown::links(page) {
            if let Err(problem) = resolve(page, &target, &pages) {
                broken.push(format!("{at}: {target}: {problem}"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The crate's rustdoc front page links to the walkthrough. rustdoc writes the page to
/// `target/doc/grpc_tour/index.html`, so the link climbs three levels to the repository.
#[test]
fn the_rustdoc_front_page_links_to_the_walkthrough() {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let link = "(../../../docs/README.md)";
    assert!(lib.contains(link), "src/lib.rs's //! should link {link}");
    let from = root().join("target/doc/grpc_tour");
    assert!(normalize(&from.join("../../../docs/README.md")).is_file());
}

fn resolve(page: &Page, target: &str, pages: &[Page]) -> Result<(), String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return Ok(());
    }
    let (file, anchor) = match target.split_once('#') {
        Some((file, anchor)) => (file, Some(anchor)),
        None => (target, None),
    };
    let path = if file.is_empty() {
        root().join(&page.path)
    } else {
        normalize(&page.base.join(file))
    };
    if !path.exists() {
        return Err("no such file".into());
    }
    let Some(anchor) = anchor else {
        return Ok(());
    };
    let Some(linked) = pages.iter().find(|p| root().join(&p.path) == path) else {
        return Err("an anchor into a file that is not a checked page".into());
    };
    if markdown::heading_anchors(linked)
        .iter()
        .any(|a| a == anchor)
    {
        Ok(())
    } else {
        Err(format!("no heading with the anchor #{anchor}"))
    }
}

/// Resolves `.` and `..` without touching the file system, so that a path through a
/// folder that does not exist yet (target/doc before `cargo doc`) still resolves.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// Every test a page names (`a_replica_killed_mid_run_costs_no_safe_call`) still stands in
/// the code: a test renamed or removed leaves no page pointing at it. A test name here is a
/// `snake_case` name of five words or more, in backticks, on a line that says "test" or
/// "same file" (where a table cites one), so that metric names and the like are left alone.
#[test]
fn every_test_a_page_names_is_in_the_code() {
    let name = regex_lite::Regex::new(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+){4,})`").unwrap();
    let mut code = String::new();
    for folder in [
        "src",
        "tests",
        "examples",
        "bench",
        "docs/build-it-yourself",
    ] {
        read_rust(&root().join(folder), &mut code);
    }
    let mut missing = Vec::new();
    for page in markdown::pages() {
        for found in name.captures_iter(&page.text) {
            let quoted = &found[1];
            let start = found.get(0).unwrap().start();
            let line_start = page.text[..start].rfind('\n').map_or(0, |at| at + 1);
            let line_end = page.text[start..]
                .find('\n')
                .map_or(page.text.len(), |at| start + at);
            let line = &page.text[line_start..line_end];
            let cites_a_test = line.contains("test") || line.contains("same file");
            if cites_a_test && !code.contains(quoted) {
                let at = page.at(found.get(1).unwrap().start());
                missing.push(format!("{at}: `{quoted}` is nowhere in the code"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Appends every `.rs` file under `dir` to `code`.
fn read_rust(dir: &Path, code: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("target") {
            read_rust(&path, code);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            code.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}
