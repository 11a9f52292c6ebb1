//! `GET /metrics`: the metric set in the Prometheus text format, rendered per request
//! from the series the runtime derives from its snapshot.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use resilience_runtime::series::{self, METRICS, Series, SeriesKind};

/// The metrics now, as Prometheus scrapes them.
pub(crate) async fn metrics() -> Response {
    match render(series::all()) {
        Ok(text) => (
            [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        // The encoder fails only if writing to a String does, which it does not; say so
        // rather than serve half an exposition.
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be encoded\n",
        )
            .into_response(),
    }
}

/// `series` in the Prometheus text format (version 0.0.4), through prometheus-client's
/// encoder: one family per metric of [`METRICS`], in its order, each with its series.
pub(crate) fn render(series: Vec<Series>) -> Result<String, std::fmt::Error> {
    // A registry for this rendering alone: nothing global is installed or kept.
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SeriesCollector(series)));
    let mut text = String::new();
    prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

/// The series of one reading, encoded when the registry is.
#[derive(Debug)]
struct SeriesCollector(Vec<Series>);

impl Collector for SeriesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, kind, help) in METRICS {
            let family: Vec<&Series> = self.0.iter().filter(|s| s.name == name).collect();
            if family.is_empty() {
                continue;
            }
            // The encoder adds `_total` to counters itself.
            let base = match kind {
                SeriesKind::Counter => name.strip_suffix("_total").unwrap_or(name),
                _ => name,
            };
            let metric_type = match kind {
                SeriesKind::Counter => ConstCounter::new(0u64).metric_type(),
                _ => ConstGauge::new(0.0f64).metric_type(),
            };
            let mut metric = encoder.encode_descriptor(base, help, None, metric_type)?;
            for s in family {
                let labels: Vec<(&str, &str)> =
                    s.labels.iter().map(|(k, v)| (*k, v.as_ref())).collect();
                let sample = metric.encode_family(&labels)?;
                match kind {
                    // Counters are whole counts (an f64 only on the way here).
                    SeriesKind::Counter => ConstCounter::new(s.value as u64).encode(sample)?,
                    _ => ConstGauge::new(s.value).encode(sample)?,
                }
            }
        }
        Ok(())
    }
}
