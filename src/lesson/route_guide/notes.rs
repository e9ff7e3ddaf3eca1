//! The notes left with `RouteChat`, shared by every client of the server.
//!
//! Many chats run at once, so the store sits behind a mutex. The rule that keeps it fast
//! and deadlock-free: the lock is held only to copy out and to store, never while sending
//! to a client. A slow client then slows only itself, never the others. And what is copied
//! under the lock is pointers: each note is stored once, behind an `Arc`, and a reply
//! shares it, so a chat at a busy point holds the lock for a pointer per earlier note,
//! however big the notes are (grpc-go's route guide copies pointers too).
//!
//! The store is bounded twice: by the number of notes and by their bytes. A count alone
//! is no bound on memory when each note may be as big as a message (4 MiB).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use prost::Message;

use crate::lesson::{
    error::Error,
    proto::{Point, RouteNote},
};

/// How many notes the store keeps unless told otherwise (`--max-notes`).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// How many bytes of notes the store keeps unless told otherwise (`--max-note-bytes`): a
/// quarter of a 1 GiB container, leaving the rest to the calls in flight.
pub const DEFAULT_BYTE_BUDGET: usize = 256 * 1024 * 1024;

/// Every note received, by location, in arrival order, up to a number of notes and a
/// number of bytes.
#[derive(Debug)]
pub struct NoteStore {
    capacity: usize,
    byte_budget: usize,
    /// Guards the notes, their count and their bytes together, so they can never disagree.
    notes: Mutex<Stored>,
}

#[derive(Debug, Default)]
struct Stored {
    by_location: HashMap<(i32, i32), Vec<Arc<RouteNote>>>,
    count: usize,
    bytes: usize,
}

impl Default for NoteStore {
    /// A store with the default bounds, [`DEFAULT_CAPACITY`] and [`DEFAULT_BYTE_BUDGET`].
    fn default() -> Self {
        NoteStore::new(DEFAULT_CAPACITY, DEFAULT_BYTE_BUDGET)
    }
}

impl NoteStore {
    /// An empty store that refuses a note once it holds `capacity` notes, or when the note
    /// would take its notes past `byte_budget` bytes (each note counted at its encoded
    /// size).
    pub fn new(capacity: usize, byte_budget: usize) -> Self {
        NoteStore {
            capacity,
            byte_budget,
            notes: Mutex::default(),
        }
    }

    // ANCHOR: leave
    /// Stores `note`, left at `location`, and returns the notes left there before it.
    ///
    /// Copying and storing happen under one lock, so two clients chatting at the same point
    /// see each other's notes exactly once and in one agreed order. What is copied is a
    /// pointer per earlier note. When the store is full the note is refused, and the caller
    /// is told so: nothing is dropped silently.
    pub fn leave(&self, location: Point, note: RouteNote) -> Result<Vec<Arc<RouteNote>>, Error> {
        let size = note.encoded_len();
        let mut notes = self.lock();
        if notes.count >= self.capacity {
            return Err(Error::Full(format!(
                "the note store is full ({} notes, --max-notes); this note was not stored",
                self.capacity
            )));
        }
        if size > self.byte_budget - notes.bytes {
            return Err(Error::Full(format!(
                "the note store is full ({} of its {} bytes taken, --max-note-bytes); this \
                 note of {size} bytes was not stored",
                notes.bytes, self.byte_budget
            )));
        }
        let here = notes
            .by_location
            .entry((location.latitude, location.longitude))
            .or_default();
        let earlier = here.clone();
        here.push(Arc::new(note));
        notes.count += 1;
        notes.bytes += size;
        Ok(earlier)
    }
    // ANCHOR_END: leave

    /// The notes left at `location` so far, in arrival order.
    pub fn notes_at(&self, location: &Point) -> Vec<Arc<RouteNote>> {
        let notes = self.lock();
        let key = (location.latitude, location.longitude);
        notes.by_location.get(&key).cloned().unwrap_or_default()
    }

    /// How many notes are stored.
    pub fn len(&self) -> usize {
        self.lock().count
    }

    /// How many bytes the stored notes take, at their encoded size.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether no note has been stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stored> {
        // Nothing inside the lock can leave the notes half-updated (the count and bytes are
        // bumped last, after the push), so a panic elsewhere while holding it is no reason
        // to fail every later chat.
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(latitude: i32, message: &str) -> (Point, RouteNote) {
        let location = Point {
            latitude,
            longitude: 0,
        };
        let note = RouteNote {
            location: Some(location),
            message: message.to_owned(),
        };
        (location, note)
    }

    fn leave(store: &NoteStore, latitude: i32, message: &str) -> Result<Vec<String>, Error> {
        let (location, note) = note(latitude, message);
        let earlier = store.leave(location, note)?;
        Ok(earlier.into_iter().map(|n| n.message.clone()).collect())
    }

    #[test]
    fn returns_earlier_notes_at_the_same_point_in_arrival_order() {
        let store = NoteStore::new(10, 1000);
        assert_eq!(leave(&store, 1, "a").unwrap(), Vec::<String>::new());
        assert_eq!(leave(&store, 2, "b").unwrap(), Vec::<String>::new());
        assert_eq!(leave(&store, 1, "c").unwrap(), ["a"]);
        assert_eq!(leave(&store, 1, "d").unwrap(), ["a", "c"]);
        assert_eq!(store.len(), 4);
    }

    #[test]
    fn a_full_store_refuses_and_keeps_what_it_had() {
        let store = NoteStore::new(2, 1000);
        leave(&store, 1, "a").unwrap();
        leave(&store, 1, "b").unwrap();
        let error = leave(&store, 1, "c").unwrap_err();
        assert_eq!(error.code(), tonic::Code::ResourceExhausted);
        assert_eq!(store.len(), 2);
        let kept: Vec<_> = store
            .notes_at(&note(1, "").0)
            .into_iter()
            .map(|n| n.message.clone())
            .collect();
        assert_eq!(kept, ["a", "b"]);
    }

    #[test]
    fn a_note_past_the_byte_budget_is_refused_and_not_stored() {
        // A note of a 10-byte message at latitude 1 encodes to 16 bytes; with no message, 4.
        let (_, sample) = note(1, "0123456789");
        assert_eq!(sample.encoded_len(), 16);
        let store = NoteStore::new(100, 40);
        leave(&store, 1, "0123456789").unwrap();
        leave(&store, 1, "0123456789").unwrap();
        let error = leave(&store, 1, "0123456789").unwrap_err();
        assert_eq!(error.code(), tonic::Code::ResourceExhausted);
        assert!(error.to_string().contains("--max-note-bytes"), "{error}");
        assert_eq!((store.len(), store.bytes()), (2, 32));
        // A smaller note still fits in what is left.
        leave(&store, 1, "").unwrap();
        assert_eq!((store.len(), store.bytes()), (3, 36));
    }

    #[test]
    fn earlier_notes_are_shared_not_copied() {
        let store = NoteStore::default();
        leave(&store, 1, "a").unwrap();
        let (location, second) = note(1, "b");
        let earlier = store.leave(location, second).unwrap();
        let stored = store.notes_at(&location);
        assert!(Arc::ptr_eq(&earlier[0], &stored[0]));
    }
}
