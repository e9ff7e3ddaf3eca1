//! Every flag default a page's table quotes (`| `--max-deadline` | 5m | ...`) is the one
//! `grpc-tour --help` prints, so that changing a default in the code without the docs
//! fails here.

use std::process::Command;

use crate::markdown;

/// Each `--flag` of `grpc-tour --help`, with its default as clap prints it.
fn help_defaults() -> Vec<(String, String)> {
    let help = Command::new(env!("CARGO_BIN_EXE_grpc-tour"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let mut defaults = Vec::new();
    let mut flag = None;
    for line in help.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("--") {
            flag = rest
                .split_whitespace()
                .next()
                .map(|name| format!("--{name}"));
        } else if let (Some(default), Some(name)) = (
            line.strip_prefix("[default: ")
                .and_then(|rest| rest.strip_suffix(']')),
            &flag,
        ) {
            defaults.push((name.clone(), default.to_owned()));
        }
    }
    defaults
}

/// A default as a page writes it (`4 MiB`, `100,000`, `` `memory` ``), as clap prints it.
fn as_clap_prints(quoted: &str) -> String {
    let quoted = quoted.trim_matches('`').replace(',', "");
    let scaled =
        |figure: &str, unit: u64| figure.trim().parse::<u64>().map(|n| (n * unit).to_string());
    if let Some(figure) = quoted.strip_suffix("KiB") {
        return scaled(figure, 1024).unwrap_or(quoted);
    }
    if let Some(figure) = quoted.strip_suffix("MiB") {
        return scaled(figure, 1024 * 1024).unwrap_or(quoted);
    }
    quoted
}

#[test]
fn every_default_a_page_quotes_is_the_one_help_prints() {
    let defaults = help_defaults();
    assert!(
        defaults.iter().any(|(flag, _)| flag == "--max-deadline"),
        "read no defaults from --help: {defaults:?}"
    );
    let mut wrong = Vec::new();
    let mut checked = 0;
    for page in markdown::pages() {
        for (offset, line) in page
            .text
            .match_indices('\n')
            .map(|(at, _)| at + 1)
            .zip(page.text.lines().skip(1))
        {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let [_, flag, quoted, ..] = cells[..] else {
                continue;
            };
            let Some(flag) = flag.strip_prefix('`').and_then(|f| f.strip_suffix('`')) else {
                continue;
            };
            let Some((_, default)) = defaults.iter().find(|(name, _)| name == flag) else {
                continue;
            };
            checked += 1;
            if as_clap_prints(quoted) != *default {
                wrong.push(format!(
                    "{}: `{flag}` defaults to {default} (--help), not {quoted}",
                    page.at(offset)
                ));
            }
        }
    }
    assert!(checked >= 10, "found only {checked} quoted defaults");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
