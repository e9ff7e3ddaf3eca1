//! RouteChat's notes in Redis, shared by every replica that names the same Redis.
//!
//! The contract is the in-memory store's ([`super::notes::NoteStore`]): for each note, every
//! earlier note left at that point, through *any* replica, exactly once and in one order all
//! replicas agree on; then the note is stored, unless a budget refuses it. Each point is a
//! Redis list of encoded notes, and the count and bytes of all notes are two counters.
//! Reading the earlier notes, checking the budgets and appending happen in one Lua script,
//! which Redis runs atomically: two replicas leaving notes at one point at once cannot both
//! miss each other's, and the budgets hold across replicas.
//!
//! The connection is the `redis` crate's `ConnectionManager`, which reconnects by itself
//! after Redis goes away. It connects on the first chat rather than at start, so that a
//! server whose Redis is down still starts (and serves everything but RouteChat). It tries
//! each connection once (no retries with back-off, which would hold a chat for seconds):
//! while Redis cannot be reached, a note fails with `UNAVAILABLE` within the connection
//! timeout below, and the next note tries again.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use prost::Message;
use redis::{
    ErrorKind, RedisError, Script, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use crate::{
    error::Error,
    proto::{Point, RouteNote},
};

/// How long a connection attempt to Redis may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// How long one script may take to answer before the note fails with `UNAVAILABLE`.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

// ANCHOR: script
/// Returns the notes already at the point and appends the new one, unless a budget refuses
/// it: `{1, earlier...}` when stored, `{0, "count", n}` or `{0, "bytes", n}` when not.
const LEAVE: &str = r#"
local count = tonumber(redis.call('GET', KEYS[2]) or '0')
local bytes = tonumber(redis.call('GET', KEYS[3]) or '0')
local size = string.len(ARGV[1])
if count >= tonumber(ARGV[2]) then
  return {0, 'count', count}
end
if size > tonumber(ARGV[3]) - bytes then
  return {0, 'bytes', bytes}
end
local earlier = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[2])
redis.call('INCRBY', KEYS[3], size)
table.insert(earlier, 1, 1)
return earlier
"#;
// ANCHOR_END: script

/// The keys of the store, all under one prefix.
const PREFIX: &str = "grpc-tour:notes";

/// Notes kept in Redis, bounded by count and by bytes across every replica.
pub struct RedisNotes {
    url: String,
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
            .field("url", &self.url)
            .finish()
    }
}

impl RedisNotes {
    /// A store in the Redis at `url` (`redis://HOST:PORT[/DB]`), with the same budgets as
    /// [`super::notes::NoteStore::new`]. Nothing connects yet: see [`RedisNotes::check`].
    pub fn new(url: &str, capacity: usize, byte_budget: usize) -> Result<Self, RedisError> {
        Ok(RedisNotes {
            url: url.to_owned(),
            client: redis::Client::open(url)?,
            capacity,
            byte_budget,
            script: Script::new(LEAVE),
            connection: Mutex::new(None),
        })
    }

    /// The URL of the Redis the notes are kept in.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects now if not yet connected, and asks Redis for a PING: whether the notes can
    /// be reached, for the start-up log line.
    pub async fn check(&self) -> Result<(), Error> {
        let mut connection = self.connection()?;
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await
            .map_err(|error| self.unavailable(&error))
    }

    /// Stores `note`, left at `location`, and returns the notes left there before it, from
    /// every replica that shares this Redis.
    pub async fn leave(
        &self,
        location: Point,
        note: RouteNote,
    ) -> Result<Vec<Arc<RouteNote>>, Error> {
        let mut connection = self.connection()?;
        let key = format!("{PREFIX}:{}:{}", location.latitude, location.longitude);
        let reply: Vec<Value> = self
            .script
            .key(key)
            .key(format!("{PREFIX}:count"))
            .key(format!("{PREFIX}:bytes"))
            .arg(note.encode_to_vec())
            .arg(self.capacity)
            .arg(self.byte_budget)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.refused(&error))?;
        self.earlier(reply)
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
            .map_err(|error| self.unavailable(&error))?;
        *connection = Some(made.clone());
        Ok(made)
    }

    /// The script's answer: the earlier notes, or why the note was refused.
    fn earlier(&self, reply: Vec<Value>) -> Result<Vec<Arc<RouteNote>>, Error> {
        let mut reply = reply.into_iter();
        match reply.next() {
            Some(Value::Int(1)) => reply
                .map(|stored| match stored {
                    Value::BulkString(bytes) => RouteNote::decode(&bytes[..])
                        .map(Arc::new)
                        .map_err(|_| self.corrupt("a stored note that does not decode")),
                    _ => Err(self.corrupt("a stored note that is not bytes")),
                })
                .collect(),
            Some(Value::Int(0)) => Err(match reply.next() {
                Some(Value::BulkString(budget)) if budget == b"count" => Error::Full(format!(
                    "the note store is full ({} notes, --max-notes); this note was not stored",
                    self.capacity
                )),
                _ => Error::Full(format!(
                    "the note store is full ({} bytes, --max-note-bytes); this note was not \
                     stored",
                    self.byte_budget
                )),
            }),
            _ => Err(self.corrupt("an answer the script does not give")),
        }
    }

    /// A failed script: Redis out of memory is a full store like any other; anything else
    /// means the notes cannot be reached.
    fn refused(&self, error: &RedisError) -> Error {
        // OOM is the error code Redis answers a write with past its `maxmemory` (a code of
        // the protocol, not a message).
        if error.code() == Some("OOM") {
            return Error::Full(format!(
                "the note store is full (Redis at {} is at its maxmemory); this note was not \
                 stored",
                self.url
            ));
        }
        if error.kind() == ErrorKind::UnexpectedReturnType {
            return self.corrupt("an answer of the wrong type");
        }
        self.unavailable(error)
    }

    fn unavailable(&self, error: &RedisError) -> Error {
        Error::Unavailable(format!(
            "the note store (Redis at {}) cannot be reached: {error}",
            self.url
        ))
    }

    fn corrupt(&self, what: &str) -> Error {
        Error::Corrupt(format!(
            "the note store (Redis at {}) holds {what}",
            self.url
        ))
    }
}
