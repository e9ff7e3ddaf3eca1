//! The features (named places) the route guide knows, loaded once at start-up.
//!
//! The server ships its own set, places from Dune laid over the Wadi Rum desert where the
//! films were shot, embedded in the binary so that it runs from any directory. `--features
//! FILE` loads instead a file in the format of grpc.io's `route_guide_db.json`:
//!
//! ```json
//! [{"location": {"latitude": 303215000, "longitude": 354421000}, "name": "Arrakeen"}]
//! ```
//!
//! The set never changes while the server runs, so it is shared between calls through an
//! `Arc` with no lock at all.

use std::{
    collections::{HashMap, hash_map::Entry},
    io,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::Deserialize;

use super::geo::{self, Bounds};
use crate::lesson::{
    error::Error,
    proto::{Feature, Point},
};

/// The data set compiled into the binary.
const EMBEDDED: &str = include_str!("features.json");

/// Every named feature, in the order of its source, with an index by location.
#[derive(Debug, Clone)]
pub struct FeatureDb {
    places: Vec<Place>,
    /// Where each location's feature is in `places`; a location has at most one feature.
    by_location: HashMap<(i32, i32), usize>,
}

#[derive(Debug, Clone)]
struct Place {
    location: Point,
    name: String,
}

/// One entry of a `route_guide_db.json` file.
#[derive(Deserialize)]
struct JsonFeature {
    location: JsonPoint,
    name: String,
}

#[derive(Deserialize)]
struct JsonPoint {
    latitude: i32,
    longitude: i32,
}

/// Why a list of features could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    /// The file could not be read.
    #[error(transparent)]
    Read(#[from] io::Error),
    /// The text is not a JSON list of `{location, name}` objects.
    #[error("not a JSON list of {{\"location\": {{\"latitude\", \"longitude\"}}, \"name\"}}: {0}")]
    Parse(#[from] serde_json::Error),
    /// An entry has a location off the globe.
    #[error("entry {index} ({name:?}): {error}")]
    OffTheGlobe {
        /// The entry's position in the list, from 0.
        index: usize,
        /// The entry's name.
        name: String,
        /// What is wrong with its location.
        error: Error,
    },
    /// Two named features share a location, so `GetFeature` there would be ambiguous.
    #[error("entries {first} and {second} are both at latitude {latitude}, longitude {longitude}")]
    SharedLocation {
        /// The earlier entry, from 0.
        first: usize,
        /// The later entry, from 0.
        second: usize,
        /// The shared latitude (x 1e7).
        latitude: i32,
        /// The shared longitude (x 1e7).
        longitude: i32,
    },
}

/// A feature file that could not be loaded: which file, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("cannot load features from {}: {problem}", path.display())]
pub struct LoadError {
    /// The file that was asked for.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: FeaturesError,
}

impl FeatureDb {
    /// The Dune-themed features compiled into the binary.
    pub fn embedded() -> Self {
        // A unit test parses this text, so a broken data file fails `cargo test`, not users.
        Self::from_json(EMBEDDED).expect("the embedded features.json is valid")
    }

    /// Reads a `route_guide_db.json`-style file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let in_file = |problem| LoadError {
            path: path.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| in_file(e.into()))?;
        Self::from_json(&text).map_err(in_file)
    }

    /// Parses a JSON list of features. Entries with an empty name are skipped: in the
    /// proto, an empty name is how `GetFeature` says "no feature here", which is what the
    /// server answers at any point it has no feature for.
    pub fn from_json(text: &str) -> Result<Self, FeaturesError> {
        let entries: Vec<JsonFeature> = serde_json::from_str(text)?;
        let mut db = FeatureDb {
            places: Vec::with_capacity(entries.len()),
            by_location: HashMap::with_capacity(entries.len()),
        };
        // Each place's position in the source, so an error can point at the entry to fix.
        let mut source_index = Vec::with_capacity(entries.len());
        for (index, JsonFeature { location, name }) in entries.into_iter().enumerate() {
            let location = Point {
                latitude: location.latitude,
                longitude: location.longitude,
            };
            if let Err(error) = geo::check_point(&location).map_err(|e| e.inside("location")) {
                return Err(FeaturesError::OffTheGlobe { index, name, error });
            }
            if name.is_empty() {
                continue;
            }
            let key = (location.latitude, location.longitude);
            match db.by_location.entry(key) {
                Entry::Occupied(earlier) => {
                    return Err(FeaturesError::SharedLocation {
                        first: source_index[*earlier.get()],
                        second: index,
                        latitude: key.0,
                        longitude: key.1,
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert(db.places.len());
                }
            }
            source_index.push(index);
            db.places.push(Place { location, name });
        }
        Ok(db)
    }

    /// How many named features there are.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// Whether there are no named features at all.
    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// The name of the feature at exactly `point`, if there is one.
    pub fn name_at(&self, point: &Point) -> Option<&str> {
        let index = self.by_location.get(&(point.latitude, point.longitude))?;
        Some(&self.places[*index].name)
    }

    /// The feature at `point`: its name, or an empty name when nothing is there.
    pub fn feature_at(&self, point: Point) -> Feature {
        Feature {
            name: self.name_at(&point).unwrap_or_default().to_owned(),
            location: Some(point),
        }
    }

    // ANCHOR: within
    /// Every feature inside `bounds`, lazily: each is found only when the caller asks for
    /// the next, so a client that stops listening stops the search too. Owning an `Arc`
    /// lets the iterator outlive the call that created it, as a response stream must.
    pub fn within(self: Arc<Self>, bounds: Bounds) -> impl Iterator<Item = Feature> + Send {
        (0..self.places.len()).filter_map(move |index| {
            let place = &self.places[index];
            bounds.contains(&place.location).then(|| Feature {
                name: place.name.clone(),
                location: Some(place.location),
            })
        })
    }
    // ANCHOR_END: within
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_set_has_at_least_fifty_named_features() {
        let db = FeatureDb::embedded();
        assert!(db.len() >= 50, "{}", db.len());
        let arrakeen = Point {
            latitude: 303_215_000,
            longitude: 354_421_000,
        };
        assert_eq!(db.name_at(&arrakeen), Some("Arrakeen"));
    }

    #[test]
    fn unnamed_entries_mean_no_feature() {
        let db = FeatureDb::from_json(
            r#"[{"location": {"latitude": 1, "longitude": 2}, "name": ""},
                {"location": {"latitude": 3, "longitude": 4}, "name": "Sietch"}]"#,
        )
        .unwrap();
        assert_eq!(db.len(), 1);
        let empty = Point {
            latitude: 1,
            longitude: 2,
        };
        assert_eq!(db.feature_at(empty).name, "");
        assert_eq!(db.feature_at(empty).location, Some(empty));
    }

    #[test]
    fn within_yields_features_in_source_order_edges_included() {
        let db = Arc::new(
            FeatureDb::from_json(
                r#"[{"location": {"latitude": 10, "longitude": 10}, "name": "corner"},
                    {"location": {"latitude": 11, "longitude": 10}, "name": "outside"},
                    {"location": {"latitude": 5, "longitude": 7}, "name": "inside"}]"#,
            )
            .unwrap(),
        );
        let corner = |latitude, longitude| Point {
            latitude,
            longitude,
        };
        let names: Vec<_> = db
            .within(Bounds::spanning(&corner(10, 10), &corner(0, 0)))
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["corner", "inside"]);
    }

    #[test]
    fn bad_entries_are_reported_by_position() {
        let error = FeatureDb::from_json(
            r#"[{"location": {"latitude": 1, "longitude": 1}, "name": "ok"},
                {"location": {"latitude": 910000000, "longitude": 1}, "name": "north of north"}]"#,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("entry 1 (\"north of north\"): location.latitude must be"),
            "{error}"
        );

        let error = FeatureDb::from_json(
            r#"[{"location": {"latitude": 1, "longitude": 1}, "name": "a"},
                {"location": {"latitude": 2, "longitude": 2}, "name": ""},
                {"location": {"latitude": 1, "longitude": 1}, "name": "b"}]"#,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "entries 0 and 2 are both at latitude 1, longitude 1"
        );

        let error = FeatureDb::from_json(r#"{"name": "not a list"}"#).unwrap_err();
        assert!(matches!(error, FeaturesError::Parse(_)), "{error}");
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let error = FeatureDb::load("/no/such/features.json").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot load features from /no/such/features.json: "),
            "{error}"
        );
    }
}
