//! The pages under check, read with `pulldown-cmark` into the pieces the checks need: code
//! blocks (with the excerpt marker before them and the heading above them), links and
//! headings.

use std::{
    fs,
    ops::Range,
    path::{Path, PathBuf},
};

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// The root of the repository.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A Markdown page: `README.md` or one under `docs/`.
pub struct Page {
    /// The path from the root of the repository, as messages show it.
    pub path: PathBuf,
    /// The directory its relative links start from.
    pub base: PathBuf,
    pub text: String,
}

impl Page {
    fn read(path: PathBuf) -> Page {
        let text = fs::read_to_string(root().join(&path))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let base = root().join(path.parent().unwrap_or(Path::new("")));
        Page { path, base, text }
    }

    /// `path:line` of a byte offset, for messages.
    pub fn at(&self, offset: usize) -> String {
        let line = self.text[..offset].lines().count() + 1;
        format!("{}:{line}", self.path.display())
    }
}

/// `README.md` and every `.md` file under `docs/`, in a stable order.
pub fn pages() -> Vec<Page> {
    let mut paths = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| path.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    docs.sort();
    paths.extend(docs);
    paths.into_iter().map(Page::read).collect()
}

/// A fenced code block.
pub struct CodeBlock {
    /// The info string's first word: `rust`, `console`, `mermaid`...
    pub lang: String,
    pub code: String,
    /// Where the code sits in the page, to rewrite it.
    pub span: Range<usize>,
    /// What the `<!-- excerpt: FILE#REGION -->` comment right before the block names.
    pub excerpt: Option<String>,
    /// The text of the nearest heading above the block.
    pub heading: String,
}

/// Every fenced code block of `page`.
pub fn code_blocks(page: &Page) -> Vec<CodeBlock> {
    let mut blocks = Vec::new();
    let mut heading = String::new();
    let mut in_heading = false;
    let mut excerpt = None;
    let mut open: Option<CodeBlock> = None;
    for (event, range) in parser(page).into_offset_iter() {
        match event {
            Event::Html(html) => excerpt = excerpt_marker(&html),
            Event::Start(Tag::Heading { .. }) => {
                heading.clear();
                in_heading = true;
            }
            Event::End(TagEnd::Heading(_)) => in_heading = false,
            Event::Text(text) | Event::Code(text) if in_heading => heading.push_str(&text),
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                // The code starts on the line after the opening fence; an empty block's
                // span is empty there, so that rewriting it fills the block.
                let fence_end = page.text[range.start..]
                    .find('\n')
                    .map_or(range.end, |at| range.start + at + 1);
                open = Some(CodeBlock {
                    lang: info.split([' ', ',']).next().unwrap_or("").to_owned(),
                    code: String::new(),
                    span: fence_end..fence_end,
                    excerpt: excerpt.take(),
                    heading: heading.clone(),
                });
            }
            Event::Text(text) if open.is_some() => {
                let block = open.as_mut().unwrap();
                if block.code.is_empty() {
                    block.span.start = range.start;
                }
                block.code.push_str(&text);
                block.span.end = range.end;
            }
            Event::End(TagEnd::CodeBlock) => blocks.extend(open.take()),
            // The marker belongs to the very next block only.
            Event::Start(_) => excerpt = None,
            _ => {}
        }
    }
    blocks
}

fn excerpt_marker(html: &str) -> Option<String> {
    let inner = html.trim().strip_prefix("<!--")?.strip_suffix("-->")?;
    let source = inner.trim().strip_prefix("excerpt:")?;
    Some(source.trim().to_owned())
}

/// Every link and image target of `page`, with where it is.
pub fn links(page: &Page) -> Vec<(String, String)> {
    parser(page)
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                Some((dest_url.to_string(), page.at(range.start)))
            }
            _ => None,
        })
        .collect()
}

/// The anchors GitHub gives the headings of `page`: lower case, spaces to hyphens,
/// punctuation dropped.
pub fn heading_anchors(page: &Page) -> Vec<String> {
    let mut anchors = Vec::new();
    let mut current: Option<String> = None;
    for event in parser(page) {
        match event {
            Event::Start(Tag::Heading { .. }) => current = Some(String::new()),
            Event::Text(text) | Event::Code(text) => {
                if let Some(heading) = current.as_mut() {
                    heading.push_str(&text);
                }
            }
            Event::End(TagEnd::Heading(_)) => anchors.extend(current.take().map(|h| slug(&h))),
            _ => {}
        }
    }
    anchors
}

fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn parser(page: &Page) -> Parser<'_> {
    Parser::new_ext(&page.text, Options::ENABLE_TABLES)
}

#[test]
fn github_anchors_drop_punctuation_and_join_words_with_hyphens() {
    assert_eq!(slug("5. Unary RPC: `Sum`"), "5-unary-rpc-sum");
    assert_eq!(slug("Run it"), "run-it");
}
