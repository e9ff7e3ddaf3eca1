//! `bench instructions`: the work each server does per call (unary) and per message
//! (streaming), counted in instructions by valgrind's callgrind. A count repeats to about
//! 0.1% from run to run, whatever else the machine is doing, where calls a second on a
//! shared 2-core machine move by a third from one run to the next.
//!
//! Each server runs under callgrind on core 0, the load on core 1. For each kind of RPC the
//! server is warmed up with the same calls, its counters are zeroed (`callgrind_control
//! -z`), a fixed number of calls is made, every answer checked, and the counters are dumped
//! (`callgrind_control -d`): the dump's total, over the calls or messages, is the figure.
//! Everything the server's process does in between counts, on every thread: gRPC C++'s
//! pollers and executor threads as much as tonic's one.
//!
//! - `Sum` (unary): h2load, 10 connections × 20 calls in flight; per call.
//! - `ListFeatures` (server streaming): one call at a time over the whole map, each
//!   bringing every feature; per feature sent.
//! - `RecordRoute` (client streaming): one call at a time, each of a route of points; per
//!   point received.
//! - `RouteChat` (bidirectional): one pipelined chat at a time, its notes in pairs at fresh
//!   points, so that each note but the first of its pair is answered; per note received.
//!
//! A streamed message's figure includes its call's own cost spread over its messages (a
//! `Sum`'s worth over 10,000 messages is 6 instructions a message).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, bail, ensure};

use crate::{
    compare::{self, Contender, LOAD_CPU, Running},
    h2load,
    load::Kind,
};

/// How much of each kind to send.
#[derive(Debug, Clone, Copy)]
pub struct Amounts {
    /// `Sum` calls to warm up with, and to count.
    pub sum_warm: usize,
    pub sum_calls: usize,
    /// Streaming calls to warm up with, and to count, and the messages in each.
    pub stream_warm: u64,
    pub stream_calls: u64,
    pub per_call: u64,
}

impl Amounts {
    pub const FULL: Amounts = Amounts {
        sum_warm: 3_000,
        sum_calls: 10_000,
        stream_warm: 2,
        stream_calls: 10,
        per_call: 10_000,
    };
    /// To prove it works (CI): the figures mean little.
    pub const SMOKE: Amounts = Amounts {
        sum_warm: 200,
        sum_calls: 400,
        stream_warm: 1,
        stream_calls: 1,
        per_call: 200,
    };
}

/// The kinds counted, in the table's order, with what a figure is per.
pub const KINDS: [(Kind, &str, &str); 4] = [
    (Kind::SumH2load, "Sum (unary)", "call"),
    (
        Kind::ListFeatures,
        "ListFeatures (server streaming)",
        "feature",
    ),
    (Kind::RecordRoute, "RecordRoute (client streaming)", "point"),
    (Kind::ChatPipelined, "RouteChat (bidirectional)", "note"),
];

/// One server's counts: instructions per call or message, by kind, in [`KINDS`]'s order.
#[derive(Debug, Clone)]
pub struct Counted {
    pub name: String,
    pub per_item: Vec<f64>,
}

/// Runs `contender` under callgrind and counts each of `kinds` (the others are NaN).
pub fn count(
    contender: &Contender,
    kinds: &[Kind],
    amounts: Amounts,
    features_file: &Path,
    preload: Option<&Path>,
    work: &Path,
) -> anyhow::Result<Counted> {
    let name = contender.name.replace([' ', ','], "-");
    let dumps = work.join(format!("callgrind-{name}"));
    let _ = std::fs::remove_dir_all(&dumps);
    std::fs::create_dir_all(&dumps)?;
    let mut under = contender.clone();
    under.program = PathBuf::from("valgrind");
    under.args = vec![
        "--tool=callgrind".to_owned(),
        format!(
            "--callgrind-out-file={}",
            dumps.join("callgrind.out").display()
        ),
        contender.program.display().to_string(),
    ];
    under.args.extend(contender.args.iter().cloned());
    if let Some(library) = preload {
        under
            .env
            .push(("LD_PRELOAD", library.display().to_string()));
    }
    let server = Running::start(&under, &work.join(format!("{name}.callgrind.log")))
        .with_context(|| format!("{} under callgrind", contender.name))?;
    let pid = server.pid().to_string();

    let body_file = work.join("sum.bin");
    std::fs::write(&body_file, h2load::sum_body())?;
    let features = count_features(features_file)?;
    let mut per_item = Vec::new();
    // Chats of successive calls at fresh points, so that no note hears an earlier run's.
    let mut first_note = 1 << 42;
    for (kind, _, _) in KINDS {
        if !kinds.contains(&kind) {
            per_item.push(f64::NAN);
            continue;
        }
        let run = |calls: u64, first_note: u64| -> anyhow::Result<u64> {
            match kind {
                Kind::SumH2load => {
                    h2load::sum_calls(
                        &server.addr,
                        &body_file,
                        Some(LOAD_CPU),
                        (10, 20),
                        calls as usize,
                    )?;
                    Ok(calls)
                }
                _ => {
                    let per_call = if kind == Kind::ListFeatures {
                        features
                    } else {
                        amounts.per_call
                    };
                    streamed(&server.addr, kind, calls, per_call, first_note)
                }
            }
        };
        let (warm, calls) = match kind {
            Kind::SumH2load => (amounts.sum_warm as u64, amounts.sum_calls as u64),
            _ => (amounts.stream_warm, amounts.stream_calls),
        };
        run(warm, first_note)?;
        first_note += warm * amounts.per_call;
        // A second for the server to finish with the client that just left (closing its
        // connections), so that it falls outside the count, not in it by chance.
        std::thread::sleep(SETTLE);
        callgrind_control("-z", &pid)?;
        let items = run(calls, first_note)?;
        first_note += calls * amounts.per_call;
        std::thread::sleep(SETTLE);
        let dumped = std::fs::read_dir(&dumps)?.count();
        callgrind_control("-d", &pid)?;
        ensure!(
            std::fs::read_dir(&dumps)?.count() == dumped + 1,
            "callgrind wrote no dump for {kind:?}"
        );
        let total = newest_total(&dumps)?;
        per_item.push(total as f64 / items as f64);
    }
    Ok(Counted {
        name: contender.name.to_owned(),
        per_item,
    })
}

/// `bench load` counting exactly `calls` calls of a streaming kind, on the load's core.
fn streamed(
    addr: &str,
    kind: Kind,
    calls: u64,
    per_call: u64,
    first_note: u64,
) -> anyhow::Result<u64> {
    let (size_flag, kind_name) = match kind {
        Kind::ListFeatures => ("--features", "list-features"),
        Kind::RecordRoute => ("--route-points", "record-route"),
        Kind::ChatPipelined => ("--chat-notes", "chat-pipelined"),
        other => bail!("{other:?} is not a streaming kind"),
    };
    let output = Command::new("taskset")
        .args(["-c", &LOAD_CPU.to_string()])
        .arg(std::env::current_exe()?)
        .args(["load", "--server", &format!("http://{addr}")])
        .args(["--count", kind_name, "--calls", &calls.to_string()])
        .args([size_flag, &per_call.to_string()])
        .args(["--first-note", &first_note.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    ensure!(output.status.success(), "the {kind_name} calls failed");
    let handled: u64 = String::from_utf8(output.stdout)?.trim().parse()?;
    ensure!(
        handled == calls * per_call,
        "{handled} messages, not {}",
        calls * per_call
    );
    Ok(handled)
}

/// How long the server is given after a load ends before its counters are zeroed or dumped.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Asks the callgrind run `pid` to zero (`-z`) or dump (`-d`) its counters. It exits 0 even
/// when it found no such run, so success here proves little: the caller checks that each
/// `-d` made a new dump, which also shows that `-z`, sent to the same run, reached it.
fn callgrind_control(what: &str, pid: &str) -> anyhow::Result<()> {
    let output = Command::new("callgrind_control")
        .args([what, pid])
        .output()
        .context("cannot run callgrind_control (Debian: apt-get install valgrind)")?;
    ensure!(
        output.status.success(),
        "callgrind_control {what} {pid}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The `totals:` line (instructions, callgrind's first event) of the newest dump in `dir`.
fn newest_total(dir: &Path) -> anyhow::Result<u64> {
    let newest = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .max_by_key(|entry| entry.metadata().and_then(|m| m.modified()).ok())
        .context("callgrind wrote no dump")?;
    let dump = std::fs::read_to_string(newest.path())?;
    let totals = dump
        .lines()
        .find_map(|line| line.strip_prefix("totals:"))
        .with_context(|| format!("no totals in {}", newest.path().display()))?;
    Ok(totals
        .split_whitespace()
        .next()
        .context("empty totals")?
        .parse()?)
}

/// How many named features a features file holds (each `ListFeatures` brings them all).
fn count_features(path: &Path) -> anyhow::Result<u64> {
    let features: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(path)?)?;
    Ok(features
        .iter()
        .filter(|f| f["name"].as_str().is_some_and(|name| !name.is_empty()))
        .count() as u64)
}

/// The servers to count, of those `named` (none named: all three), in this order: minimal
/// tonic first (the base of the ratios), gRPC C++, grpc-tour.
pub fn servers(all: Vec<Contender>, named: &[String]) -> anyhow::Result<Vec<Contender>> {
    ["minimal tonic", "gRPC C++", "grpc-tour"]
        .into_iter()
        .filter(|name| named.is_empty() || named.iter().any(|n| n == name))
        .map(|name| {
            all.iter()
                .find(|c| c.name == name)
                .cloned()
                .with_context(|| format!("no {name} to count: bench/run builds it"))
        })
        .collect()
}

/// The table: instructions per call or message, each server, each kind, and each server's
/// ratio to minimal tonic (the first). `runs[r][s]` is server `s` in run `r`; each cell is
/// the median of the runs.
pub fn markdown(runs: &[Vec<Counted>], amounts: Amounts, preload: Option<&Path>) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    // The builds without a part have a table of their own (`parts`).
    let shown: Vec<usize> = (0..first.len())
        .filter(|&s| !first[s].name.starts_with("grpc-tour without "))
        .collect();
    let median = |server: usize, kind: usize| {
        compare::median_of(runs.iter().map(|run| run[server].per_item[kind]))
    };
    let base = shown[0];
    let mut table = String::from("| kind | per |");
    for &s in &shown {
        table.push_str(&format!(" {} |", first[s].name));
    }
    for &s in &shown[1..] {
        table.push_str(&format!(" {} / {} |", first[s].name, first[base].name));
    }
    table.push_str("\n|---|---|");
    table.push_str(&"---:|".repeat(shown.len() * 2 - 1));
    for (k, (_, kind, per)) in KINDS.iter().enumerate() {
        if shown.iter().all(|&s| median(s, k).is_nan()) {
            continue;
        }
        table.push_str(&format!("\n| {kind} | {per} |"));
        for &s in &shown {
            table.push_str(&format!(" {} |", thousands(median(s, k))));
        }
        for &s in &shown[1..] {
            let ratio = median(s, k) / median(base, k);
            if ratio.is_nan() {
                table.push_str(" |");
            } else {
                table.push_str(&format!(" {ratio:.2}× |"));
            }
        }
    }
    let spread = (0..first.len())
        .flat_map(|s| (0..KINDS.len()).map(move |k| (s, k)))
        .map(|(s, k)| {
            let values: Vec<f64> = runs.iter().map(|run| run[s].per_item[k]).collect();
            if values.iter().any(|v| v.is_nan()) {
                return 0.0;
            }
            let (low, high) = values
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            (high - low) / low
        })
        .fold(0.0, f64::max);
    table.push_str(&format!(
        "\n\n{} run(s), medians; the most any figure moved between runs: {:.2}%. `Sum`: {} \
         calls counted after {} to warm up; streams: {} calls of {} messages each counted \
         after {}. malloc: {}.\n",
        runs.len(),
        spread * 100.0,
        amounts.sum_calls,
        amounts.sum_warm,
        amounts.stream_calls,
        amounts.per_call,
        amounts.stream_warm,
        preload.map_or("the system's".to_owned(), |p| p.display().to_string()),
    ));
    table
}

/// What each part of the tour costs a `Sum` call: the server as shipped (`shipped`) against
/// each build or setting without one part (`without`, named "grpc-tour without PART"), and
/// the gap to minimal tonic that the parts make up.
pub fn parts(runs: &[Vec<Counted>], minimal: usize, shipped: usize) -> String {
    let sum = |server: usize| compare::median_of(runs.iter().map(|run| run[server].per_item[0]));
    let gap = sum(shipped) - sum(minimal);
    let mut parts: Vec<(String, f64)> = runs[0]
        .iter()
        .enumerate()
        .filter_map(|(s, c)| {
            let part = c.name.strip_prefix("grpc-tour without ")?;
            Some((part.to_owned(), sum(shipped) - sum(s)))
        })
        .collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut table = format!(
        "| without | instructions per `Sum` | what the part costs | share of the gap to minimal tonic ({}) |\n|---|---:|---:|---:|\n",
        thousands(gap)
    );
    for (part, cost) in &parts {
        table.push_str(&format!(
            "| {part} | {} | {} | {:.0}% |\n",
            thousands(sum(shipped) - cost),
            thousands(*cost),
            100.0 * cost / gap
        ));
    }
    let named: f64 = parts.iter().map(|p| p.1).sum();
    table.push_str(&format!(
        "| (the parts' costs added up) | | {} | {:.0}% |\n",
        thousands(named),
        100.0 * named / gap
    ));
    table
}

/// 63694.4 -> "63,694"; below 100, one decimal; NaN (not counted) -> "".
fn thousands(value: f64) -> String {
    if value.is_nan() {
        return String::new();
    }
    if value.abs() < 100.0 {
        return format!("{value:.1}");
    }
    if value < 0.0 {
        return format!("-{}", thousands(-value));
    }
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
