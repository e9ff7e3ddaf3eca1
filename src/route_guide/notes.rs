//! The notes left with `RouteChat`, shared by every client of the server.
//!
//! Many chats run at once, so the store sits behind a mutex. The rule that keeps it fast
//! and deadlock-free: the lock is held only to copy out and to store, never while sending
//! to a client. A slow client then slows only itself, never the others.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use crate::{
    error::Error,
    proto::{Point, RouteNote},
};

/// How many notes the store keeps unless told otherwise (`--max-notes`).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Every note received, by location, in arrival order, up to a fixed number of notes.
#[derive(Debug)]
pub struct NoteStore {
    capacity: usize,
    /// Guards the notes and their count together, so they can never disagree.
    notes: Mutex<Notes>,
}

#[derive(Debug, Default)]
struct Notes {
    by_location: HashMap<(i32, i32), Vec<RouteNote>>,
    count: usize,
}

impl NoteStore {
    /// An empty store that refuses notes once it holds `capacity` of them.
    pub fn new(capacity: usize) -> Self {
        NoteStore {
            capacity,
            notes: Mutex::default(),
        }
    }

    // ANCHOR: leave
    /// Stores `note`, left at `location`, and returns the notes left there before it.
    ///
    /// Copying and storing happen under one lock, so two clients chatting at the same point
    /// see each other's notes exactly once and in one agreed order. When the store is full
    /// the note is refused, and the caller is told so: nothing is dropped silently.
    pub fn leave(&self, location: Point, note: RouteNote) -> Result<Vec<RouteNote>, Error> {
        let mut notes = self.lock();
        if notes.count >= self.capacity {
            return Err(Error::Full(format!(
                "the note store is full ({} notes); this note was not stored",
                self.capacity
            )));
        }
        let here = notes
            .by_location
            .entry((location.latitude, location.longitude))
            .or_default();
        let earlier = here.clone();
        here.push(note);
        notes.count += 1;
        Ok(earlier)
    }
    // ANCHOR_END: leave

    /// The notes left at `location` so far, in arrival order.
    pub fn notes_at(&self, location: &Point) -> Vec<RouteNote> {
        let notes = self.lock();
        let key = (location.latitude, location.longitude);
        notes.by_location.get(&key).cloned().unwrap_or_default()
    }

    /// How many notes are stored.
    pub fn len(&self) -> usize {
        self.lock().count
    }

    /// Whether no note has been stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Notes> {
        // Nothing inside the lock can leave the notes half-updated (the count is bumped
        // last, after the push), so a panic elsewhere while holding it is no reason to fail
        // every later chat.
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
        Ok(earlier.into_iter().map(|n| n.message).collect())
    }

    #[test]
    fn returns_earlier_notes_at_the_same_point_in_arrival_order() {
        let store = NoteStore::new(10);
        assert_eq!(leave(&store, 1, "a").unwrap(), Vec::<String>::new());
        assert_eq!(leave(&store, 2, "b").unwrap(), Vec::<String>::new());
        assert_eq!(leave(&store, 1, "c").unwrap(), ["a"]);
        assert_eq!(leave(&store, 1, "d").unwrap(), ["a", "c"]);
        assert_eq!(store.len(), 4);
    }

    #[test]
    fn a_full_store_refuses_and_keeps_what_it_had() {
        let store = NoteStore::new(2);
        leave(&store, 1, "a").unwrap();
        leave(&store, 1, "b").unwrap();
        let error = leave(&store, 1, "c").unwrap_err();
        assert_eq!(error.code(), tonic::Code::ResourceExhausted);
        assert_eq!(store.len(), 2);
        let kept: Vec<_> = store
            .notes_at(&note(1, "").0)
            .into_iter()
            .map(|n| n.message)
            .collect();
        assert_eq!(kept, ["a", "b"]);
    }
}
