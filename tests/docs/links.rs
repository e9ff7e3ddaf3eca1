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
