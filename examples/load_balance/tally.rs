//! Counting what a run of calls over a balanced channel did, and where each call went:
//! bookkeeping for the example and the tests, not part of the pattern.

use std::collections::BTreeMap;

use grpc_tour::production::{balance::Attempted, server::SERVED_BY};

/// What a run of calls over a balanced channel did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Calls started (retries not counted again).
    pub sent: u64,
    /// Calls that succeeded, maybe after retries.
    pub succeeded: u64,
    /// Attempts that failed with `UNAVAILABLE` and were sent again.
    pub retried: u64,
    /// Calls that failed for good.
    pub failed: u64,
    /// How many successful calls each replica answered, by its `x-served-by` name.
    pub served_by: BTreeMap<String, u64>,
}

impl Tally {
    /// Counts one call's outcome.
    pub fn record<T>(&mut self, attempted: &Attempted<T>) {
        self.sent += 1;
        self.retried += u64::from(attempted.retries);
        match &attempted.result {
            Ok(response) => {
                self.succeeded += 1;
                *self.served_by.entry(served_by(response)).or_default() += 1;
            }
            Err(_) => self.failed += 1,
        }
    }
}

/// The replica named in a response's `x-served-by` header.
pub fn served_by<T>(response: &tonic::Response<T>) -> String {
    response
        .metadata()
        .get(SERVED_BY)
        .and_then(|name| name.to_str().ok())
        .unwrap_or("(unnamed)")
        .to_owned()
}
