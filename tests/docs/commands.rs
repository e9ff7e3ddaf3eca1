//! Every command the docs show under a "Run it" heading is run, and prints what the page
//! says it prints.
//!
//! A "Run it" block is a `console` block: `$ command` lines, each followed by the output it
//! prints. They run in order, as a reader would type them:
//!
//! - `cargo run --example NAME -- ARGS` and `cargo run -- ARGS` run the example or server
//!   that `cargo test` has just built (a nested cargo would wait on this one's lock).
//! - A server started with a trailing `&` runs in the background for the rest of the block,
//!   on a free port rather than 50051 (the binary is given `--addr 127.0.0.1:0`, an example
//!   server the address `127.0.0.1:0`): the commands after it reach it via
//!   `GRPC_TOUR_SERVER`, the environment twin of `--server`.
//! - A command that `.ci/run` itself runs, such as `cargo test`, is left to CI.
//!
//! The output is compared after replacing what changes from run to run (ports, coin
//! flips); an output with an `error:` line means the command must fail, any other that it
//! must succeed.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use pretty_assertions::StrComparison;
use regex_lite::Regex;

use crate::markdown::{self, root};

/// Where the page's background servers listen, as the page's commands name it.
const DEFAULT_URL: &str = "http://127.0.0.1:50051";

/// How long one command may take before it counts as hung.
const PATIENCE: Duration = Duration::from_secs(60);

/// What varies between runs, and what the check compares in its place.
const UNSTABLE: [(&str, &str); 10] = [
    // The operating system picks the port of an in-process or background server.
    (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
    (r"localhost:\d+", "localhost:PORT"),
    // The Mentat flips a coin (unless seeded, which the tour's own tests check).
    (r"Muad'Dib\.\.\. (?:YES|NO)!", "Muad'Dib... YES-OR-NO!"),
    // Client and server both watch a deadline; whichever notices first writes the message.
    (
        r"DeadlineExceeded: .*",
        "DeadlineExceeded: (either side's message)",
    ),
    // The balancers spread calls at random, and a dying replica catches a few in flight
    // (or none); that no call is lost is stable, and checked by the tour's own tests.
    (r"served \d+ calls", "served SOME calls"),
    // Each example starts a new trace, with a random id.
    (r"trace_id=[0-9a-f]{32}", "trace_id=TRACE"),
    (r"retried \d+", "retried SOME"),
    // The wire view (examples/wire.rs): when each frame passed, the response's date, and whether the server answered the client's GOAWAY with its own
    // before the connection closed.
    (r"(?m)^ *\d+\.\d ms ", "T ms "),
    (
        r"date: [A-Za-z]{3}, \d\d [A-Za-z]{3} \d{4} \d\d:\d\d:\d\d GMT",
        "date: DATE",
    ),
    (r"\d+ GOAWAY", "SOME GOAWAY"),
];

#[test]
fn every_run_it_command_runs_and_prints_what_the_page_shows() {
    let mut failures = Vec::new();
    let mut commands = 0;
    for page in markdown::pages() {
        for block in markdown::code_blocks(&page) {
            if !block.heading.trim().eq_ignore_ascii_case("run it") {
                continue;
            }
            let at = page.at(block.span.start);
            if block.lang != "console" {
                failures.push(format!("{at}: a Run it block is a ```console block"));
                continue;
            }
            match run_block(&block.code) {
                Ok(ran) => commands += ran,
                Err(failure) => failures.push(format!("{at}: {failure}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        commands > 0,
        "no Run it block found: the check checks nothing"
    );
}

#[test]
fn unstable_parts_compare_equal_and_the_rest_does_not() {
    let shown = "(started one at http://127.0.0.1:40857)\nMentat: ... Muad'Dib... NO!\n";
    let run = "(started one at http://127.0.0.1:33781)\nMentat: ... Muad'Dib... YES!\n";
    assert_eq!(stable(shown), stable(run));
    assert_ne!(stable("2 + 3 = 5\n"), stable("2 + 3 = 6\n"));
    let shown = "replica-1 served 134 calls\nsent 300, succeeded 300, retried 0, failed 0\n";
    let run = "replica-1 served 97 calls\nsent 300, succeeded 300, retried 2, failed 0\n";
    assert_eq!(stable(shown), stable(run));
    assert_ne!(
        stable(shown),
        stable(&shown.replace("failed 0", "failed 1"))
    );
    let shown = "   4.6 ms → HEADERS       stream 1\n            date: Wed, 02 Dec 2026 01:04:38 GMT\n(not shown: 1 GOAWAY, 4 SETTINGS)\n(trace_id=4bf92f3577b34da6a3ce929d0e0e4736)\n";
    let run = " 102.1 ms → HEADERS       stream 1\n            date: Thu, 03 Dec 2026 11:14:09 GMT\n(not shown: 2 GOAWAY, 4 SETTINGS)\n(trace_id=0af7651916cd43dd8448eb211c80319c)\n";
    assert_eq!(stable(shown), stable(run));
    assert_ne!(stable(shown), stable(&run.replace("stream 1", "stream 3")));
    assert_ne!(
        stable(shown),
        stable(&run.replace("4 SETTINGS", "2 SETTINGS"))
    );
}

/// One `$ command` and the output shown under it.
struct Step {
    command: String,
    shown: String,
}

fn steps(block: &str) -> Result<Vec<Step>, String> {
    let mut steps: Vec<Step> = Vec::new();
    for line in block.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: command.trim().to_owned(),
                shown: String::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            step.shown.push_str(line);
            step.shown.push('\n');
        } else {
            return Err(format!("output before any `$ command`: {line:?}"));
        }
    }
    Ok(steps)
}

/// Runs the steps of one block in order; returns how many commands ran here.
fn run_block(block: &str) -> Result<usize, String> {
    let mut background = Background::default();
    let mut ran = 0;
    for step in steps(block)? {
        let fail = |problem: String| format!("`{}`: {problem}", step.command);
        match invocation(&step.command).map_err(fail)? {
            Invocation::LeftToCi => continue,
            Invocation::Run(run) if run.background => {
                background.start(run).map_err(fail)?;
            }
            Invocation::Run(run) => {
                let (success, output) = background.run(run).map_err(fail)?;
                let must_fail = step.shown.lines().any(|line| line.starts_with("error:"));
                if success == must_fail {
                    return Err(fail(format!(
                        "expected it to {}, but it printed:\n{output}",
                        if must_fail { "fail" } else { "succeed" }
                    )));
                }
                if !step.shown.trim().is_empty() && stable(&step.shown) != stable(&output) {
                    return Err(fail(format!(
                        "prints something else (left: the page, right: this run):\n{}",
                        StrComparison::new(&stable(&step.shown), &stable(&output))
                    )));
                }
            }
        }
        ran += 1;
    }
    Ok(ran)
}

fn stable(output: &str) -> String {
    let mut text: String = output
        .lines()
        .map(|line| format!("{}\n", line.trim_end()))
        .collect();
    for (unstable, stand_in) in UNSTABLE {
        text = Regex::new(unstable)
            .unwrap()
            .replace_all(&text, stand_in)
            .into_owned();
    }
    text.trim_end().to_owned()
}

enum Invocation {
    Run(Run),
    /// A command `.ci/run` runs itself, such as `cargo test`.
    LeftToCi,
}

struct Run {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    background: bool,
}

/// What to run for a command as the docs show it.
fn invocation(command: &str) -> Result<Invocation, String> {
    if command.contains(['|', '>', '<', ';', '$', '`', '"', '\'', '\\']) {
        return Err("only plain commands run here: no quotes, pipes or redirections".into());
    }
    let (command, background) = match command.strip_suffix('&') {
        Some(command) => (command.trim_end(), true),
        None => (command, false),
    };
    let mut words = command.split_whitespace().peekable();
    let mut env = Vec::new();
    while let Some((name, value)) = words.peek().and_then(|word| word.split_once('=')) {
        env.push((name.to_owned(), value.to_owned()));
        words.next();
    }
    if words.next() != Some("cargo") || words.next() != Some("run") {
        return if runs_in_ci(command) && env.is_empty() && !background {
            Ok(Invocation::LeftToCi)
        } else {
            Err("neither `cargo run` nor a command that .ci/run runs".into())
        };
    }
    let mut program = PathBuf::from(env!("CARGO_BIN_EXE_grpc-tour"));
    while let Some(word) = words.next() {
        match word {
            "--" => break,
            // The same program, as `cargo test` built it.
            "--release" | "--locked" | "--quiet" | "-q" => {}
            "--example" => program = example(words.next().ok_or("--example needs a name")?),
            other => return Err(format!("the runner does not know `{other}`")),
        }
    }
    Ok(Invocation::Run(Run {
        program,
        args: words.map(str::to_owned).collect(),
        env,
        background,
    }))
}

/// Whether `.ci/run` runs `command` (give or take `--locked`).
fn runs_in_ci(command: &str) -> bool {
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    ci.lines()
        .map(|line| line.trim().replace(" --locked", ""))
        .any(|line| line == command)
}

fn example(name: &str) -> PathBuf {
    // This test runs from target/<profile>/deps; cargo puts examples in .../examples.
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples, `cargo test --test docs` does not",
        path.display()
    );
    path
}

/// The server a block started with `&`, stopped when the block ends.
#[derive(Default)]
struct Background {
    server: Option<(Child, String)>,
}

impl Background {
    /// Starts the server on a free port: the tour's binary with `--addr 127.0.0.1:0` (it
    /// logs `addr=...`), an example server with `127.0.0.1:0` as its address argument (it
    /// prints `... on ADDR`).
    fn start(&mut self, run: Run) -> Result<(), String> {
        let mut command = command(&run);
        if run.program.as_path() == std::path::Path::new(env!("CARGO_BIN_EXE_grpc-tour")) {
            command.args(["--addr", "127.0.0.1:0"]);
        } else if run.args.is_empty() {
            command.arg("127.0.0.1:0");
        } else {
            return Err("an example server in the background takes no arguments here".into());
        }
        // Exactly as the page starts it (but for the port): its default logging says where
        // it listens, and a sentence about what it logs must hold without a RUST_LOG.
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let (found, addr) = mpsc::channel();
        let said = Regex::new(r"(?:addr=| on )(\d+\.\d+\.\d+\.\d+:\d+)").unwrap();
        // Reads both streams to the end, so that the server never blocks on a full pipe.
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = BufReader::new(child.stderr.take().unwrap());
        for log in [
            Box::new(stdout) as Box<dyn BufRead + Send>,
            Box::new(stderr),
        ] {
            let (found, said) = (found.clone(), said.clone());
            thread::spawn(move || {
                for line in log.lines().map_while(Result::ok) {
                    if let Some(seen) = said.captures(&line) {
                        let _ = found.send(seen[1].to_owned());
                    }
                }
            });
        }
        let addr = addr
            .recv_timeout(PATIENCE)
            .map_err(|_| "the server never logged its address".to_owned())?;
        self.server = Some((child, format!("http://{addr}")));
        Ok(())
    }

    /// Runs `run` in the foreground to its end: whether it succeeded, and what it printed
    /// to stdout and stderr, interleaved as on a terminal.
    fn run(&self, run: Run) -> Result<(bool, String), String> {
        let (mut output, into) = std::io::pipe().map_err(|e| e.to_string())?;
        let mut foreground = command(&run);
        if let Some((_, url)) = &self.server {
            // The page's commands name the default address, where the reader's server
            // listens; this one listens on a free port instead.
            let args = run.args.iter().map(|arg| arg.replace(DEFAULT_URL, url));
            foreground = command(&Run {
                args: args.collect(),
                ..run
            });
            foreground.env("GRPC_TOUR_SERVER", url);
        }
        let mut child = foreground
            .stdout(into.try_clone().map_err(|e| e.to_string())?)
            .stderr(into)
            .spawn()
            .map_err(|e| e.to_string())?;
        // The parent's copies of the pipe's write end must go, or the read never ends.
        drop(foreground);
        let reader = thread::spawn(move || {
            let mut text = String::new();
            let _ = output.read_to_string(&mut text);
            text
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if started.elapsed() > PATIENCE {
                let _ = child.kill();
                return Err(format!("still running after {PATIENCE:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        };
        Ok((status.success(), reader.join().unwrap()))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some((mut child, _)) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The command for `run`, in an environment that holds none of the reader's settings.
fn command(run: &Run) -> Command {
    let mut command = Command::new(&run.program);
    command
        .args(&run.args)
        .env_remove("GRPC_TOUR_SERVER")
        .env_remove("GRPC_TOUR_TOKEN")
        .env_remove("RUST_LOG")
        .envs(run.env.iter().map(|(k, v)| (k, v)));
    command
}
