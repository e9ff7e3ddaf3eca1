//! Prometheus metrics: how many calls each method served, with which status, how fast, and
//! what is in progress now. `--metrics-addr ADDR` serves them on `http://ADDR/metrics`.
//!
//! The names are go-grpc-prometheus's (grpc-ecosystem's `go-grpc-middleware/providers/
//! prometheus`), the ones most Grafana dashboards and alerts for gRPC are written against:
//!
//! | metric                              | labels                          | what it counts |
//! |-------------------------------------|---------------------------------|----------------|
//! | `grpc_server_started_total`         | type, service, method           | calls begun |
//! | `grpc_server_handled_total`         | type, service, method, **code** | calls ended, by gRPC status |
//! | `grpc_server_handling_seconds`      | type, service, method           | histogram of call durations |
//! | `grpc_server_msg_received_total`    | type, service, method           | request messages |
//! | `grpc_server_msg_sent_total`        | type, service, method           | response messages |
//! | `grpc_tour_calls_in_progress`       | type, service, method           | calls begun, not ended |
//! | `grpc_tour_web_handled_total`       | type, service, method, **code** | of those ended, the gRPC-Web calls (browsers) |
//! | `grpc_tour_notes`, `grpc_tour_note_bytes` |                           | RouteChat's note store |
//!
//! The labels are `grpc_type` (`unary`, `client_stream`, `server_stream`, `bidi_stream`),
//! `grpc_service`, `grpc_method` and `grpc_code` (Go's names: `OK`, `Canceled`,
//! `InvalidArgument`, ...). A call the client abandons counts as `Canceled`.
//!
//! Every method the server knows, and every code, is registered at start with a zero, as
//! go-grpc-prometheus does: a counter that appears at 1 makes `rate()` miss its first call,
//! and a dashboard can list the methods before any was called. A path the server does not
//! know counts under `grpc_service="unknown"`, so a client sending made-up paths cannot
//! grow the number of series without bound.
//!
//! Recording a call touches only handles made at start (atomic adds and one uncontended
//! lock for the histogram): no label is hashed or formatted per call. docs/observability.md
//! has the cost, measured.

use std::sync::Arc;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};
use tokio::net::TcpListener;
use tonic::Code;

use crate::{
    playground,
    production::notes::Notes,
    protocol::methods::{Method, SERVED, methods},
};

/// Upper bounds of the latency buckets, in seconds: from 100 µs, where a local unary call
/// lands, to the 5 minutes a stream may last under the default `--max-deadline`.
const BUCKETS: [f64; 19] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The gRPC status codes in order, by the names go-grpc-prometheus gives them (Go's).
const CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    grpc_type: &'static str,
    grpc_service: String,
    grpc_method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandledLabels {
    grpc_type: &'static str,
    grpc_service: String,
    grpc_method: String,
    grpc_code: &'static str,
}

/// The handles of one method's series, made once, so that recording a call is only atomic
/// adds.
#[derive(Debug)]
pub struct MethodMetrics {
    started: Counter,
    handled: [Counter; 17],
    /// The gRPC-Web calls among those, by code.
    web_handled: [Counter; 17],
    handling: Histogram,
    received: Counter,
    sent: Counter,
    in_progress: Gauge,
    /// Calls refused past the server's limit (`--max-calls-in-flight`), before their
    /// handler ran; they are among `handled` too, as `Unavailable`.
    refused: Counter,
}

// ANCHOR: record
impl MethodMetrics {
    /// A call has begun.
    pub fn start(&self) {
        self.started.inc();
        self.in_progress.inc();
    }

    /// A call has ended with `code` (`None`: the client left before the server's status,
    /// counted as `Canceled`) after `seconds`; `web`: it came from a browser, over gRPC-Web.
    pub fn end(&self, code: Option<Code>, seconds: f64, web: bool) {
        let code = (code.unwrap_or(Code::Cancelled) as usize).min(16);
        self.handled[code].inc();
        if web {
            self.web_handled[code].inc();
        }
        self.handling.observe(seconds);
        self.in_progress.dec();
    }

    /// `count` request messages have begun to arrive.
    pub fn received(&self, count: u64) {
        self.received.inc_by(count);
    }

    /// The call was refused: the server was at its limit of calls in flight.
    pub fn refused(&self) {
        self.refused.inc();
    }

    /// `count` response messages have been sent.
    pub fn sent(&self, count: u64) {
        self.sent.inc_by(count);
    }
}
// ANCHOR_END: record

/// Every metric of one server, and the registry that writes them out.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// By path, sorted: ten paths are found faster by halving than by hashing.
    methods: Vec<(String, Arc<MethodMetrics>)>,
    unknown: Arc<MethodMetrics>,
    notes: Notes,
    note_count: Gauge,
    note_bytes: Gauge,
}

impl Metrics {
    /// The metrics of a server whose chat notes are `notes`, with a zero for every method
    /// of the tour, health and reflection.
    pub fn new(notes: Notes) -> Self {
        let mut registry = Registry::default();
        let started = Family::<MethodLabels, Counter>::default();
        let handled = Family::<HandledLabels, Counter>::default();
        let web_handled = Family::<HandledLabels, Counter>::default();
        let handling = Family::<MethodLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(BUCKETS)) as fn() -> Histogram,
        );
        let received = Family::<MethodLabels, Counter>::default();
        let sent = Family::<MethodLabels, Counter>::default();
        let in_progress = Family::<MethodLabels, Gauge>::default();
        let refused = Family::<MethodLabels, Counter>::default();
        let (note_count, note_bytes) = (Gauge::default(), Gauge::default());
        registry.register(
            "grpc_server_started",
            "Calls started on the server",
            started.clone(),
        );
        registry.register(
            "grpc_server_handled",
            "Calls completed on the server, whatever their status",
            handled.clone(),
        );
        registry.register(
            "grpc_tour_web_handled",
            "Of the calls completed, those made with gRPC-Web (from a browser)",
            web_handled.clone(),
        );
        registry.register_with_unit(
            "grpc_server_handling",
            "How long calls took, from their headers to their status",
            Unit::Seconds,
            handling.clone(),
        );
        registry.register(
            "grpc_server_msg_received",
            "Request messages received (for a stream, each message)",
            received.clone(),
        );
        registry.register(
            "grpc_server_msg_sent",
            "Response messages sent (for a stream, each message)",
            sent.clone(),
        );
        registry.register(
            "grpc_tour_calls_in_progress",
            "Calls started and not yet ended",
            in_progress.clone(),
        );
        registry.register(
            "grpc_tour_refused",
            "Calls refused with UNAVAILABLE, before their handler ran, because the server \
             was at its limit of calls in flight (--max-calls-in-flight)",
            refused.clone(),
        );
        registry.register(
            "grpc_tour_notes",
            "RouteChat notes kept (for every replica, when they live in Redis)",
            note_count.clone(),
        );
        registry.register_with_unit(
            "grpc_tour_note",
            "Encoded size of the RouteChat notes kept",
            Unit::Bytes,
            note_bytes.clone(),
        );

        let handles = |grpc_type: &'static str, service: &str, method: &str| {
            let labels = MethodLabels {
                grpc_type,
                grpc_service: service.to_owned(),
                grpc_method: method.to_owned(),
            };
            let handled_with = |family: &Family<HandledLabels, Counter>, grpc_code| {
                family
                    .get_or_create(&HandledLabels {
                        grpc_type,
                        grpc_service: service.to_owned(),
                        grpc_method: method.to_owned(),
                        grpc_code,
                    })
                    .clone()
            };
            Arc::new(MethodMetrics {
                started: started.get_or_create(&labels).clone(),
                handled: CODES.map(|code| handled_with(&handled, code)),
                web_handled: CODES.map(|code| handled_with(&web_handled, code)),
                handling: handling.get_or_create(&labels).clone(),
                received: received.get_or_create(&labels).clone(),
                sent: sent.get_or_create(&labels).clone(),
                in_progress: in_progress.get_or_create(&labels).clone(),
                refused: refused.get_or_create(&labels).clone(),
            })
        };
        let served = [&SERVED[..], &[playground::proto::FILE_DESCRIPTOR_SET]].concat();
        let mut methods: Vec<_> = methods(&served)
            .into_iter()
            .map(|method| {
                let handles = handles(grpc_type(&method), &method.service, &method.name);
                (method.path, handles)
            })
            .collect();
        methods.sort_by(|(a, _), (b, _)| a.cmp(b));
        Metrics {
            registry,
            methods,
            unknown: handles("unknown", "unknown", "unknown"),
            notes,
            note_count,
            note_bytes,
        }
    }

    /// The series of the method at `path` (`/tour.Summator/Sum`).
    pub fn method(&self, path: &str) -> &Arc<MethodMetrics> {
        match self
            .methods
            .binary_search_by(|(known, _)| known.as_str().cmp(path))
        {
            Ok(found) => &self.methods[found].1,
            Err(_) => &self.unknown,
        }
    }

    /// Every metric, in the OpenMetrics text format that Prometheus scrapes. The note
    /// store's size is read now; if Redis cannot answer, the last size read is shown.
    pub async fn render(&self) -> String {
        match self.notes.size().await {
            Ok((count, bytes)) => {
                self.note_count
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
                self.note_bytes
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::debug!(%error, "cannot read the note store's size"),
        }
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// go-grpc-prometheus's name for a method's kind.
fn grpc_type(method: &Method) -> &'static str {
    match (method.client_streaming, method.server_streaming) {
        (false, false) => "unary",
        (false, true) => "server_stream",
        (true, false) => "client_stream",
        (true, true) => "bidi_stream",
    }
}

/// Serves `metrics` as `GET /metrics` on `listener`, in plain HTTP/1.1 (what Prometheus
/// scrapes with), for as long as the task runs.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> std::io::Result<()> {
    use axum::{http::header::CONTENT_TYPE, routing::get};

    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = Arc::clone(&metrics);
            async move {
                (
                    [(
                        CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render().await,
                )
            }
        }),
    );
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lesson::route_guide::notes::NoteStore;

    fn metrics() -> Metrics {
        Metrics::new(Notes::Memory(Arc::new(NoteStore::new(10, 1000))))
    }

    #[tokio::test]
    async fn every_known_method_and_code_starts_at_zero() {
        let text = metrics().render().await;
        for line in [
            r#"grpc_server_started_total{grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum"} 0"#,
            r#"grpc_server_handled_total{grpc_type="bidi_stream",grpc_service="tour.RouteGuide",grpc_method="RouteChat",grpc_code="Unauthenticated"} 0"#,
            r#"grpc_server_started_total{grpc_type="server_stream",grpc_service="grpc.health.v1.Health",grpc_method="Watch"} 0"#,
            r#"grpc_server_started_total{grpc_type="bidi_stream",grpc_service="grpc.reflection.v1.ServerReflection",grpc_method="ServerReflectionInfo"} 0"#,
            r#"grpc_server_started_total{grpc_type="server_stream",grpc_service="playground.Relay",grpc_method="Watch"} 0"#,
            "grpc_tour_notes 0",
            "grpc_tour_note_bytes 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
    }

    #[tokio::test]
    async fn a_call_is_counted_by_its_method_and_code() {
        let metrics = metrics();
        let sum = metrics.method("/tour.Summator/Sum");
        sum.start();
        sum.received(1);
        sum.sent(1);
        sum.end(Some(Code::InvalidArgument), 0.0003, false);
        let chat = metrics.method("/tour.RouteGuide/RouteChat");
        chat.start();
        chat.end(None, 1.5, true);
        metrics.method("/made.Up/Path").start();

        let text = metrics.render().await;
        for line in [
            r#"grpc_server_handled_total{grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum",grpc_code="InvalidArgument"} 1"#,
            r#"grpc_server_handled_total{grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum",grpc_code="OK"} 0"#,
            r#"grpc_tour_web_handled_total{grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum",grpc_code="InvalidArgument"} 0"#,
            r#"grpc_tour_web_handled_total{grpc_type="bidi_stream",grpc_service="tour.RouteGuide",grpc_method="RouteChat",grpc_code="Canceled"} 1"#,
            r#"grpc_server_handling_seconds_bucket{le="0.0005",grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum"} 1"#,
            r#"grpc_server_handling_seconds_bucket{le="0.00025",grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum"} 0"#,
            r#"grpc_server_msg_received_total{grpc_type="unary",grpc_service="tour.Summator",grpc_method="Sum"} 1"#,
            r#"grpc_server_handled_total{grpc_type="bidi_stream",grpc_service="tour.RouteGuide",grpc_method="RouteChat",grpc_code="Canceled"} 1"#,
            r#"grpc_tour_calls_in_progress{grpc_type="bidi_stream",grpc_service="tour.RouteGuide",grpc_method="RouteChat"} 0"#,
            r#"grpc_tour_calls_in_progress{grpc_type="unknown",grpc_service="unknown",grpc_method="unknown"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
    }
}
