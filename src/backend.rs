//! A scripted HTTP backend on loopback, for examples and tests.
//!
//! [`Backend::start`] binds `127.0.0.1:0`, serves HTTP/1.1 with hyper on the current tokio
//! runtime, and answers every request according to a [`Script`]: a list of [`Phase`]s,
//! each with a failure probability (failures are `503 Service Unavailable`), an added
//! latency, and optionally "down" (the connection is closed without a response). The
//! backend moves to the next phase after a number of requests or a length of time, or
//! when told to with [`Backend::set_phase`].
//!
//! Everything is reproducible: the fate of the `n`-th request (counted from 1, over the
//! backend's whole life) depends only on the script's seed, `n` and the phase it lands
//! in; latency is a [`tokio::time::sleep`], so `tokio::time::pause()` makes it instant
//! in tests.
//!
//! ```
//! use std::time::Duration;
//! use resilience_tests::{Backend, Phase, Script, get};
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let backend = Backend::start(
//!     Script::new(42)
//!         .phase(Phase::healthy().for_requests(3))
//!         .phase(Phase::flaky(0.6).for_requests(10))
//!         .phase(Phase::slow(Duration::from_secs(3)).for_requests(2))
//!         .phase(Phase::down().for_requests(4))
//!         .phase(Phase::healthy().named("recovered")),
//! )
//! .await?;
//! let (status, body) = get(&backend.url("/quote/ABC")).await.unwrap();
//! assert_eq!((status, body.as_str()), (200, "ok"));
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// One stretch of the backend's behaviour.
///
/// A phase answers each request after [`latency`](Phase::latency), with a `503` with
/// probability [`failure_rate`](Phase::failure_rate) and a `200` otherwise, or, when
/// [`down`](Phase::down), by closing the connection without any response. It lasts
/// [`for_requests`](Phase::for_requests) requests and/or
/// [`for_duration`](Phase::for_duration) (whichever ends first); a phase with neither
/// lasts until [`Backend::set_phase`] moves on.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    name: Cow<'static, str>,
    failure_rate: f64,
    latency: Duration,
    down: bool,
    requests: Option<u64>,
    duration: Option<Duration>,
}

impl Phase {
    /// Every request succeeds at once. Named `"healthy"`.
    pub fn healthy() -> Phase {
        Phase {
            name: Cow::Borrowed("healthy"),
            failure_rate: 0.0,
            latency: Duration::ZERO,
            down: false,
            requests: None,
            duration: None,
        }
    }

    /// Each request fails with `503` with probability `failure_rate` (clamped to
    /// `0.0..=1.0`; NaN is taken as 0). Named `"flaky"`.
    pub fn flaky(failure_rate: f64) -> Phase {
        Phase::healthy().named("flaky").failure_rate(failure_rate)
    }

    /// Each request succeeds after `latency`. Named `"slow"`.
    pub fn slow(latency: Duration) -> Phase {
        Phase::healthy().named("slow").latency(latency)
    }

    /// Each request's connection is closed without a response: the client sees an I/O
    /// error, as when a server crashes mid-request. Named `"down"`.
    pub fn down() -> Phase {
        Phase {
            down: true,
            ..Phase::healthy().named("down")
        }
    }

    /// Renames the phase (names are only for display).
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Phase {
        self.name = name.into();
        self
    }

    /// Sets the probability of a `503` (clamped to `0.0..=1.0`; NaN is taken as 0).
    pub fn failure_rate(mut self, failure_rate: f64) -> Phase {
        self.failure_rate = if failure_rate.is_nan() {
            0.0
        } else {
            failure_rate.clamp(0.0, 1.0)
        };
        self
    }

    /// Sets the time every answer (success, `503` or dropped connection) waits first.
    pub fn latency(mut self, latency: Duration) -> Phase {
        self.latency = latency;
        self
    }

    /// Ends the phase after `requests` requests (0 is taken as 1).
    pub fn for_requests(mut self, requests: u64) -> Phase {
        self.requests = Some(requests.max(1));
        self
    }

    /// Ends the phase once `duration` has passed since it began (by `tokio::time`). The
    /// next phase then begins at that very instant, requests or not, so a list of timed
    /// phases is a schedule: `healthy 1s, flaky 2s` is flaky from 1s to 3s.
    pub fn for_duration(mut self, duration: Duration) -> Phase {
        self.duration = Some(duration);
        self
    }

    /// The phase's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the phase closes connections without answering.
    pub fn is_down(&self) -> bool {
        self.down
    }
}

/// `name (what it does)`, e.g. `flaky (60% of requests answer 503)`.
impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", self.name)?;
        if self.down {
            f.write_str("connections closed without a response")?;
        } else if self.failure_rate == 0.0 {
            f.write_str("every request answers 200")?;
        } else {
            write!(
                f,
                "{}% of requests answer 503",
                (self.failure_rate * 100.0).round()
            )?;
        }
        if !self.latency.is_zero() {
            write!(f, ", after {:?}", self.latency)?;
        }
        f.write_str(")")
    }
}

/// Builds the body of a successful response from the request's path and number.
type BodyFn = dyn Fn(&str, u64) -> String + Send + Sync;

/// The backend's whole behaviour: a seed and a list of phases, played in order.
///
/// The last phase lasts for ever (its own limits are ignored). With no phase at all the
/// backend is [`Phase::healthy`] throughout.
#[derive(Clone)]
pub struct Script {
    seed: u64,
    phases: Vec<Phase>,
    body: Arc<BodyFn>,
}

impl Script {
    /// An empty script whose random choices come from `seed`. The body of a successful
    /// response is `"ok"` unless [`body`](Script::body) says otherwise.
    pub fn new(seed: u64) -> Script {
        Script {
            seed,
            phases: Vec::new(),
            body: Arc::new(|_, _| String::from("ok")),
        }
    }

    /// Appends a phase.
    pub fn phase(mut self, phase: Phase) -> Script {
        self.phases.push(phase);
        self
    }

    /// Sets the body of successful responses: `f(path, request_number)`, where the
    /// request number counts from 1 over the backend's life.
    pub fn body(mut self, f: impl Fn(&str, u64) -> String + Send + Sync + 'static) -> Script {
        self.body = Arc::new(f);
        self
    }

    /// The phases, in order.
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("seed", &self.seed)
            .field("phases", &self.phases)
            .finish_non_exhaustive()
    }
}

/// How the backend answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `200 OK` with this body.
    Ok(String),
    /// `503 Service Unavailable`.
    Unavailable,
    /// The connection is closed without a response.
    Dropped,
}

/// The decision for one request: what to answer and after how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The request's number, from 1 over the backend's life.
    pub request: u64,
    /// The index of the phase that answered it.
    pub phase: usize,
    /// The time waited before answering.
    pub delay: Duration,
    /// The answer.
    pub outcome: Outcome,
}

/// Counts of what the backend has answered so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests received.
    pub requests: u64,
    /// Answered `200`.
    pub ok: u64,
    /// Answered `503`.
    pub unavailable: u64,
    /// Closed without a response.
    pub dropped: u64,
}

/// The moving part of a script: where it is and what it has done.
#[derive(Debug)]
struct Progress {
    phase: usize,
    in_phase: u64,
    phase_started: Instant,
    stats: Stats,
}

/// A [`Script`] being played: decides each request's [`Reply`]. [`Backend`] uses one;
/// tests can drive one directly, without a socket.
#[derive(Debug)]
pub struct Player {
    script: Script,
    progress: Mutex<Progress>,
}

impl Player {
    /// Starts playing `script` from its first phase, now.
    pub fn new(script: Script) -> Player {
        let script = if script.phases.is_empty() {
            script.phase(Phase::healthy())
        } else {
            script
        };
        Player {
            script,
            progress: Mutex::new(Progress {
                phase: 0,
                in_phase: 0,
                phase_started: Instant::now(),
                stats: Stats::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        // A panic while holding this lock leaves consistent counters behind.
        self.progress
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Leaves every phase whose limit has been reached. A phase ended by its duration
    /// hands over at the exact instant it ended, so a timed schedule keeps to the clock
    /// even when no request comes for a while.
    fn advance(&self, p: &mut Progress) {
        let last = self.script.phases.len() - 1;
        let now = Instant::now();
        while p.phase < last {
            let phase = &self.script.phases[p.phase];
            // A duration too long for the clock never ends.
            let end = phase.duration.and_then(|d| p.phase_started.checked_add(d));
            let start = if let Some(end) = end.filter(|end| now >= *end) {
                end
            } else if phase.requests.is_some_and(|n| p.in_phase >= n) {
                now
            } else {
                break;
            };
            p.phase += 1;
            p.in_phase = 0;
            p.phase_started = start;
        }
    }

    /// Decides the answer to the next request, for `path`, and counts it.
    pub fn next(&self, path: &str) -> Reply {
        let mut p = self.lock();
        self.advance(&mut p);
        p.in_phase += 1;
        p.stats.requests += 1;
        let request = p.stats.requests;
        let phase = &self.script.phases[p.phase];
        let outcome = if phase.down {
            p.stats.dropped += 1;
            Outcome::Dropped
        } else if phase.failure_rate > 0.0 && self.draw(request) < phase.failure_rate {
            p.stats.unavailable += 1;
            Outcome::Unavailable
        } else {
            p.stats.ok += 1;
            Outcome::Ok((self.script.body)(path, request))
        };
        Reply {
            request,
            phase: p.phase,
            delay: phase.latency,
            outcome,
        }
    }

    /// A number in `[0, 1)` that depends only on the seed and the request number.
    fn draw(&self, request: u64) -> f64 {
        fastrand::Rng::with_seed(self.script.seed ^ request.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .f64()
    }

    /// Moves to phase `index` (counted from 0) now, with its request count and clock
    /// starting afresh. Returns `false`, changing nothing, if there is no such phase.
    pub fn set_phase(&self, index: usize) -> bool {
        if index >= self.script.phases.len() {
            return false;
        }
        let mut p = self.lock();
        p.phase = index;
        p.in_phase = 0;
        p.phase_started = Instant::now();
        true
    }

    /// The index of the current phase: the one that answers a request made now (a phase
    /// whose request count or duration is used up has already handed over).
    pub fn phase_index(&self) -> usize {
        let mut p = self.lock();
        self.advance(&mut p);
        p.phase
    }

    /// The current phase (see [`phase_index`](Player::phase_index)).
    pub fn phase(&self) -> &Phase {
        &self.script.phases[self.phase_index()]
    }

    /// The script being played.
    pub fn script(&self) -> &Script {
        &self.script
    }

    /// What has been answered so far.
    pub fn stats(&self) -> Stats {
        self.lock().stats
    }
}

/// A running HTTP/1.1 server on `127.0.0.1`, answering as its [`Script`] says.
///
/// It serves on the tokio runtime it was started on and stops when dropped (open
/// connections are closed too).
#[derive(Debug)]
pub struct Backend {
    addr: SocketAddr,
    player: Arc<Player>,
    server: tokio::task::JoinHandle<()>,
}

impl Backend {
    /// Binds `127.0.0.1:0` and starts serving `script`.
    ///
    /// # Errors
    /// When the listening socket cannot be bound.
    pub async fn start(script: Script) -> io::Result<Backend> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let player = Arc::new(Player::new(script));
        let server = tokio::spawn(serve(listener, Arc::clone(&player)));
        Ok(Backend {
            addr,
            player,
            server,
        })
    }

    /// The address the backend listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path` (which should start with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The script's player: its phase, its counters.
    pub fn player(&self) -> &Player {
        &self.player
    }

    /// Moves to phase `index` (counted from 0); see [`Player::set_phase`].
    pub fn set_phase(&self, index: usize) -> bool {
        self.player.set_phase(index)
    }

    /// The current phase; see [`Player::phase`].
    pub fn phase(&self) -> &Phase {
        self.player.phase()
    }

    /// What has been answered so far.
    pub fn stats(&self) -> Stats {
        self.player.stats()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every connection.
        self.server.abort();
    }
}

/// The accept loop: one task per connection, all owned by a `JoinSet`.
async fn serve(listener: TcpListener, player: Arc<Player>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                // An accept error (e.g. out of file descriptors) is transient: try again.
                let Ok((stream, _)) = accepted else { continue };
                let player = Arc::clone(&player);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let player = Arc::clone(&player);
                        async move { answer(&player, req).await }
                    });
                    // Errors here are the client going away, or a "down" phase's
                    // deliberate abort: nothing to report.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The error a "down" phase's service returns: hyper then closes the connection without
/// writing a response.
#[derive(Debug)]
struct Down;

impl fmt::Display for Down {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("backend is down")
    }
}

impl std::error::Error for Down {}

async fn answer(player: &Player, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Down> {
    let reply = player.next(req.uri().path());
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let (status, body) = match reply.outcome {
        Outcome::Ok(body) => (StatusCode::OK, body),
        Outcome::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            String::from("service unavailable"),
        ),
        Outcome::Dropped => return Err(Down),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}
