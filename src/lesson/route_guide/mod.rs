//! The RouteGuide service: the four kinds of RPC side by side, on one map.
//!
//! | RPC            | kind             | what the handler returns                            |
//! |----------------|------------------|-----------------------------------------------------|
//! | `GetFeature`   | unary            | one `Feature`                                       |
//! | `ListFeatures` | server streaming | a stream of `Feature`s                              |
//! | `RecordRoute`  | client streaming | one `RouteSummary`, after reading the client stream |
//! | `RouteChat`    | bidirectional    | a stream of `RouteNote`s, while reading the client's |
//!
//! The streaming handlers return *lazy* streams built from the request, with no task of
//! their own: tonic pulls the next response only when the client can take it, and when
//! the client hangs up tonic drops the stream, which ends the work at once. There is no
//! spawned producer to forget, and no send that can fail into a panic.

pub mod features;
pub mod geo;
pub mod landmarks;
pub mod notes;
pub mod route;

use std::{future::Future, pin::Pin, sync::Arc, time::Instant};

use futures::{Stream, StreamExt, stream};
use tonic::{Request, Response, Status, Streaming};

use crate::lesson::{
    error::Error,
    proto::{Feature, Point, Rectangle, RouteNote, RouteSummary, route_guide_server},
};
use features::FeatureDb;
use notes::NoteStore;
use route::Route;

/// A stream of responses, boxed so that each handler may build its own kind of stream.
pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The route guide: a read-only feature set and the shared chat notes, kept in a
/// [`NoteStore`] unless the server chooses another [`Notebook`].
#[derive(Debug)]
pub struct RouteGuide<N = NoteStore> {
    features: Arc<FeatureDb>,
    notes: Arc<N>,
}

impl<N> RouteGuide<N> {
    /// A route guide over `features`, keeping chat notes in `notes`.
    pub fn new(features: Arc<FeatureDb>, notes: Arc<N>) -> Self {
        RouteGuide { features, notes }
    }
}

impl Default for RouteGuide {
    /// The built-in features, and an empty in-memory note store with its default bounds.
    fn default() -> Self {
        RouteGuide::new(Arc::new(FeatureDb::embedded()), Arc::default())
    }
}

// ANCHOR: notebook
/// What RouteChat needs of wherever its notes live: store a note, and hand back the notes
/// left at its point before it. The lesson's is the [`NoteStore`], in this process's
/// memory; a server whose replicas must share the notes plugs in another (the production
/// server's keeps them in Redis) without a line of the handler changing.
pub trait Notebook: Send + Sync + 'static {
    /// Stores `note`, left at `location`, and returns the notes left there before it, as
    /// the chat's replies.
    fn leave(
        &self,
        location: Point,
        note: RouteNote,
    ) -> impl Future<
        Output = Result<impl Stream<Item = Result<RouteNote, Status>> + Send + use<Self>, Error>,
    > + Send;
}

impl Notebook for NoteStore {
    async fn leave(
        &self,
        location: Point,
        note: RouteNote,
    ) -> Result<impl Stream<Item = Result<RouteNote, Status>> + Send + use<>, Error> {
        let earlier = NoteStore::leave(self, location, note)?;
        // Each reply is copied out of its `Arc` only when the client can take it.
        Ok(stream::iter(
            earlier.into_iter().map(|note| Ok(RouteNote::clone(&note))),
        ))
    }
}
// ANCHOR_END: notebook

#[tonic::async_trait]
impl<N: Notebook> route_guide_server::RouteGuide for RouteGuide<N> {
    // ANCHOR: get_feature
    /// Unary: the feature at a point, or an unnamed feature at that point if none is there.
    async fn get_feature(&self, request: Request<Point>) -> Result<Response<Feature>, Status> {
        let point = request.into_inner();
        geo::check_point(&point)?;
        Ok(Response::new(self.features.feature_at(point)))
    }
    // ANCHOR_END: get_feature

    // ANCHOR: list_features
    type ListFeaturesStream = ResponseStream<Feature>;

    /// Server streaming: every feature inside the rectangle, sent as it is found.
    async fn list_features(
        &self,
        request: Request<Rectangle>,
    ) -> Result<Response<Self::ListFeaturesStream>, Status> {
        let Rectangle { lo, hi } = request.into_inner();
        let bounds = geo::Bounds::spanning(
            &geo::require_point(lo, "lo")?,
            &geo::require_point(hi, "hi")?,
        );
        let found = Arc::clone(&self.features).within(bounds);
        Ok(Response::new(Box::pin(stream::iter(found.map(Ok)))))
    }
    // ANCHOR_END: list_features

    // ANCHOR: record_route
    /// Client streaming: reads every point of the route, then answers with its summary.
    async fn record_route(
        &self,
        request: Request<Streaming<Point>>,
    ) -> Result<Response<RouteSummary>, Status> {
        let mut points = request.into_inner();
        let mut route = Route::default();
        while let Some(point) = points.message().await? {
            geo::check_point(&point).map_err(|e| e.inside(&format!("route[{}]", route.len())))?;
            let is_feature = self.features.name_at(&point).is_some();
            route.add(point, is_feature, Instant::now());
        }
        Ok(Response::new(route.summary(Instant::now())?))
    }
    // ANCHOR_END: record_route

    // ANCHOR: route_chat
    type RouteChatStream = ResponseStream<RouteNote>;

    /// Bidirectional streaming: for each note received, sends back the earlier notes left at
    /// the same point, then stores the note. Replies flow while the client is still sending.
    async fn route_chat(
        &self,
        request: Request<Streaming<RouteNote>>,
    ) -> Result<Response<Self::RouteChatStream>, Status> {
        let notes = Arc::clone(&self.notes);
        let replies = request
            .into_inner()
            .then(move |received| leave(Arc::clone(&notes), received))
            .flat_map(|earlier| match earlier {
                Ok(earlier) => earlier.left_stream(),
                // An error ends the call: tonic sends it as the final status.
                Err(status) => stream::iter([Err(status)]).right_stream(),
            });
        Ok(Response::new(Box::pin(replies)))
    }
    // ANCHOR_END: route_chat
}

// ANCHOR: leave
/// Stores one note a chat received, and returns the notes left before it at its point.
async fn leave<N: Notebook>(
    notes: Arc<N>,
    received: Result<RouteNote, Status>,
) -> Result<impl Stream<Item = Result<RouteNote, Status>> + Send + 'static, Status> {
    let note = received?;
    let location = geo::require_point(note.location, "location")?;
    Ok(notes.leave(location, note).await?)
}
// ANCHOR_END: leave
