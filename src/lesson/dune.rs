//! The Dune service: a unary RPC whose answer is random, but reproducible when seeded.
//!
//! A Harkonnen soldier reports whom they found; the Mentat answers YES or NO at random, as
//! in the tutorial. Randomness and tests get along through a seed: the server takes
//! `--seed N`, and the same seed gives the same sequence of answers.

use std::{sync::Mutex, time::Duration};

use rand::{RngExt, SeedableRng, rngs::StdRng};
use tonic::{Request, Response, Status};

use crate::lesson::{
    error::Error,
    proto::{DidYouReally, WeFoundHim, dune_server},
};

/// The House Harkonnen Mentat.
#[derive(Debug)]
pub struct Mentat {
    /// The source of every verdict. A `std` mutex is right here: it is held only for one
    /// coin flip, never across an `.await`.
    rng: Mutex<StdRng>,
    /// How long each verdict takes. Zero, unless the server was asked to be slow so that a
    /// learner can watch a client's deadline pass.
    thinking: Duration,
}

impl Mentat {
    /// A Mentat whose verdicts follow from `seed`, or are unpredictable when it is `None`.
    pub fn new(seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        Mentat {
            rng: Mutex::new(rng),
            thinking: Duration::ZERO,
        }
    }

    /// The same Mentat, taking `thinking` to reach each verdict.
    pub fn thinking_for(self, thinking: Duration) -> Self {
        Mentat { thinking, ..self }
    }

    // ANCHOR: judge
    /// Judges whether `name` is the Muad'Dib, in the words of the tutorial: a blank name is
    /// refused at once; any other is thought about (for `thinking`), then answered.
    pub async fn judge(&self, name: &str) -> Result<String, Error> {
        let name = named(name)?;
        if !self.thinking.is_zero() {
            // An `.await`, not a blocking sleep: other calls go on while this one waits,
            // and a call dropped at its deadline is dropped right here.
            tokio::time::sleep(self.thinking).await;
        }
        Ok(self.verdict_on(name))
    }
    // ANCHOR_END: judge

    fn verdict_on(&self, name: &str) -> String {
        let verdict = if self.flip_coin() { "YES" } else { "NO" };
        format!("Hello minion, you ask me if {name} is the Muad'Dib... {verdict}!")
    }

    fn flip_coin(&self) -> bool {
        // A poisoned lock only means another call panicked mid-flip; the generator inside
        // is still a valid generator, so keep answering rather than fail every call after.
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rng.random_bool(0.5)
    }
}

/// The name a soldier reported, trimmed; a blank one is refused.
fn named(name: &str) -> Result<&str, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid(
            "message",
            "must name the one you found, but it is blank",
        ));
    }
    Ok(name)
}

#[tonic::async_trait]
impl dune_server::Dune for Mentat {
    // ANCHOR: is_muad_dib
    /// Unary: answers whether the one the soldier found is the Muad'Dib.
    async fn is_muad_dib(
        &self,
        request: Request<WeFoundHim>,
    ) -> Result<Response<DidYouReally>, Status> {
        let message = self.judge(&request.into_inner().message).await?;
        Ok(Response::new(DidYouReally { message }))
    }
    // ANCHOR_END: is_muad_dib
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn verdicts(mentat: &Mentat, count: usize) -> Vec<String> {
        let mut verdicts = Vec::new();
        for _ in 0..count {
            verdicts.push(mentat.judge("Paul Atreides").await.unwrap());
        }
        verdicts
    }

    #[tokio::test]
    async fn answers_in_the_tutorial_words() {
        let answer = Mentat::new(Some(1))
            .judge("  Paul Atreides ")
            .await
            .unwrap();
        assert!(
            answer == "Hello minion, you ask me if Paul Atreides is the Muad'Dib... YES!"
                || answer == "Hello minion, you ask me if Paul Atreides is the Muad'Dib... NO!",
            "{answer}"
        );
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_verdicts_and_both_occur() {
        let first = verdicts(&Mentat::new(Some(42)), 32).await;
        assert_eq!(first, verdicts(&Mentat::new(Some(42)), 32).await);
        assert!(first.iter().any(|v| v.ends_with("YES!")));
        assert!(first.iter().any(|v| v.ends_with("NO!")));
    }

    #[tokio::test]
    async fn refuses_a_blank_name_without_thinking() {
        // A Mentat who thinks for ever: a blank name must be refused before he starts.
        let mentat = Mentat::new(Some(1)).thinking_for(Duration::MAX);
        for blank in ["", "   ", "\t\n"] {
            let error = mentat.judge(blank).await.unwrap_err();
            assert_eq!(error.code(), tonic::Code::InvalidArgument);
            assert!(error.to_string().starts_with("message "), "{error}");
        }
    }
}
