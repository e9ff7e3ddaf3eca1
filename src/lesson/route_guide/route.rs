//! A route being recorded by `RecordRoute`: what the server keeps while the client streams
//! points, and the summary it answers with once the stream ends.
//!
//! Only running totals are kept, never the points themselves, so a route of any length costs
//! the server the same few bytes of memory.

use std::time::Instant;

use super::geo;
use crate::lesson::{
    error::Error,
    proto::{Point, RouteSummary},
};

/// The running totals of a route.
#[derive(Debug, Default)]
pub struct Route {
    points: u64,
    features: u64,
    metres: f64,
    last: Option<Point>,
    started: Option<Instant>,
}

impl Route {
    /// Adds the next point, received at `now`; `is_feature` says whether a feature is there.
    pub fn add(&mut self, point: Point, is_feature: bool, now: Instant) {
        self.started.get_or_insert(now);
        if let Some(last) = self.last {
            self.metres += geo::distance_metres(&last, &point);
        }
        self.last = Some(point);
        self.points += 1;
        self.features += u64::from(is_feature);
    }

    /// How many points the route has so far.
    pub fn len(&self) -> u64 {
        self.points
    }

    /// Whether no point has been added.
    pub fn is_empty(&self) -> bool {
        self.points == 0
    }

    /// The summary of the route when its stream ends at `now`. The proto's fields are
    /// `int32`; a total too large for one is refused rather than silently wrapped.
    pub fn summary(&self, now: Instant) -> Result<RouteSummary, Error> {
        let elapsed = self.started.map_or(0, |start| (now - start).as_secs());
        let metres = self.metres.round();
        if metres > f64::from(i32::MAX) {
            return Err(Error::OutOfRange(format!(
                "the route is {metres} m long, more than an int32 distance can report"
            )));
        }
        Ok(RouteSummary {
            point_count: int32("point_count", self.points)?,
            feature_count: int32("feature_count", self.features)?,
            distance: metres as i32,
            elapsed_time: int32("elapsed_time", elapsed)?,
        })
    }
}

fn int32(field: &str, value: u64) -> Result<i32, Error> {
    i32::try_from(value)
        .map_err(|_| Error::OutOfRange(format!("{field} {value} does not fit in an int32")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lesson::route_guide::landmarks::{ARRAKEEN, SIETCH_TABR};

    #[test]
    fn an_empty_route_is_all_zeros() {
        let summary = Route::default().summary(Instant::now()).unwrap();
        assert_eq!(summary, RouteSummary::default());
    }

    #[test]
    fn sums_counts_distance_and_time_from_the_first_point() {
        let start = Instant::now();
        let mut route = Route::default();
        route.add(ARRAKEEN, true, start);
        route.add(SIETCH_TABR, true, start + Duration::from_millis(900));
        route.add(ARRAKEEN, false, start + Duration::from_millis(1500));

        let summary = route.summary(start + Duration::from_millis(2100)).unwrap();
        let leg = geo::distance_metres(&ARRAKEEN, &SIETCH_TABR);
        assert_eq!(summary.point_count, 3);
        assert_eq!(summary.feature_count, 2);
        assert_eq!(summary.distance, (2.0 * leg).round() as i32);
        assert_eq!(summary.elapsed_time, 2);
    }

    #[test]
    fn a_route_too_long_for_int32_is_out_of_range() {
        let (north, south) = (
            Point {
                latitude: 900_000_000,
                longitude: 0,
            },
            Point {
                latitude: -900_000_000,
                longitude: 0,
            },
        );
        let now = Instant::now();
        let mut route = Route::default();
        // 20 015 km a leg: 108 legs pass 2^31 metres.
        for leg in 0..110 {
            route.add(if leg % 2 == 0 { north } else { south }, false, now);
        }
        let error = route.summary(now).unwrap_err();
        assert_eq!(error.code(), tonic::Code::OutOfRange);
    }
}
