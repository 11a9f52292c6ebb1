//! The dashboard's endpoints over real HTTP on 127.0.0.1: the page, the snapshot, the
//! events stream, the Prometheus text, 404s, and what a client leaves behind.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{CallError, get, request, snapshot_of, start};
use http_body_util::BodyExt;
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use resilience_runtime::{CircuitBreaker, bulkhead, circuit_breaker, events, registry, retry};

/// The tests that count listeners take turns: `events::listener_count` is the process's.
static LISTENERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[circuit_breaker(name = "dash-json", failure_rate = 0.5, window = count(10), min_calls = 10)]
async fn json_call(fail: bool) -> Result<u32, CallError> {
    if fail { Err(CallError::Failed) } else { Ok(1) }
}

#[tokio::test]
async fn the_page_is_one_self_contained_document() {
    let addr = start("").await;
    let page = get(addr, "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    let html = page.body;
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..40]);
    // CSS and JS inline; nothing fetched from anywhere else.
    assert!(html.contains("<style>") && html.contains("<script>"));
    for external in ["http://", "https://", "<link", "src=", "@import", "url("] {
        assert!(!html.contains(external), "the page refers to {external}");
    }
    // It polls the snapshot, streams the events, and marks each policy.
    for needle in [
        "\"snapshot.json\"",
        "new EventSource(base + \"events\")",
        "setAttribute(\"data-policy\"",
        "setAttribute(\"data-name\"",
        "setAttribute(\"data-state\"",
    ] {
        assert!(html.contains(needle), "the page lacks {needle}");
    }
}

#[tokio::test]
async fn the_snapshot_lists_each_policy_with_its_counters() {
    let addr = start("").await;
    for fail in [false, false, false, true, true] {
        let _ = json_call(fail).await;
    }
    let entry = snapshot_of(addr, "circuit_breaker", "dash-json")
        .await
        .expect("the breaker is listed after its first call");
    assert_eq!(entry["state"], "closed");
    assert_eq!(
        (
            &entry["calls"],
            &entry["successes"],
            &entry["failures"],
            &entry["rejections"]
        ),
        (&5.into(), &3.into(), &2.into(), &0.into())
    );
    assert_eq!(entry["failure_rate"], 0.4);

    let breaker = registry::circuit_breaker("dash-json").unwrap();
    breaker.force_open();
    assert!(matches!(
        json_call(false).await,
        Err(CallError::Rejected(_))
    ));
    let entry = snapshot_of(addr, "circuit_breaker", "dash-json")
        .await
        .unwrap();
    assert_eq!(entry["state"], "forced_open");
    assert_eq!(
        (&entry["calls"], &entry["rejections"]),
        (&6.into(), &1.into())
    );
    breaker.reset();
    let entry = snapshot_of(addr, "circuit_breaker", "dash-json")
        .await
        .unwrap();
    assert_eq!(entry["state"], "closed");
}

#[tokio::test]
async fn the_router_works_nested_under_a_prefix() {
    let addr = start("/resilience").await;
    CircuitBreaker::builder("dash-nested").register().unwrap();
    // Under `nest_service`, with or without the trailing slash.
    for page in ["/resilience", "/resilience/"] {
        let page = get(addr, page).await;
        assert_eq!(page.status, 200);
        assert!(page.body.starts_with("<!doctype html>"));
    }
    let json = get(addr, "/resilience/snapshot.json").await;
    assert_eq!(json.status, 200);
    assert!(json.body.contains("\"dash-nested\""), "{}", json.body);
    assert_eq!(get(addr, "/resilience/metrics").await.status, 200);
    assert_eq!(get(addr, "/snapshot.json").await.status, 404);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let addr = start("").await;
    for path in [
        "/nope",
        "/snapshot.json/more",
        "/events/x",
        "/metrics.txt",
        "/index.html",
    ] {
        let page = get(addr, path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(
            page.body.contains(path),
            "the 404 names the path: {}",
            page.body
        );
    }
}

/// The `data:` lines' JSON objects that `frame` completes, with what was left over.
fn sse_objects(buffer: &mut String) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    while let Some(end) = buffer.find("\n\n") {
        let message: String = buffer.drain(..end + 2).collect();
        let data: String = message
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim_start)
            .collect();
        if !data.is_empty() {
            out.push(serde_json::from_str(&data).expect("each event is one JSON object"));
        }
    }
    out
}

/// Waits (real time, up to `within`) until `events::listener_count()` is `n`.
async fn listeners_become(n: usize, within: Duration) -> Result<Duration, usize> {
    let started = Instant::now();
    while started.elapsed() < within {
        if events::listener_count() == n {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(events::listener_count())
}

#[tokio::test]
async fn an_event_reaches_an_events_client_within_a_second() {
    let _turn = LISTENERS.lock().await;
    let addr = start("").await;
    let breaker = CircuitBreaker::builder("dash-sse").register().unwrap();
    let before = events::listener_count();

    let response = request(addr, "/events").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    // The client is subscribed by the time the stream's headers arrive.
    assert_eq!(events::listener_count(), before + 1);
    let mut body = response.into_body();

    let forced = Instant::now();
    breaker.force_open();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut buffer = String::new();
    let event = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            let frame = body.frame().await.expect("the stream stays open").unwrap();
            if let Ok(data) = frame.into_data() {
                buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
            let mine = sse_objects(&mut buffer)
                .into_iter()
                .find(|e| e["name"] == "dash-sse");
            if let Some(event) = mine {
                return event;
            }
        }
    })
    .await
    .expect("the event arrives within 1s");
    let took = forced.elapsed();
    println!("event reached the client {took:?} after force_open");

    assert_eq!(event["policy"], "circuit_breaker");
    assert_eq!(event["kind"], "state_changed");
    assert_eq!(
        (&event["from"], &event["to"]),
        (&"closed".into(), &"forced_open".into())
    );
    let message = event["message"].as_str().unwrap();
    assert!(
        message.contains("dash-sse") && message.contains("forced"),
        "{message}"
    );
    let at = event["timestamp"].as_u64().expect("a timestamp in ms");
    assert!(at.abs_diff(wall) < 1_000, "timestamp {at} vs now {wall}");

    // Each later event comes too: the reset.
    breaker.reset();
    let event = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                buffer.push_str(std::str::from_utf8(&data).unwrap());
            }
            if let Some(e) = sse_objects(&mut buffer)
                .into_iter()
                .find(|e| e["name"] == "dash-sse")
            {
                return e;
            }
        }
    })
    .await
    .expect("the reset's event arrives within 1s");
    assert_eq!(
        (&event["from"], &event["to"]),
        (&"forced_open".into(), &"closed".into())
    );
}

#[tokio::test]
async fn a_client_that_disconnects_leaves_no_listener() {
    let _turn = LISTENERS.lock().await;
    let addr = start("").await;
    let before = events::listener_count();
    for _ in 0..3 {
        let response = request(addr, "/events").await;
        assert_eq!(response.status(), 200);
        assert_eq!(events::listener_count(), before + 1);
        // Dropping the response and its connection task closes the socket.
        drop(response);
        let gone = listeners_become(before, Duration::from_secs(10))
            .await
            .unwrap_or_else(|left| panic!("{left} listeners left, {before} before"));
        println!("the listener was dropped {gone:?} after the client went away");
    }
    // An event after the clients left goes nowhere and breaks nothing.
    CircuitBreaker::builder("dash-gone")
        .register()
        .unwrap()
        .force_open();
    assert_eq!(events::listener_count(), before);
}

/// The exposition, parsed by an independent parser (a grammar, not this crate's code).
async fn scrape(
    addr: std::net::SocketAddr,
) -> (String, MetricsExposition<PrometheusType, PrometheusValue>) {
    let page = get(addr, "/metrics").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let parsed = parse_prometheus(&page.body)
        .unwrap_or_else(|e| panic!("unparsable exposition ({e:?}):\n{}", page.body));
    (page.body, parsed)
}

/// The value of `metric` with exactly `labels`, and the family's type.
fn sample(
    exposition: &MetricsExposition<PrometheusType, PrometheusValue>,
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<(PrometheusType, f64)> {
    let family = exposition.families.get(metric)?;
    let want: HashMap<&str, &str> = labels.iter().copied().collect();
    family.iter_samples().find_map(|s| {
        let set = s.get_labelset().ok()?;
        let have: HashMap<&str, &str> = set.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        (have == want).then(|| {
            let value = match &s.value {
                PrometheusValue::Counter(c) => c.value.as_f64(),
                PrometheusValue::Gauge(g) => g.as_f64(),
                PrometheusValue::Unknown(u) => u.as_f64(),
                other => panic!("unexpected {other:?}"),
            };
            (family.family_type.clone(), value)
        })
    })
}

#[circuit_breaker(name = "dash-prom", failure_rate = 0.5, window = count(4), min_calls = 4)]
async fn prom_call(fail: bool) -> Result<u32, CallError> {
    if fail { Err(CallError::Failed) } else { Ok(1) }
}

#[retry(max_attempts = 3, backoff = none, name = "dash-prom-retry")]
async fn prom_retry(tries: &std::sync::atomic::AtomicU32) -> Result<u32, CallError> {
    match tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
        0 | 1 => Err(CallError::Failed),
        n => Ok(n),
    }
}

#[bulkhead(max_concurrent = 3, name = "dash-prom-bulkhead")]
async fn prom_bulkhead(hold: tokio::sync::oneshot::Receiver<()>) -> Result<(), CallError> {
    let _ = hold.await;
    Ok(())
}

#[tokio::test]
async fn the_metrics_are_prometheus_text_with_the_contract_names_labels_and_values() {
    let addr = start("").await;
    for fail in [false, false, false, true] {
        let _ = prom_call(fail).await;
    }
    let tries = std::sync::atomic::AtomicU32::new(0);
    assert_eq!(prom_retry(&tries).await.unwrap(), 2);
    let (release, hold) = tokio::sync::oneshot::channel();
    let running = tokio::spawn(prom_bulkhead(hold));
    while registry::bulkhead("dash-prom-bulkhead").is_none_or(|b| b.metrics().in_flight == 0) {
        tokio::task::yield_now().await;
    }

    let (_, m) = scrape(addr).await;
    use PrometheusType::{Counter, Gauge};
    let calls = "resilience_calls_total";
    let breaker = [("policy", "circuit_breaker"), ("name", "dash-prom")];
    let with = |outcome| {
        let mut labels = breaker.to_vec();
        labels.push(("outcome", outcome));
        labels
    };
    assert_eq!(sample(&m, calls, &with("success")), Some((Counter, 3.0)));
    assert_eq!(sample(&m, calls, &with("failure")), Some((Counter, 1.0)));
    assert_eq!(sample(&m, calls, &with("rejected")), Some((Counter, 0.0)));
    assert_eq!(sample(&m, calls, &with("ignored")), Some((Counter, 0.0)));
    assert_eq!(
        sample(&m, calls, &with("timeout")),
        None,
        "only timeouts count timeouts"
    );
    let state = |s| {
        sample(
            &m,
            "resilience_circuit_state",
            &[("name", "dash-prom"), ("state", s)],
        )
    };
    assert_eq!(state("closed"), Some((Gauge, 1.0)));
    for other in ["open", "half_open", "forced_open", "disabled"] {
        assert_eq!(state(other), Some((Gauge, 0.0)), "{other}");
    }
    assert_eq!(
        sample(
            &m,
            "resilience_circuit_failure_rate",
            &[("name", "dash-prom")]
        ),
        Some((Gauge, 0.25))
    );
    let retry = [("name", "dash-prom-retry")];
    assert_eq!(
        sample(
            &m,
            calls,
            &[
                ("policy", "retry"),
                ("name", "dash-prom-retry"),
                ("outcome", "success")
            ]
        ),
        Some((Counter, 1.0))
    );
    assert_eq!(
        sample(&m, "resilience_retries_total", &retry),
        Some((Counter, 2.0))
    );
    assert_eq!(
        sample(&m, "resilience_retries_exhausted_total", &retry),
        Some((Counter, 0.0))
    );
    let bulkhead = [("name", "dash-prom-bulkhead")];
    assert_eq!(
        sample(&m, "resilience_bulkhead_in_flight", &bulkhead),
        Some((Gauge, 1.0))
    );
    assert_eq!(
        sample(&m, "resilience_bulkhead_limit", &bulkhead),
        Some((Gauge, 3.0))
    );
    assert_eq!(
        sample(&m, "resilience_bulkhead_waiting", &bulkhead),
        Some((Gauge, 0.0))
    );

    // An opening shows as a state, a transition and a rejection.
    let _ = prom_call(true).await;
    assert!(matches!(
        prom_call(false).await,
        Err(CallError::Rejected(_))
    ));
    release.send(()).unwrap();
    running.await.unwrap().unwrap();
    let (_, m) = scrape(addr).await;
    let state = |s| {
        sample(
            &m,
            "resilience_circuit_state",
            &[("name", "dash-prom"), ("state", s)],
        )
    };
    assert_eq!(
        (state("open"), state("closed")),
        (Some((Gauge, 1.0)), Some((Gauge, 0.0)))
    );
    assert_eq!(
        sample(
            &m,
            "resilience_circuit_transitions_total",
            &[("name", "dash-prom"), ("from", "closed"), ("to", "open")]
        ),
        Some((Counter, 1.0))
    );
    assert_eq!(sample(&m, calls, &with("rejected")), Some((Counter, 1.0)));
    assert_eq!(
        sample(&m, "resilience_bulkhead_in_flight", &bulkhead),
        Some((Gauge, 0.0))
    );
    let help = &m.families["resilience_calls_total"].help;
    assert!(help.starts_with("Calls by how they ended"), "{help}");
}

#[tokio::test]
async fn a_hostile_policy_name_is_escaped_and_never_breaks_the_exposition() {
    let addr = start("").await;
    let hostile = "evil\"} name\\ with\nresilience_fake_total 1\n# TYPE x counter";
    let breaker = CircuitBreaker::builder(hostile).register().unwrap();
    breaker.force_open();

    let (text, m) = scrape(addr).await;
    // Every line is a comment or a sample of ours: the newline did not start a line.
    for line in text.lines() {
        assert!(
            line.starts_with("# HELP resilience_")
                || line.starts_with("# TYPE resilience_")
                || line.starts_with("resilience_"),
            "a stray line: {line:?}"
        );
        assert!(!line.starts_with("resilience_fake"), "{line:?}");
    }
    assert!(!m.families.contains_key("resilience_fake_total"));
    // The parser reads the name back exactly.
    assert_eq!(
        sample(
            &m,
            "resilience_circuit_state",
            &[("name", hostile), ("state", "forced_open")]
        ),
        Some((PrometheusType::Gauge, 1.0))
    );
    assert_eq!(
        sample(
            &m,
            "resilience_calls_total",
            &[
                ("policy", "circuit_breaker"),
                ("name", hostile),
                ("outcome", "success")
            ]
        ),
        Some((PrometheusType::Counter, 0.0))
    );
    // The snapshot and the page's data carry it as plain JSON text.
    let entry = snapshot_of(addr, "circuit_breaker", hostile).await.unwrap();
    assert_eq!(entry["state"], "forced_open");
    breaker.reset();
}

#[tokio::test]
async fn serve_runs_the_dashboard_alone_and_reports_a_bad_address() {
    // An address taken is the error, at once.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = resilience_dashboard::serve(taken.local_addr().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);

    // A free one serves the router.
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let server = tokio::spawn(resilience_dashboard::serve(addr));
    let started = Instant::now();
    let page = loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break get(addr, "/snapshot.json").await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "serve never listened"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(
        (page.status, page.content_type.as_str()),
        (200, "application/json")
    );
    assert!(page.body.starts_with("{\"policies\":["), "{}", page.body);
    server.abort();
}
