//! A few places of the built-in feature set, by name, for the examples and the tests.
//!
//! Coordinates are degrees x 10^7, as on the wire: Arrakeen at 30.3215 N, 35.4421 E is
//! `latitude: 303_215_000, longitude: 354_421_000`. A unit test checks every landmark
//! against the embedded data, so an example can never point at a place that is not there.

use crate::lesson::proto::Point;

/// Arrakeen, the capital.
pub const ARRAKEEN: Point = point(303_215_000, 354_421_000);
/// The Residency Gardens, in Arrakeen.
pub const RESIDENCY_GARDENS: Point = point(303_280_000, 354_310_000);
/// The Water Seller's Market, in Arrakeen.
pub const WATER_SELLERS_MARKET: Point = point(303_150_000, 354_550_000);
/// Sietch Tabr, Stilgar's sietch.
pub const SIETCH_TABR: Point = point(296_618_000, 354_207_000);
/// The Cave of Birds.
pub const CAVE_OF_BIRDS: Point = point(296_095_000, 353_510_000);
/// Open desert between Arrakeen and the sietches: a point with no feature.
pub const OPEN_DESERT: Point = point(300_000_000, 360_000_000);

const fn point(latitude: i32, longitude: i32) -> Point {
    Point {
        latitude,
        longitude,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lesson::route_guide::features::FeatureDb;

    #[test]
    fn every_landmark_is_where_the_embedded_set_says() {
        let db = FeatureDb::embedded();
        for (point, name) in [
            (ARRAKEEN, "Arrakeen"),
            (RESIDENCY_GARDENS, "Residency Gardens"),
            (WATER_SELLERS_MARKET, "Water Seller's Market"),
            (SIETCH_TABR, "Sietch Tabr"),
            (CAVE_OF_BIRDS, "Cave of Birds"),
        ] {
            assert_eq!(db.name_at(&point), Some(name), "{point}");
        }
        assert_eq!(db.name_at(&OPEN_DESERT), None);
    }
}
