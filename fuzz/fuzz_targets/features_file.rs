//! A features file (`--features FILE`, grpc.io's `route_guide_db.json` format), as an
//! operator might get it wrong: loading never panics, and what loads, written back as a
//! features file, loads as the same features, in the same order.
#![no_main]

use std::sync::Arc;

use grpc_tour::lesson::{
    proto::{Feature, Point},
    route_guide::{features::FeatureDb, geo::Bounds},
};
use libfuzzer_sys::fuzz_target;

/// Every feature of `db`, in its order.
fn all(db: FeatureDb) -> Vec<Feature> {
    let world = Bounds::spanning(
        &Point {
            latitude: -900_000_000,
            longitude: -1_800_000_000,
        },
        &Point {
            latitude: 900_000_000,
            longitude: 1_800_000_000,
        },
    );
    Arc::new(db).within(world).collect()
}

fuzz_target!(|text: &str| {
    let Ok(features) = FeatureDb::from_json(text) else {
        return;
    };
    let count = features.len();
    let features = all(features);
    assert_eq!(features.len(), count, "every feature is on the globe");
    let written: Vec<_> = features
        .iter()
        .map(|feature| {
            let at = feature.location.expect("a feature has a location");
            serde_json::json!({
                "location": {"latitude": at.latitude, "longitude": at.longitude},
                "name": feature.name,
            })
        })
        .collect();
    let text = serde_json::to_string(&written).unwrap();
    let again = FeatureDb::from_json(&text).expect("what it writes loads");
    assert_eq!(all(again), features);
});
