//! Geometry on the route guide's map: which points are valid, which lie in a rectangle, and
//! how far apart two points are.
//!
//! Points travel as integers, degrees x 10^7 (the "E7" representation), so that the wire
//! format needs no floating point and compares exactly. Everything here is pure, so it is
//! tested without a server.

use std::{fmt, ops::RangeInclusive};

use crate::lesson::{error::Error, proto::Point};

/// How many wire units make one degree.
pub const E7: f64 = 10_000_000.0;

/// The mean radius of the earth used for distances, as in grpc.io's route guide.
pub const EARTH_RADIUS_METRES: f64 = 6_371_000.0;

const LATITUDES: RangeInclusive<i32> = -900_000_000..=900_000_000;
const LONGITUDES: RangeInclusive<i32> = -1_800_000_000..=1_800_000_000;

/// Checks a point a client sent. An error names `latitude` or `longitude`; a caller whose
/// point sits inside a larger message adds the point's own path with [`Error::inside`].
pub fn check_point(point: &Point) -> Result<(), Error> {
    check_coordinate(point.latitude, &LATITUDES, "latitude", 90)?;
    check_coordinate(point.longitude, &LONGITUDES, "longitude", 180)
}

/// Checks a point that a message must carry, at path `field`: unset is as wrong as out of
/// range.
pub fn require_point(point: Option<Point>, field: &str) -> Result<Point, Error> {
    let point = point.ok_or_else(|| Error::missing(field))?;
    check_point(&point).map_err(|error| error.inside(field))?;
    Ok(point)
}

fn check_coordinate(
    value: i32,
    valid: &RangeInclusive<i32>,
    axis: &str,
    limit: u8,
) -> Result<(), Error> {
    if valid.contains(&value) {
        return Ok(());
    }
    Err(Error::invalid(
        axis,
        format!(
            "must be within -{limit} and {limit} degrees (x 1e7), got {value} ({} degrees)",
            f64::from(value) / E7
        ),
    ))
}

impl fmt::Display for Point {
    /// Shows a point in degrees, the way a person reads a map: `(30.3215000, 35.4421000)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let degrees = |e7: i32| f64::from(e7) / E7;
        write!(
            f,
            "({:.7}, {:.7})",
            degrees(self.latitude),
            degrees(self.longitude)
        )
    }
}

/// A latitude-longitude rectangle, edges included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    latitudes: RangeInclusive<i32>,
    longitudes: RangeInclusive<i32>,
}

impl Bounds {
    /// The rectangle with opposite corners `a` and `b`, whichever corners they are.
    pub fn spanning(a: &Point, b: &Point) -> Self {
        Bounds {
            latitudes: a.latitude.min(b.latitude)..=a.latitude.max(b.latitude),
            longitudes: a.longitude.min(b.longitude)..=a.longitude.max(b.longitude),
        }
    }

    /// Whether `point` lies inside the rectangle or on its edge.
    pub fn contains(&self, point: &Point) -> bool {
        self.latitudes.contains(&point.latitude) && self.longitudes.contains(&point.longitude)
    }
}

/// The great-circle distance between two points in metres (the haversine formula).
pub fn distance_metres(from: &Point, to: &Point) -> f64 {
    let (lat1, lat2) = (radians(from.latitude), radians(to.latitude));
    let half_dlat = (lat2 - lat1) / 2.0;
    let half_dlon = (radians(to.longitude) - radians(from.longitude)) / 2.0;
    let h = half_dlat.sin().powi(2) + lat1.cos() * lat2.cos() * half_dlon.sin().powi(2);
    // Rounding can push `h` a hair above 1 for antipodal points; asin would then give NaN.
    2.0 * EARTH_RADIUS_METRES * h.sqrt().min(1.0).asin()
}

fn radians(e7: i32) -> f64 {
    (f64::from(e7) / E7).to_radians()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lat_degrees: f64, lon_degrees: f64) -> Point {
        Point {
            latitude: (lat_degrees * E7).round() as i32,
            longitude: (lon_degrees * E7).round() as i32,
        }
    }

    #[test]
    fn one_degree_along_a_meridian_is_about_111_km() {
        let metres = distance_metres(&point(10.0, 20.0), &point(11.0, 20.0));
        let expected = EARTH_RADIUS_METRES * std::f64::consts::PI / 180.0; // 111 194.93 m
        assert!((metres - expected).abs() < 0.01, "{metres}");
    }

    #[test]
    fn distance_is_zero_to_itself_and_symmetric() {
        let (a, b) = (point(30.3215, 35.4421), point(29.6618, 35.4207));
        assert_eq!(distance_metres(&a, &a), 0.0);
        assert_eq!(distance_metres(&a, &b), distance_metres(&b, &a));
    }

    #[test]
    fn antipodes_are_half_the_circumference_apart() {
        let metres = distance_metres(&point(90.0, 0.0), &point(-90.0, 0.0));
        assert!((metres - EARTH_RADIUS_METRES * std::f64::consts::PI).abs() < 0.01);
        let metres = distance_metres(&point(0.0, 0.0), &point(0.0, 180.0));
        assert!(metres.is_finite());
    }

    #[test]
    fn bounds_accept_corners_in_either_order_and_include_edges() {
        let (lo, hi) = (point(29.0, 35.0), point(30.0, 36.0));
        let bounds = Bounds::spanning(&hi, &lo);
        assert_eq!(bounds, Bounds::spanning(&lo, &hi));
        assert_eq!(
            bounds,
            Bounds::spanning(&point(29.0, 36.0), &point(30.0, 35.0))
        );
        for inside in [lo, hi, point(29.5, 35.5), point(29.0, 36.0)] {
            assert!(bounds.contains(&inside), "{inside:?}");
        }
        for outside in [point(28.9999999, 35.5), point(29.5, 36.0000001)] {
            assert!(!bounds.contains(&outside), "{outside:?}");
        }
    }

    #[test]
    fn points_display_in_degrees() {
        assert_eq!(
            point(30.3215, -35.4421).to_string(),
            "(30.3215000, -35.4421000)"
        );
    }

    #[test]
    fn points_off_the_globe_are_refused_naming_the_field() {
        assert!(check_point(&point(90.0, -180.0)).is_ok());
        let error = check_point(&point(90.0000001, 0.0)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "latitude must be within -90 and 90 degrees (x 1e7), got 900000001 (90.0000001 degrees)"
        );
        let error = require_point(Some(point(0.0, -180.5)), "hi").unwrap_err();
        assert!(error.to_string().starts_with("hi.longitude "), "{error}");
        let error = require_point(None, "lo").unwrap_err();
        assert_eq!(error.to_string(), "lo is required");
    }
}
