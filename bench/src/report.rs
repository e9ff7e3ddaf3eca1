//! What a run found: the table of medians, the ratios, the targets, and the plot.

use std::{fmt::Write, path::Path};

use plotters::prelude::*;

use crate::{
    compare::{median_of, medians},
    load::{Figure, Kind, Latency},
    overload::Outcome,
};

/// Everything measured of one server over the runs.
pub struct Measured {
    pub name: &'static str,
    pub runs: Vec<Vec<Figure>>,
    /// Resident memory at rest, and the peak with the chats open, in MiB, per run.
    pub memory_at_rest: Vec<f64>,
    pub memory_with_chats: Vec<f64>,
}

impl Measured {
    pub fn new(name: &'static str) -> Self {
        Measured {
            name,
            runs: Vec::new(),
            memory_at_rest: Vec::new(),
            memory_with_chats: Vec::new(),
        }
    }
}

/// The medians of one server.
struct Column {
    name: &'static str,
    figures: Vec<Figure>,
    memory: Option<(f64, f64)>,
}

impl Column {
    fn find(&self, kind: Kind, in_flight: usize, connections: usize) -> Option<&Figure> {
        self.figures.iter().find(|f| {
            f.kind == kind
                && (kind != Kind::Sum || (f.in_flight == in_flight && f.connections == connections))
        })
    }

    fn any(&self, kind: Kind) -> Option<&Figure> {
        self.figures.iter().find(|f| f.kind == kind)
    }
}

pub struct Report {
    columns: Vec<Column>,
    chats: usize,
    features: u64,
    runs: usize,
}

impl Report {
    pub fn new(measured: Vec<Measured>, chats: usize, features: u64, runs: usize) -> Self {
        let columns = measured
            .into_iter()
            .map(|m| Column {
                name: m.name,
                figures: medians(&m.runs),
                memory: (!m.memory_at_rest.is_empty()).then(|| {
                    (
                        median_of(m.memory_at_rest.iter().copied()),
                        median_of(m.memory_with_chats.iter().copied()),
                    )
                }),
            })
            .collect();
        Report {
            columns,
            chats,
            features,
            runs,
        }
    }

    fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The Sum settings the Rust client measured: (in flight, connections).
    fn sum_settings(&self) -> Vec<(usize, usize)> {
        let mut settings: Vec<(usize, usize)> = self
            .columns
            .iter()
            .flat_map(|c| &c.figures)
            .filter(|f| f.kind == Kind::Sum)
            .map(|f| (f.in_flight, f.connections))
            .collect();
        settings.sort_by_key(|&(in_flight, connections)| (connections, in_flight));
        settings.dedup();
        settings
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let names: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        let _ = writeln!(
            out,
            "Medians of {} run(s). Each server on core 0, the load on core 1; {} features.\n",
            self.runs, self.features
        );
        let _ = writeln!(out, "| | {} |", names.join(" | "));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(names.len()));
        let mut row = |label: String, cell: &dyn Fn(&Column) -> Option<String>| {
            let cells: Vec<String> = self
                .columns
                .iter()
                .map(|c| cell(c).unwrap_or_else(|| "".to_owned()))
                .collect();
            if cells.iter().any(|c| !c.is_empty()) {
                let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
            }
        };
        row(
            "**Sum**, h2load, 1000 in flight (50 connections × 20): calls/s".into(),
            &|c| c.any(Kind::SumH2load).map(|f| count(f.rate)),
        );
        row("Sum, h2load: p50 / p99 / p999 ms".into(), &|c| {
            c.any(Kind::SumH2load).and_then(latencies)
        });
        for (in_flight, connections) in self.sum_settings() {
            row(
                format!(
                    "Sum, Rust client, {in_flight} in flight over {connections} connection(s): calls/s (p99 ms)"
                ),
                &|c| {
                    c.find(Kind::Sum, in_flight, connections)
                        .map(|f| format!("{} ({})", count(f.rate), ms(f.latency.map(|l| l.p99))))
                },
            );
        }
        row("**ListFeatures**: features/s".into(), &|c| {
            c.any(Kind::ListFeatures).map(|f| count(f.rate))
        });
        row("**RecordRoute**: points/s".into(), &|c| {
            c.any(Kind::RecordRoute).map(|f| count(f.rate))
        });
        row("**RouteChat**, pipelined: notes/s".into(), &|c| {
            c.any(Kind::ChatPipelined).map(|f| count(f.rate))
        });
        row(
            "RouteChat, one note at a time: round trips/s (p50 / p99 ms)".into(),
            &|c| {
                c.any(Kind::ChatRoundTrip).map(|f| {
                    let l = f.latency;
                    format!(
                        "{} ({} / {})",
                        count(f.rate),
                        ms(l.map(|l| l.p50)),
                        ms(l.map(|l| l.p99))
                    )
                })
            },
        );
        let chats = self.chats;
        row(
            format!("**Memory**: at rest / peak with {chats} chats open (MiB)"),
            &|c| {
                c.memory
                    .map(|(rest, peak)| format!("{rest:.1} / {peak:.1}"))
            },
        );
        let _ = writeln!(out, "\n{}", self.targets());
        out
    }

    /// The targets of docs/performance.md, each with its figure from this run.
    fn targets(&self) -> String {
        let mut out = String::from("| target | measured | met |\n|---|---:|:---:|\n");
        let mut target = |what: &str,
                          measured: Option<f64>,
                          text: &dyn Fn(f64) -> String,
                          met: &dyn Fn(f64) -> bool| {
            let (shown, ok) = match measured {
                Some(value) if value.is_finite() => {
                    (text(value), if met(value) { "yes" } else { "**no**" })
                }
                _ => ("not measured".to_owned(), "-"),
            };
            let _ = writeln!(out, "| {what} | {shown} | {ok} |");
        };
        let h2load = |name: &str| {
            self.column(name)
                .and_then(|c| c.any(Kind::SumH2load))
                .cloned()
        };
        let (tour, minimal) = (h2load("grpc-tour"), h2load("minimal tonic"));
        let (cpp, multi) = (h2load("gRPC C++"), h2load("multi-thread"));
        let ratio = |a: &Option<Figure>, b: &Option<Figure>, pick: fn(&Figure) -> Option<f64>| {
            Some(pick(a.as_ref()?)? / pick(b.as_ref()?)?)
        };
        let rate = |f: &Figure| Some(f.rate);
        let p99 = |f: &Figure| f.latency.map(|l| l.p99);
        let percent = |v: f64| format!("{:.0}%", v * 100.0);
        let times = |v: f64| format!("{v:.2}×");
        target(
            "grpc-tour serves Sum at ≥ 90% of minimal tonic's calls/s (h2load)",
            ratio(&tour, &minimal, rate),
            &percent,
            &|v| v >= 0.90,
        );
        target(
            "grpc-tour's Sum p99 ≤ 1.25× minimal tonic's (h2load)",
            ratio(&tour, &minimal, p99),
            &times,
            &|v| v <= 1.25,
        );
        let streamed = |kind| {
            self.column("grpc-tour")
                .and_then(|c| c.any(kind))
                .map(|f| f.rate)
        };
        target(
            "ListFeatures ≥ 2M features/s",
            streamed(Kind::ListFeatures),
            &|v| count(v),
            &|v| v >= 2e6,
        );
        target(
            "RecordRoute ≥ 2M points/s",
            streamed(Kind::RecordRoute),
            &|v| count(v),
            &|v| v >= 2e6,
        );
        target(
            "≥ 2× gRPC C++ (callback API, one core) on unary calls/s (h2load)",
            ratio(&tour, &cpp, rate),
            &times,
            &|v| v >= 2.0,
        );
        let python_streamed = self
            .column("Python grpcio")
            .and_then(|c| c.any(Kind::ListFeatures))
            .map(|f| f.rate);
        target(
            "≥ 100× Python grpcio on small-message streaming (ListFeatures)",
            streamed(Kind::ListFeatures)
                .zip(python_streamed)
                .map(|(a, b)| a / b),
            &times,
            &|v| v >= 100.0,
        );
        let memory = self
            .column("grpc-tour")
            .and_then(|c| c.memory)
            .map(|(_, peak)| peak);
        target(
            &format!("< 64 MiB with {} chats open", self.chats),
            memory,
            &|v| format!("{v:.1} MiB"),
            &|v| v < 64.0,
        );
        target(
            "current-thread (the default on one core) vs multi-thread: calls/s",
            ratio(&tour, &multi, rate),
            &times,
            &|v| v >= 1.0,
        );
        target(
            "current-thread vs multi-thread: p99",
            ratio(&tour, &multi, p99),
            &times,
            &|v| v <= 1.0,
        );
        out
    }

    /// Sum's calls/s and p99 against calls in flight, one line per server, over the most
    /// connections measured; and the streaming kinds, as rates on a log scale.
    pub fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let connections = self.sum_settings().iter().map(|s| s.1).max().unwrap_or(1);
        let series: Vec<(&str, Vec<SumPoint>)> = self
            .columns
            .iter()
            .map(|c| {
                let points = c
                    .figures
                    .iter()
                    .filter(|f| f.kind == Kind::Sum && f.connections == connections)
                    .filter_map(|f| Some((f.in_flight as f64, f.rate, f.latency?.p99 / 1000.0)))
                    .collect();
                (c.name, points)
            })
            .collect();
        let max_in_flight = series
            .iter()
            .flat_map(|s| &s.1)
            .map(|p| p.0)
            .fold(1.0, f64::max);
        let max_rate = series
            .iter()
            .flat_map(|s| &s.1)
            .map(|p| p.1)
            .fold(1.0, f64::max);
        let (min_p99, max_p99) = series
            .iter()
            .flat_map(|s| &s.1)
            .map(|p| p.2)
            .fold((f64::MAX, 0.001_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));

        let root = SVGBackend::new(path, (1500, 460)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, rest) = root.split_horizontally(500);
        let (right, streams) = rest.split_horizontally(500);
        let title = format!("Sum over {connections} connection(s): calls/s");
        let mut rates = ChartBuilder::on(&left)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((0.8..max_in_flight * 1.25).log_scale(), 0.0..max_rate * 1.1)?;
        rates
            .configure_mesh()
            .x_desc("calls in flight")
            .y_desc("calls/s")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{:.0}k", v / 1000.0))
            .draw()?;
        let mut p99s = ChartBuilder::on(&right)
            .caption("Sum: p99 latency, ms (log)", ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (0.8..max_in_flight * 1.25).log_scale(),
                (min_p99.min(max_p99) * 0.8..max_p99 * 1.25).log_scale(),
            )?;
        p99s.configure_mesh()
            .x_desc("calls in flight")
            .y_desc("p99, ms")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v}"))
            .draw()?;
        for (index, (name, points)) in series.iter().enumerate() {
            if points.is_empty() {
                continue;
            }
            let color = Palette99::pick(index).to_rgba();
            rates
                .draw_series(LineSeries::new(
                    points.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            rates.draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0, p.1), 3, color.filled())),
            )?;
            p99s.draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.2)),
                color.stroke_width(2),
            ))?;
            p99s.draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0, p.2), 3, color.filled())),
            )?;
        }
        self.plot_streams(&streams)?;
        rates
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    }
}

impl Report {
    /// The streaming kinds, one line per server across them: messages per second, log scale.
    fn plot_streams<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        const KINDS: [(Kind, &str); 4] = [
            (Kind::ListFeatures, "ListFeatures"),
            (Kind::RecordRoute, "RecordRoute"),
            (Kind::ChatPipelined, "chat, pipelined"),
            (Kind::ChatRoundTrip, "chat, 1 at a time"),
        ];
        let rates: Vec<f64> = self
            .columns
            .iter()
            .flat_map(|c| &c.figures)
            .filter(|f| KINDS.iter().any(|k| k.0 == f.kind))
            .map(|f| f.rate)
            .collect();
        let (lo, hi) = rates
            .iter()
            .fold((f64::MAX, 1.0_f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        if rates.is_empty() {
            return Ok(());
        }
        let mut chart = ChartBuilder::on(area)
            .caption("Streams: messages/s (log)", ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5..3.5, (lo * 0.5..hi * 2.0).log_scale())?;
        chart
            .configure_mesh()
            .x_labels(4)
            .x_label_formatter(&|x: &f64| {
                let index = x.round();
                if (x - index).abs() < 0.01 && (0.0..4.0).contains(&index) {
                    KINDS[index as usize].1.to_owned()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| count(*v))
            .y_desc("per second")
            .draw()?;
        for (index, column) in self.columns.iter().enumerate() {
            let points: Vec<(f64, f64)> = KINDS
                .iter()
                .enumerate()
                .filter_map(|(x, (kind, _))| Some((x as f64, column.any(*kind)?.rate)))
                .collect();
            if points.is_empty() {
                continue;
            }
            let color = Palette99::pick(index).to_rgba();
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        Ok(())
    }
}

/// One point of the Sum plot: calls in flight, calls/s, p99 in ms.
type SumPoint = (f64, f64, f64);

/// One figure as a line of text, for `load` without `--json`.
pub fn line(figure: &Figure) -> String {
    let what = match figure.kind {
        Kind::Sum | Kind::SumH2load => format!(
            "Sum, {} in flight over {} connection(s): {} calls/s",
            figure.in_flight,
            figure.connections,
            count(figure.rate)
        ),
        Kind::ListFeatures => format!("ListFeatures: {} features/s", count(figure.rate)),
        Kind::RecordRoute => format!("RecordRoute: {} points/s", count(figure.rate)),
        Kind::ChatPipelined => format!("RouteChat, pipelined: {} notes/s", count(figure.rate)),
        Kind::ChatRoundTrip => format!(
            "RouteChat, one at a time: {} round trips/s",
            count(figure.rate)
        ),
    };
    match figure.latency {
        Some(l) => format!(
            "{what}, p50 {} ms, p99 {} ms, p999 {} ms",
            ms(Some(l.p50)),
            ms(Some(l.p99)),
            ms(Some(l.p999))
        ),
        None => what,
    }
}

fn latencies(figure: &Figure) -> Option<String> {
    let l = figure.latency?;
    Some(format!(
        "{} / {} / {}",
        ms(Some(l.p50)),
        ms(Some(l.p99)),
        ms(Some(l.p999))
    ))
}

/// Microseconds as milliseconds, to two significant places or so.
fn ms(micros: Option<f64>) -> String {
    match micros {
        Some(us) if us < 1000.0 => format!("{:.2}", us / 1000.0),
        Some(us) => format!("{:.1}", us / 1000.0),
        None => "-".to_owned(),
    }
}

/// A rate with thousands separators: 1234567.8 → "1,234,568".
fn count(rate: f64) -> String {
    let digits = format!("{:.0}", rate);
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// One overload measurement, and the server's RSS and peak RSS (MiB) just after it.
pub type OverloadRun = (Outcome, (f64, f64));

/// One overload measurement as a line of text.
pub fn overload_line(name: &str, outcome: &Outcome) -> String {
    let p = |latency: Option<Latency>, pick: fn(&Latency) -> f64| ms(latency.as_ref().map(pick));
    format!(
        "{name}, {} in flight: {} OK/s (p50 {} ms, p99 {} ms), {} refused/s (p99 {} ms), \
         server CPU {:.1} µs a call",
        outcome.in_flight,
        count(outcome.goodput()),
        p(outcome.ok_latency, |l| l.p50),
        p(outcome.ok_latency, |l| l.p99),
        count(outcome.refusals()),
        p(outcome.refused_latency, |l| l.p99),
        cpu_per_call(outcome),
    )
}

/// The server's CPU time per call answered (OK or refused), in microseconds.
fn cpu_per_call(outcome: &Outcome) -> f64 {
    outcome.server_cpu * 1e6 / (outcome.ok + outcome.refused).max(1) as f64
}

/// The capacity in calls in flight: the fewest at which goodput reached 95% of the best.
pub fn capacity(points: &[Outcome]) -> usize {
    let best = points.iter().map(Outcome::goodput).fold(0.0, f64::max);
    points
        .iter()
        .find(|point| point.goodput() >= 0.95 * best)
        .map_or(1, |point| point.in_flight)
}

/// The overload table: for each server (`names`), its medians at capacity and at
/// `factor` times it, from `results[server * 2 + step]` (one entry a run: the outcome, and
/// the server's RSS and peak RSS in MiB just after), then the ratios and the refusal cost.
pub fn overload_table(
    names: &[&str],
    capacity: usize,
    factor: usize,
    results: &[Vec<OverloadRun>],
) -> String {
    let median =
        |runs: &[OverloadRun], pick: &dyn Fn(&OverloadRun) -> f64| median_of(runs.iter().map(pick));
    let mut table = String::new();
    let _ = writeln!(
        table,
        "Sum, closed loop; capacity {capacity} calls in flight, offered {} (x{factor}); \
         medians of {} runs\n",
        capacity * factor,
        results.first().map_or(0, Vec::len)
    );
    let _ = writeln!(
        table,
        "| server | in flight | OK/s | admitted p50 ms | admitted p99 ms | refused/s | server CPU µs/call | RSS MiB (peak) |"
    );
    let _ = writeln!(table, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = String::new();
    for (index, name) in names.iter().enumerate() {
        let mut figures = Vec::new();
        for step in 0..2 {
            let runs = &results[index * 2 + step];
            let goodput = median(runs, &|(o, _)| o.goodput());
            let p50 = median(runs, &|(o, _)| o.ok_latency.map_or(f64::NAN, |l| l.p50));
            let p99 = median(runs, &|(o, _)| o.ok_latency.map_or(f64::NAN, |l| l.p99));
            let _ = writeln!(
                table,
                "| {name} | {} | {} | {} | {} | {} | {:.1} | {:.0} ({:.0}) |",
                runs[0].0.in_flight,
                count(goodput),
                ms(Some(p50)),
                ms(Some(p99)),
                count(median(runs, &|(o, _)| o.refusals())),
                median(runs, &|(o, _)| cpu_per_call(o)),
                median(runs, &|(_, (rss, _))| *rss),
                median(runs, &|(_, (_, peak))| *peak),
            );
            figures.push((goodput, p99));
        }
        let _ = writeln!(
            ratios,
            "- {name}: at x{factor}, goodput {:.0}% of its goodput at capacity, admitted p99 {:.2}x its p99 at capacity",
            100.0 * figures[1].0 / figures[0].0,
            figures[1].1 / figures[0].1,
        );
    }
    // What a refusal costs: the server's CPU at x{factor}, less the OK calls at what each
    // cost at capacity, shared among the refusals.
    if let Some(limited) = results
        .get(3)
        .filter(|runs| runs.iter().all(|(o, _)| o.refused > 0))
    {
        let served = median(&results[2], &|(o, _)| o.server_cpu / o.ok.max(1) as f64);
        let refusal = median(limited, &|(o, _)| {
            (o.server_cpu - o.ok as f64 * served) / o.refused.max(1) as f64
        });
        let _ = writeln!(
            ratios,
            "- a refusal cost the server {:.1} µs of CPU, a served call {:.1} µs ({:.0}%)",
            refusal * 1e6,
            served * 1e6,
            100.0 * refusal / served
        );
    }
    let _ = write!(table, "\n{ratios}");
    table
}
