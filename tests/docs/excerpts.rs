//! Every code excerpt in the docs is a copy of a marked region of a source file, checked.
//!
//! A source marks a region with comments, as mdBook does:
//!
//! ```text
//! // ANCHOR: sum_handler
//! ...the lines to quote...
//! // ANCHOR_END: sum_handler
//! ```
//!
//! (`#` instead of `//` in TOML and Python). A page quotes it with a comment right before
//! the code block, `<!-- excerpt: src/lesson/summator.rs#sum_handler -->`; the block must then
//! equal the region, minus its common indent and any anchor lines nested in it.
//!
//! Generated code has no anchors, so `<!-- excerpt: $OUT_DIR/tour.rs -->` (no region)
//! quotes it in pieces instead: the block is split at `// ...` lines, and each piece must
//! appear, line for line, in the file, in order.

use std::{collections::BTreeMap, fs, path::PathBuf};

use pretty_assertions::StrComparison;
use regex_lite::Regex;

use crate::markdown::{self, CodeBlock, Page, root};

/// Languages whose code blocks must all be excerpts: the docs write none of it freehand.
const QUOTED_LANGUAGES: [&str; 6] = ["rust", "protobuf", "toml", "python", "nginx", "yaml"];

/// Where anchors may be, and so where the check looks for regions nobody quotes.
const SOURCES: [&str; 11] = [
    "src",
    "docs/build-it-yourself",
    "examples",
    "tests",
    "protos",
    "interop",
    "proxy",
    "prometheus",
    "build.rs",
    "Cargo.toml",
    ".ci",
];

#[test]
fn every_excerpt_matches_the_region_it_quotes() {
    let overwrite = std::env::var("DOCS").is_ok_and(|v| v == "overwrite");
    let mut failures = Vec::new();
    for page in markdown::pages() {
        let mut rewrites = Vec::new();
        for block in markdown::code_blocks(&page) {
            let Some(marker) = &block.excerpt else {
                if QUOTED_LANGUAGES.contains(&block.lang.as_str()) {
                    failures.push(format!(
                        "{}: a {} block with no `<!-- excerpt: FILE#REGION -->` before it; \
                         quote the source instead of writing code into the docs",
                        page.at(block.span.start),
                        block.lang
                    ));
                }
                continue;
            };
            match quote(marker) {
                Err(problem) => failures.push(format!("{}: {problem}", page.at(block.span.start))),
                Ok(Quote::Region(region)) if region != block.code => {
                    if overwrite {
                        rewrites.push((block.span.clone(), region));
                    } else {
                        failures.push(drift(&page, &block, marker, &region));
                    }
                }
                Ok(Quote::Pieces(text)) => {
                    if let Err(piece) = pieces_appear_in_order(&block.code, &text) {
                        failures.push(format!(
                            "{}: this part of the excerpt is not in {marker} (in that order):\n{piece}",
                            page.at(block.span.start)
                        ));
                    }
                }
                Ok(Quote::Region(_)) => {}
            }
        }
        rewrite(&page, rewrites);
    }
    assert!(
        failures.is_empty(),
        "the docs no longer match the code (DOCS=overwrite cargo test --test docs \
         rewrites the excerpts from the sources):\n\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn every_marked_region_is_quoted_somewhere() {
    let quoted: Vec<String> = markdown::pages()
        .iter()
        .flat_map(markdown::code_blocks)
        .filter_map(|block| block.excerpt)
        .collect();
    let unquoted: Vec<String> = anchored_regions()
        .into_iter()
        .filter(|region| !quoted.contains(region))
        .collect();
    assert!(
        unquoted.is_empty(),
        "these regions are marked but no page quotes them; quote them or remove the \
         ANCHOR comments: {unquoted:?}"
    );
}

#[test]
fn a_region_is_cut_dedented_and_without_nested_anchors() {
    let source = "fn a() {\n    // ANCHOR: body\n\n    let x = 1;\n    // ANCHOR: inner\n        x\n    // ANCHOR_END: inner\n    // ANCHOR_END: body\n}\n";
    assert_eq!(region_of(source, "body").unwrap(), "let x = 1;\n    x\n");
    assert_eq!(region_of(source, "inner").unwrap(), "x\n");
    assert!(region_of(source, "missing").is_err());
}

#[test]
fn pieces_must_each_appear_whole_and_in_order() {
    let source = "a\n  b\nc\nd\n";
    assert!(pieces_appear_in_order("a\nb\n// ...\nd\n", source).is_ok());
    assert!(pieces_appear_in_order("d\n// ...\na\n", source).is_err());
    assert!(pieces_appear_in_order("a\nc\n", source).is_err());
}

enum Quote {
    /// The exact text of a marked region.
    Region(String),
    /// A whole file, to be quoted in pieces.
    Pieces(String),
}

fn quote(marker: &str) -> Result<Quote, String> {
    let (file, region) = match marker.split_once('#') {
        Some((file, region)) => (file, Some(region)),
        None => (marker, None),
    };
    let path = match file.strip_prefix("$OUT_DIR/") {
        Some(generated) => PathBuf::from(env!("OUT_DIR")).join(generated),
        None => root().join(file),
    };
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {file}: {e}"))?;
    match region {
        Some(region) => Ok(Quote::Region(
            region_of(&text, region).map_err(|e| format!("{file}: {e}"))?,
        )),
        None if file.starts_with("$OUT_DIR/") => Ok(Quote::Pieces(text)),
        None => Err(format!(
            "{file}: name a region (FILE#REGION); only generated files are quoted in pieces"
        )),
    }
}

fn anchor_line() -> Regex {
    Regex::new(r"^\s*(?://|#)\s*ANCHOR(_END)?:\s*(\S+)\s*$").unwrap()
}

/// The lines between `ANCHOR: name` and `ANCHOR_END: name`, without anchor lines, dedented.
fn region_of(source: &str, name: &str) -> Result<String, String> {
    let anchor = anchor_line();
    let mut lines = Vec::new();
    let mut inside = false;
    for line in source.lines() {
        match anchor.captures(line) {
            Some(found) if &found[2] == name => {
                let is_end = found.get(1).is_some();
                if is_end != inside {
                    return Err(format!("ANCHOR and ANCHOR_END of {name:?} do not pair up"));
                }
                if is_end {
                    return Ok(dedent(&lines));
                }
                inside = true;
            }
            Some(_) => {}
            None if inside => lines.push(line),
            None => {}
        }
    }
    Err(format!(
        "no region {name:?} (ANCHOR: {name} ... ANCHOR_END: {name})"
    ))
}

fn dedent(mut lines: &[&str]) -> String {
    // Blank lines at the edges are there to keep anchors apart from the code (in a proto, a
    // comment touching an element becomes its documentation), not part of the excerpt.
    while let [first, rest @ ..] = lines
        && first.trim().is_empty()
    {
        lines = rest;
    }
    while let [rest @ .., last] = lines
        && last.trim().is_empty()
    {
        lines = rest;
    }
    let indent = lines
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|line| format!("{}\n", line.get(indent..).unwrap_or("").trim_end()))
        .collect()
}

/// Checks that each piece of `excerpt` (split at `// ...` lines) is a run of lines of
/// `source`, ignoring indentation, each after the one before.
fn pieces_appear_in_order(excerpt: &str, source: &str) -> Result<(), String> {
    let source: Vec<&str> = source.lines().map(str::trim).collect();
    let excerpt: Vec<&str> = excerpt.lines().map(str::trim).collect();
    let mut from = 0;
    for piece in excerpt.split(|line| *line == "// ...") {
        let found = (from..=source.len().saturating_sub(piece.len()))
            .find(|&start| source[start..start + piece.len()] == *piece);
        match found {
            Some(start) => from = start + piece.len(),
            None => return Err(piece.join("\n")),
        }
    }
    Ok(())
}

/// Every `FILE#REGION` marked in the sources.
fn anchored_regions() -> Vec<String> {
    let anchor = anchor_line();
    let mut regions = BTreeMap::new();
    for path in SOURCES
        .iter()
        .flat_map(|source| files_under(root().join(source)))
    {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let file = path.strip_prefix(root()).unwrap().display().to_string();
        for found in text.lines().filter_map(|line| anchor.captures(line)) {
            regions.insert(format!("{file}#{}", &found[2]), ());
        }
    }
    regions.into_keys().collect()
}

fn files_under(path: PathBuf) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path];
    }
    let Ok(entries) = fs::read_dir(&path) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| !path.ends_with("node_modules"))
        // The contract as last released is a copy kept for `buf breaking`, not a source.
        .filter(|path| !path.ends_with("interop/contract/released"))
        .flat_map(files_under)
        .collect()
}

fn drift(page: &Page, block: &CodeBlock, marker: &str, region: &str) -> String {
    format!(
        "{}: the excerpt of {marker} differs from the source (left: the docs, right: the \
         source):\n{}",
        page.at(block.span.start),
        StrComparison::new(&block.code, region)
    )
}

/// Replaces the given spans of `page` with new text, from the last to the first so that
/// earlier offsets stay valid.
fn rewrite(page: &Page, mut rewrites: Vec<(std::ops::Range<usize>, String)>) {
    if rewrites.is_empty() {
        return;
    }
    rewrites.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut text = page.text.clone();
    for (span, region) in rewrites {
        text.replace_range(span, &region);
    }
    fs::write(root().join(&page.path), text).expect("the page is writable");
    eprintln!("rewrote the excerpts of {}", page.path.display());
}
