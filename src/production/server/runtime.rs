//! Which tokio runtime runs the server: a choice made on purpose, because on one core it
//! changes tail latency several times over.
//!
//! A *multi-thread* runtime has a worker per core, and workers steal each other's tasks:
//! the right thing when there are cores to spread over. On **one** core there is nobody to
//! steal from, and the machinery still costs: tasks woken from another thread go through
//! shared queues, and the single worker also hands I/O and timers back and forth. A
//! *current-thread* runtime runs everything on one thread with no such cost. Measured with
//! the benchmark (`bench/`) on one core (docs/performance.md), it serves more calls per second
//! with a much lower p99.
//!
//! So the default, [`Runtime::Auto`], asks how many CPUs this process may use (its
//! affinity mask and cgroup quota, as `std::thread::available_parallelism` reads them: a
//! `cpu: 1` container, or `taskset -c 0`) and picks current-thread for one, multi-thread
//! with a worker per CPU for more.

use std::{io, num::NonZeroUsize, thread};

/// The runtime to serve on (the `--runtime` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    /// Current-thread when this process may use one CPU, multi-thread otherwise.
    Auto,
    /// One thread runs every task: the fastest on one core, and uses only one.
    CurrentThread,
    /// A worker thread per CPU this process may use.
    MultiThread,
}

impl Runtime {
    /// What [`Runtime::Auto`] means on this machine, for this process.
    pub fn resolved(self) -> Runtime {
        match self {
            Runtime::Auto if cpus() == 1 => Runtime::CurrentThread,
            Runtime::Auto => Runtime::MultiThread,
            chosen => chosen,
        }
    }

    /// Builds the runtime, with I/O and timers enabled.
    pub fn build(self) -> io::Result<tokio::runtime::Runtime> {
        let mut builder = match self.resolved() {
            Runtime::MultiThread => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(cpus());
                builder
            }
            _ => tokio::runtime::Builder::new_current_thread(),
        };
        builder.enable_all().build()
    }
}

/// How many CPUs this process may run on.
fn cpus() -> usize {
    thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_choice_stands_and_auto_picks_one_of_them() {
        assert_eq!(Runtime::CurrentThread.resolved(), Runtime::CurrentThread);
        assert_eq!(Runtime::MultiThread.resolved(), Runtime::MultiThread);
        let expected = if cpus() == 1 {
            Runtime::CurrentThread
        } else {
            Runtime::MultiThread
        };
        assert_eq!(Runtime::Auto.resolved(), expected);
    }
}
