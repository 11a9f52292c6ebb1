//! Tests of the scripted backend and the tiny client used by the examples.

use std::time::Duration;

use resilience_tests::{Backend, HttpError, Outcome, Phase, Player, Script, get};
use tokio::time::Instant;

fn outcomes(player: &Player, n: usize) -> Vec<Outcome> {
    (0..n).map(|_| player.next("/x").outcome).collect()
}

#[tokio::test]
async fn phases_switch_by_request_count_and_last_phase_lasts() {
    let player = Player::new(
        Script::new(1)
            .phase(Phase::healthy().for_requests(2))
            .phase(Phase::down().for_requests(3))
            .phase(Phase::healthy().named("recovered").for_requests(1)),
    );
    let replies: Vec<_> = (0..8).map(|_| player.next("/x")).collect();
    let phases: Vec<usize> = replies.iter().map(|r| r.phase).collect();
    assert_eq!(
        phases,
        [0, 0, 1, 1, 1, 2, 2, 2],
        "the last phase's limit is ignored"
    );
    let numbers: Vec<u64> = replies.iter().map(|r| r.request).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(replies[2].outcome, Outcome::Dropped);
    assert_eq!(replies[5].outcome, Outcome::Ok("ok".into()));
    assert_eq!(player.phase().name(), "recovered");
    let stats = player.stats();
    assert_eq!(
        (stats.requests, stats.ok, stats.dropped, stats.unavailable),
        (8, 5, 3, 0)
    );
}

#[tokio::test]
async fn failure_rate_is_reproducible_from_the_seed_and_close_to_target() {
    let script = |seed| Script::new(seed).phase(Phase::flaky(0.6));
    let a = outcomes(&Player::new(script(7)), 2000);
    let b = outcomes(&Player::new(script(7)), 2000);
    let c = outcomes(&Player::new(script(8)), 2000);
    assert_eq!(a, b, "same seed, same fates");
    assert_ne!(a, c, "another seed, other fates");
    let failed = a.iter().filter(|o| **o == Outcome::Unavailable).count();
    assert!(
        (1100..=1300).contains(&failed),
        "{failed} of 2000 failed, expected ~60%"
    );
}

#[tokio::test]
async fn failure_rate_extremes_and_clamping() {
    let never = Player::new(Script::new(3).phase(Phase::flaky(0.0)));
    assert!(
        outcomes(&never, 200)
            .iter()
            .all(|o| matches!(o, Outcome::Ok(_)))
    );
    let always = Player::new(Script::new(3).phase(Phase::flaky(7.0)));
    assert!(
        outcomes(&always, 200)
            .iter()
            .all(|o| *o == Outcome::Unavailable)
    );
    let nan = Player::new(Script::new(3).phase(Phase::flaky(f64::NAN)));
    assert!(
        outcomes(&nan, 200)
            .iter()
            .all(|o| matches!(o, Outcome::Ok(_)))
    );
}

#[tokio::test]
async fn set_phase_moves_explicitly_and_rejects_unknown_index() {
    let player = Player::new(
        Script::new(1)
            .phase(Phase::healthy())
            .phase(Phase::slow(Duration::from_secs(3))),
    );
    assert_eq!(player.next("/").delay, Duration::ZERO);
    assert!(player.set_phase(1));
    let reply = player.next("/");
    assert_eq!((reply.phase, reply.delay), (1, Duration::from_secs(3)));
    assert!(!player.set_phase(2));
    assert_eq!(player.phase_index(), 1, "a bad index changes nothing");
    assert!(player.set_phase(0));
    assert_eq!(player.next("/").phase, 0);
}

#[tokio::test(start_paused = true)]
async fn phases_switch_by_duration_on_the_tokio_clock() {
    let player = Player::new(
        Script::new(1)
            .phase(Phase::healthy().for_duration(Duration::from_secs(10)))
            .phase(Phase::down()),
    );
    assert_eq!(player.next("/").phase, 0);
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert_eq!(player.next("/").phase, 0);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(player.next("/").phase, 1, "the switch is at exactly 10s");
}

#[tokio::test]
async fn empty_script_is_healthy_and_body_fn_sees_path_and_number() {
    let player = Player::new(Script::new(1).body(|path, n| format!("{path}#{n}")));
    assert_eq!(player.next("/a").outcome, Outcome::Ok("/a#1".into()));
    assert_eq!(player.next("/b").outcome, Outcome::Ok("/b#2".into()));
}

#[tokio::test]
async fn real_request_over_loopback() {
    let backend = Backend::start(Script::new(1).body(|path, n| format!("{path} {n}")))
        .await
        .unwrap();
    assert!(backend.addr().ip().is_loopback());
    assert_eq!(
        get(&backend.url("/quote/A?x=1")).await.unwrap(),
        (200, "/quote/A 1".into())
    );
    assert_eq!(
        get(&backend.url("/quote/B")).await.unwrap(),
        (200, "/quote/B 2".into())
    );
    assert_eq!(backend.stats().ok, 2);
}

#[tokio::test]
async fn http_statuses_follow_the_seeded_script() {
    let script = Script::new(11).phase(Phase::flaky(0.5));
    let expected: Vec<u16> = outcomes(&Player::new(script.clone()), 20)
        .into_iter()
        .map(|o| if o == Outcome::Unavailable { 503 } else { 200 })
        .collect();
    assert!(expected.contains(&503) && expected.contains(&200));
    let backend = Backend::start(script).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        got.push(get(&backend.url("/")).await.unwrap().0);
    }
    assert_eq!(got, expected);
}

#[tokio::test]
async fn down_phase_closes_the_connection_without_a_response() {
    let backend = Backend::start(
        Script::new(1)
            .phase(Phase::down().for_requests(1))
            .phase(Phase::healthy()),
    )
    .await
    .unwrap();
    let err = get(&backend.url("/")).await.unwrap_err();
    assert!(matches!(err, HttpError::Http(_)), "{err:?}");
    assert_eq!(
        get(&backend.url("/")).await.unwrap().0,
        200,
        "then it recovers"
    );
    assert_eq!(backend.stats().dropped, 1);
}

#[tokio::test(start_paused = true)]
async fn latency_is_tokio_time_so_paused_time_makes_it_instant() {
    let backend = Backend::start(Script::new(1).phase(Phase::slow(Duration::from_secs(3))))
        .await
        .unwrap();
    let wall = std::time::Instant::now();
    let start = Instant::now();
    assert_eq!(get(&backend.url("/")).await.unwrap().0, 200);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert!(wall.elapsed() < Duration::from_secs(2), "no real 3s sleep");
}

#[tokio::test]
async fn dropping_the_get_future_closes_the_connection() {
    use tokio::io::AsyncReadExt;
    // A raw server that reads the request, never answers, then watches for EOF.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    let (got_request, request_read) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.ends_with(b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "EOF before the whole request");
            seen.extend_from_slice(&buf[..n]);
        }
        got_request.send(()).unwrap();
        // The next read sees the client's close: EOF (or a reset), not data.
        let after = socket.read(&mut buf).await;
        assert!(matches!(after, Ok(0) | Err(_)), "{after:?}");
        String::from_utf8(seen).unwrap()
    });
    tokio::select! {
        _ = get(&url) => panic!("the server never answers"),
        _ = request_read => {} // drops the `get` future
    }
    let request = server.await.unwrap();
    assert!(request.starts_with("GET /slow HTTP/1.1\r\n"), "{request}");
    assert!(
        request.to_ascii_lowercase().contains("host: 127.0.0.1:"),
        "{request}"
    );
}

#[tokio::test]
async fn dropping_the_backend_stops_the_server() {
    let backend = Backend::start(Script::new(1)).await.unwrap();
    let addr = backend.addr();
    drop(backend);
    let mut refused = false;
    for _ in 0..1000 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the listener was closed");
}

#[tokio::test]
async fn bad_urls_are_errors_not_panics() {
    for url in ["not a url", "https://127.0.0.1/", "/relative"] {
        let err = get(url).await.unwrap_err();
        assert!(
            matches!(err, HttpError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
    }
}

#[test]
fn phases_describe_themselves() {
    assert_eq!(
        Phase::healthy().to_string(),
        "healthy (every request answers 200)"
    );
    assert_eq!(
        Phase::flaky(0.6).to_string(),
        "flaky (60% of requests answer 503)"
    );
    assert_eq!(
        Phase::slow(Duration::from_secs(3)).to_string(),
        "slow (every request answers 200, after 3s)"
    );
    assert_eq!(
        Phase::down().to_string(),
        "down (connections closed without a response)"
    );
    assert_eq!(
        Phase::down()
            .latency(Duration::from_millis(20))
            .named("dying")
            .to_string(),
        "dying (connections closed without a response, after 20ms)"
    );
}

#[tokio::test(start_paused = true)]
async fn timed_phases_keep_to_the_clock_without_requests() {
    let player = Player::new(
        Script::new(1)
            .phase(Phase::healthy().for_duration(Duration::from_secs(1)))
            .phase(Phase::flaky(1.0).for_duration(Duration::from_secs(2)))
            .phase(Phase::down().for_duration(Duration::from_secs(1)))
            .phase(Phase::healthy().named("recovered")),
    );
    tokio::time::advance(Duration::from_millis(2_500)).await;
    assert_eq!(
        player.phase_index(),
        1,
        "flaky from 1s to 3s, with no request at all"
    );
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(
        player.next("/").outcome,
        Outcome::Dropped,
        "down from 3s to 4s"
    );
    tokio::time::advance(Duration::from_millis(999)).await;
    assert_eq!(player.phase().name(), "down");
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(player.phase().name(), "recovered");
}

#[tokio::test]
async fn a_used_up_request_count_hands_over_at_once() {
    let player = Player::new(
        Script::new(1)
            .phase(Phase::healthy().for_requests(1))
            .phase(Phase::down()),
    );
    assert_eq!(player.phase_index(), 0);
    player.next("/");
    assert_eq!(
        player.phase_index(),
        1,
        "the next request is answered by phase 1"
    );
}

#[tokio::test]
async fn an_endless_duration_does_not_panic() {
    let player = Player::new(
        Script::new(1)
            .phase(Phase::healthy().for_duration(Duration::MAX))
            .phase(Phase::down()),
    );
    assert_eq!(player.next("/").phase, 0);
}
