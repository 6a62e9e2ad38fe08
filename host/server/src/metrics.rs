//! Prometheus metrics in the text exposition format: HTTP requests by route and status with a latency
//! histogram, plus sections contributed by other components (spoolers, plugins).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use tracing::Instrument as _;

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Latency histograms by (method, route template, status).
type ByRoute = BTreeMap<(String, String, u16), Histogram>;

/// Request metrics shared by every request of the process.
#[derive(Debug, Default, Clone)]
pub struct HttpMetrics {
    inner: Arc<Mutex<ByRoute>>,
}

impl HttpMetrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry((method.to_owned(), route.to_owned(), status))
            .or_default()
            .observe(seconds);
    }

    /// Appends the request metrics in the text exposition format.
    pub fn render(&self, out: &mut String) {
        let map = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        out.push_str(
            "# HELP warden_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE warden_http_requests_total counter\n");
        for ((method, route, status), h) in &map {
            let _ = writeln!(
                out,
                "warden_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                h.count
            );
        }
        out.push_str("# HELP warden_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE warden_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(String, String), Histogram> = BTreeMap::new();
        for ((method, route, _), h) in map {
            let agg = by_route.entry((method, route)).or_default();
            for (a, b) in agg.counts.iter_mut().zip(h.counts) {
                *a += b;
            }
            agg.count += h.count;
            agg.sum += h.sum;
        }
        for ((method, route), h) in by_route {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(&route));
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "warden_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "warden_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "warden_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "warden_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
    }
}

/// Escapes a label value.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The label of a request method: the standard methods by name, every other one (anyone can send any
/// token as a method) as `other`, so that requests cannot grow the metrics without bound.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Middleware recording every request under its route template (never the raw path, which could hold ids)
/// and its method's [label](method_label).
pub async fn record(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!("request", %method, %route);
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| tracing::debug!(status, elapsed_ms = elapsed.as_secs_f64() * 1e3, "handled"));
    metrics.observe(method, &route, status, elapsed.as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        for (method, label) in [
            ("GET", "GET"),
            ("PATCH", "PATCH"),
            ("BREW", "other"),
            ("X-1234", "other"),
        ] {
            let method = Method::from_bytes(method.as_bytes()).expect("method");
            assert_eq!(method_label(&method), label);
        }
    }

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let metrics = HttpMetrics::default();
        metrics.observe("GET", "/healthz", 200, 0.000_1);
        metrics.observe("GET", "/healthz", 200, 0.02);
        metrics.observe("GET", "/healthz", 503, 2.0);
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(
            out.contains(
                "warden_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
            ),
            "{out}"
        );
        assert!(out.contains(
            "warden_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"503\"} 1"
        ));
        assert!(out.contains("warden_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.0005\"} 1"));
        assert!(out.contains("warden_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.025\"} 2"));
        assert!(out.contains("warden_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"} 3"));
        assert!(out.contains(
            "warden_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 3"
        ));
    }
}
