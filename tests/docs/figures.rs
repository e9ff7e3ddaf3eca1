//! A measured figure lives on one page: the page that measures it. Others say what it
//! means and link there, so that a new run changes one page and no page quotes an old run.
//!
//! A measured figure, here, is a number written with thousands separators that does not
//! end in `,000` (`63,694` instructions, `1,198,181` notes a second); round numbers such as
//! `100,000` are settings, which any page may repeat.

use std::collections::BTreeMap;

use crate::markdown;

#[test]
fn every_measured_figure_is_on_one_page_only() {
    let figure =
        regex_lite::Regex::new(r"(?:^|[^\w.,])(\d{1,3}(?:,\d{3})+)(?:[^\d,]|,\D|$)").unwrap();
    let mut pages_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for page in markdown::pages() {
        for found in figure.captures_iter(&page.text) {
            let number = &found[1];
            if number.ends_with(",000") {
                continue;
            }
            let at = page.at(found.get(1).unwrap().start());
            let pages = pages_of.entry(number.to_owned()).or_default();
            let path = page.path.display().to_string();
            if !pages
                .iter()
                .any(|seen| seen.starts_with(&format!("{path}:")))
            {
                pages.push(at);
            }
        }
    }
    let twice: Vec<String> = pages_of
        .iter()
        .filter(|(_, pages)| pages.len() > 1)
        .map(|(number, pages)| format!("{number} is quoted on {}", pages.join(" and ")))
        .collect();
    assert!(
        twice.is_empty(),
        "keep each measured figure on the page that measures it, and link there:\n{}",
        twice.join("\n")
    );
}
