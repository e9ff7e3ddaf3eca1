//! RouteChat's notes in Redis, shared by every replica that names the same Redis.
//!
//! The contract is the in-memory store's ([`NoteStore`](crate::lesson::route_guide::notes::NoteStore)): for each note, every
//! earlier note left at that point, through *any* replica, exactly once and in one order all
//! replicas agree on; then the note is stored, unless a budget refuses it. Each point is a
//! Redis list of encoded notes, appended to and never changed, and the count and bytes of
//! all notes are two counters. Checking the budgets and appending happen in one Lua script,
//! which Redis runs atomically: it answers how many notes were at the point before this one,
//! so two replicas leaving notes at one point at once cannot both miss each other's, and
//! the budgets hold across replicas (given the same `--max-notes` and `--max-note-bytes`).
//!
//! The earlier notes are then read a page at a time, as tonic takes the replies
//! ([`Replay`]): a chat at a busy point never holds more than a page of them, just as the
//! in-memory store hands out pointers rather than copies.
//!
//! The connection is the `redis` crate's `ConnectionManager`, which reconnects by itself
//! after Redis goes away. It connects on the first chat rather than at start, so that a
//! server whose Redis is down still starts (and serves everything but RouteChat). It makes
//! one attempt per connection (the crate's default, 6 retries with back-off, would hold a
//! chat for seconds), and a note whose connection was refused, so that nothing was sent, is
//! tried once more at once: the first chat after Redis comes back then works. A note fails
//! with `UNAVAILABLE` when Redis cannot be reached (within [`CONNECT_TIMEOUT`]) or does not
//! answer (within [`RESPONSE_TIMEOUT`] a command).

use std::{
    collections::VecDeque,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use futures::{Stream, stream};
use prost::Message;
use redis::{
    RedisError, Script, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use crate::lesson::{
    error::Error,
    proto::{Point, RouteNote},
};

/// How long a connection attempt to Redis may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// How long one command may take to answer before the note fails with `UNAVAILABLE`.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How many earlier notes a replay reads from Redis at a time.
const PAGE: usize = 16;

// ANCHOR: script
/// Appends the note to its point's list unless a budget refuses it, and answers how many
/// notes were there before it: `{1, earlier}` when stored, `{0, 'count'}` or `{0, 'bytes'}`
/// when not.
const LEAVE: &str = r#"
local count = tonumber(redis.call('GET', KEYS[2]) or '0')
local bytes = tonumber(redis.call('GET', KEYS[3]) or '0')
local size = string.len(ARGV[1])
if count >= tonumber(ARGV[2]) then
  return {0, 'count'}
end
if size > tonumber(ARGV[3]) - bytes then
  return {0, 'bytes'}
end
local stored = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[2])
redis.call('INCRBY', KEYS[3], size)
return {1, stored - 1}
"#;
// ANCHOR_END: script

/// The keys of the store, all under one prefix.
const PREFIX: &str = "grpc-tour:notes";

/// Notes kept in Redis, bounded by count and by bytes across every replica.
pub struct RedisNotes {
    /// Where Redis is, for messages: the URL without its password.
    shown: String,
    client: redis::Client,
    capacity: usize,
    byte_budget: usize,
    script: Script,
    /// The connection manager, once the first chat has made it; it then reconnects by
    /// itself. (A std mutex: nothing awaits while holding it.)
    connection: Mutex<Option<ConnectionManager>>,
}

impl std::fmt::Debug for RedisNotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisNotes")
            .field("redis", &self.shown)
            .finish()
    }
}

impl RedisNotes {
    /// A store in the Redis at `url` (`redis://HOST:PORT[/DB]`), with the same budgets as
    /// [`NoteStore::new`](crate::lesson::route_guide::notes::NoteStore::new). Nothing connects yet: see [`RedisNotes::check`].
    pub fn new(url: &str, capacity: usize, byte_budget: usize) -> Result<Self, RedisError> {
        Ok(RedisNotes {
            shown: without_password(url),
            client: redis::Client::open(url)?,
            capacity,
            byte_budget,
            script: Script::new(LEAVE),
            connection: Mutex::new(None),
        })
    }

    /// Where the notes are kept, as a URL without its password.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// Connects now if not yet connected, and asks Redis for a PING: whether the notes can
    /// be reached, for the start-up log line.
    pub async fn check(&self) -> Result<(), Error> {
        let mut connection = self.connection()?;
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await
            .map_err(|error| self.failed(&error))
    }

    /// Stores `note`, left at `location`, and returns the notes left there before it, from
    /// every replica that shares this Redis, to be read as they are sent.
    pub async fn leave(&self, location: Point, note: RouteNote) -> Result<Replay, Error> {
        let key = format!("{PREFIX}:{}:{}", location.latitude, location.longitude);
        let mut invocation = self.script.key(&key);
        invocation
            .key(format!("{PREFIX}:count"))
            .key(format!("{PREFIX}:bytes"))
            .arg(note.encode_to_vec())
            .arg(self.capacity)
            .arg(self.byte_budget);
        let mut connection = self.connection()?;
        let mut reply = invocation.invoke_async(&mut connection).await;
        if reply.as_ref().is_err_and(RedisError::is_connection_refusal) {
            // Nothing was sent, so trying again cannot store the note twice; and the failed
            // attempt has set off a new connection, which may find Redis back.
            reply = invocation.invoke_async(&mut connection).await;
        }
        let reply: Vec<Value> = reply.map_err(|error| self.refused(&error))?;
        let earlier = self.earlier(reply)?;
        Ok(Replay {
            connection,
            key,
            next: 0,
            end: earlier,
            page: VecDeque::new(),
            shown: self.shown.clone(),
        })
    }

    /// How many notes every replica has stored, and their bytes: the two counters the
    /// script keeps.
    pub async fn size(&self) -> Result<(u64, u64), Error> {
        let mut connection = self.connection()?;
        let (count, bytes): (Option<u64>, Option<u64>) = redis::cmd("MGET")
            .arg(format!("{PREFIX}:count"))
            .arg(format!("{PREFIX}:bytes"))
            .query_async(&mut connection)
            .await
            .map_err(|error| self.failed(&error))?;
        Ok((count.unwrap_or(0), bytes.unwrap_or(0)))
    }

    /// The connection manager, made now if none has been made yet. It connects when first
    /// used, so this waits for nothing: it needs only to run inside the tokio runtime.
    fn connection(&self) -> Result<ConnectionManager, Error> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(made) = connection.as_ref() {
            return Ok(made.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(0);
        let made = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|error| unavailable(&self.shown, &error))?;
        *connection = Some(made.clone());
        Ok(made)
    }

    /// How many notes were at the point before this one, or why the note was refused.
    fn earlier(&self, reply: Vec<Value>) -> Result<usize, Error> {
        match reply.as_slice() {
            [Value::Int(1), Value::Int(earlier)] => {
                usize::try_from(*earlier).map_err(|_| self.corrupt("a negative count"))
            }
            [Value::Int(0), Value::BulkString(budget)] if budget == b"count" => {
                Err(Error::Full(format!(
                    "the note store is full ({} notes, --max-notes); this note was not stored",
                    self.capacity
                )))
            }
            [Value::Int(0), Value::BulkString(budget)] if budget == b"bytes" => {
                Err(Error::Full(format!(
                    "the note store is full ({} bytes, --max-note-bytes); this note was not \
                     stored",
                    self.byte_budget
                )))
            }
            _ => Err(self.corrupt("an answer the script does not give")),
        }
    }

    /// A failed script: Redis out of memory is a full store like any other; anything else
    /// is a store that failed.
    fn refused(&self, error: &RedisError) -> Error {
        // OOM is the error code Redis 7 answers a write with past its `maxmemory`, under the
        // `noeviction` policy (a code of the protocol, not a message). Redis refuses the
        // script's first write, so nothing of the note was stored.
        if error.code() == Some("OOM") {
            return Error::Full(format!(
                "the note store is full (Redis at {} is at its maxmemory); this note was not \
                 stored",
                self.shown
            ));
        }
        self.failed(error)
    }

    fn failed(&self, error: &RedisError) -> Error {
        if error.is_timeout() {
            // The crate reconnects after a dropped connection, not after one that has
            // stopped answering: drop the manager, and the next note makes a new one.
            *self
                .connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }
        unavailable(&self.shown, error)
    }

    fn corrupt(&self, what: &str) -> Error {
        Error::Corrupt(format!(
            "the note store (Redis at {}) holds {what}",
            self.shown
        ))
    }
}

/// The notes at a point before one just stored, read from Redis a page at a time.
pub struct Replay {
    connection: ConnectionManager,
    key: String,
    /// The index of the next note to read.
    next: usize,
    /// How many notes there were before the one stored: the list may have grown since,
    /// but these are the notes the contract promises, no more, no fewer.
    end: usize,
    page: VecDeque<RouteNote>,
    shown: String,
}

impl Replay {
    /// The earlier notes in order, each read when the stream is asked for it (a page at a
    /// time). If Redis goes away meanwhile, the stream ends with `UNAVAILABLE`.
    pub fn notes(self) -> impl Stream<Item = Result<RouteNote, Error>> + Send + 'static {
        stream::try_unfold(self, |mut replay| async move {
            if replay.page.is_empty() && replay.next < replay.end {
                replay.read_page().await?;
            }
            Ok(replay.page.pop_front().map(|note| (note, replay)))
        })
    }

    async fn read_page(&mut self) -> Result<(), Error> {
        let last = (self.next + PAGE).min(self.end) - 1;
        let page: Vec<Vec<u8>> = redis::cmd("LRANGE")
            .arg(&self.key)
            .arg(self.next)
            .arg(last)
            .query_async(&mut self.connection)
            .await
            .map_err(|error| unavailable(&self.shown, &error))?;
        if page.is_empty() {
            return Err(Error::Corrupt(format!(
                "the note store (Redis at {}) has lost notes at {}",
                self.shown, self.key
            )));
        }
        self.next += page.len();
        for bytes in page {
            let note = RouteNote::decode(&bytes[..]).map_err(|_| {
                Error::Corrupt(format!(
                    "the note store (Redis at {}) holds a note that does not decode",
                    self.shown
                ))
            })?;
            self.page.push_back(note);
        }
        Ok(())
    }
}

/// A store that could not be reached or did not answer. The note may or may not have been
/// stored (the script may have run before its answer was lost), so a client should not
/// simply leave it again: the tour's balancer never retries RouteChat.
fn unavailable(shown: &str, error: &RedisError) -> Error {
    Error::Unavailable(format!("the note store (Redis at {shown}) failed: {error}"))
}

/// `url` without a password, if it has one: `redis://:secret@host:6379/0` is shown as
/// `redis://host:6379/0`.
fn without_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows() {
        assert_eq!(
            without_password("redis://:s3cret@10.0.0.7:6379/2"),
            "redis://10.0.0.7:6379/2"
        );
        assert_eq!(
            without_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
