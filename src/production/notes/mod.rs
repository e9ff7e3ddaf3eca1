//! Where RouteChat's notes live, as `--notes` chooses: in this server's memory (the
//! lesson's [`NoteStore`]), or in a Redis that every replica shares ([`redis::RedisNotes`]).
//!
//! The lesson's handler asks only for a [`Notebook`]; [`Notes`] is the production server's,
//! one of the two chosen at start-up, with the same contract either way: each note gets the
//! notes left at its point before it, exactly once and in one agreed order, and is stored
//! unless a budget refuses it.

pub mod redis;

use std::sync::Arc;

use futures::{Stream, StreamExt, TryStreamExt};
use tonic::Status;

use crate::lesson::{
    error::Error,
    proto::{Point, RouteNote},
    route_guide::{Notebook, notes::NoteStore},
};
use redis::RedisNotes;

// ANCHOR: notes
/// Where RouteChat's notes live.
#[derive(Debug, Clone)]
pub enum Notes {
    /// In this server's memory: nothing to install, but each replica keeps its own.
    Memory(Arc<NoteStore>),
    /// In Redis, shared by every replica that names the same one.
    Redis(Arc<RedisNotes>),
}

impl Notebook for Notes {
    async fn leave(
        &self,
        location: Point,
        note: RouteNote,
    ) -> Result<impl Stream<Item = Result<RouteNote, Status>> + Send + use<>, Error> {
        Ok(match self {
            Notes::Memory(store) => Notebook::leave(&**store, location, note)
                .await?
                .left_stream(),
            // Boxed: the Redis arm's future and stream are large, and without the boxes
            // every note of an in-memory chat moved them too (about 600 instructions a note,
            // `bench instructions`, docs/performance.md). A round trip to Redis dwarfs two
            // allocations.
            Notes::Redis(store) => {
                let replay = Box::pin(store.leave(location, note)).await?;
                replay.notes().map_err(Status::from).boxed().right_stream()
            }
        })
    }
}
// ANCHOR_END: notes

impl Notes {
    /// The notes `home` names, bounded by `capacity` notes and `byte_budget` bytes. Nothing
    /// connects to Redis yet.
    pub fn new(
        home: &NoteHome,
        capacity: usize,
        byte_budget: usize,
    ) -> Result<Self, ::redis::RedisError> {
        Ok(match home {
            NoteHome::Memory => Notes::Memory(Arc::new(NoteStore::new(capacity, byte_budget))),
            NoteHome::Redis(url) => {
                Notes::Redis(Arc::new(RedisNotes::new(url, capacity, byte_budget)?))
            }
        })
    }

    /// How many notes are kept, and their encoded size in bytes: this server's, or, in
    /// Redis, every replica's.
    pub async fn size(&self) -> Result<(u64, u64), Error> {
        match self {
            Notes::Memory(store) => Ok((store.len() as u64, store.bytes() as u64)),
            Notes::Redis(store) => store.size().await,
        }
    }

    /// The in-memory store, if the notes are kept in memory.
    pub fn in_memory(&self) -> Option<&Arc<NoteStore>> {
        match self {
            Notes::Memory(store) => Some(store),
            Notes::Redis(_) => None,
        }
    }
}

/// Where RouteChat's notes live, as `--notes` names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NoteHome {
    /// `memory`: in this server's memory, nothing to install; each replica has its own.
    #[default]
    Memory,
    /// `redis://HOST:PORT[/DB]`: in that Redis, shared by every replica that names it.
    Redis(String),
}

impl std::str::FromStr for NoteHome {
    type Err = String;

    fn from_str(home: &str) -> Result<Self, Self::Err> {
        match home {
            "memory" => Ok(NoteHome::Memory),
            url if url.starts_with("redis://") => Ok(NoteHome::Redis(url.to_owned())),
            other => Err(format!(
                "{other:?} is neither `memory` nor a URL such as redis://127.0.0.1:6379"
            )),
        }
    }
}

impl std::fmt::Display for NoteHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoteHome::Memory => f.write_str("memory"),
            NoteHome::Redis(url) => f.write_str(url),
        }
    }
}
