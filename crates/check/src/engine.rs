//! The scheduler: every checker of every real server runs as its own tokio task.
//!
//! keepalived semantics:
//! - a checker starts up, or down with `alpha`;
//! - when a run fails while the checker is up, it is retried `retry` times, each after
//!   `delay_before_retry`; it goes down only after `retry + 1` consecutive failures;
//! - a down checker goes up on its first success; runs are `delay_loop` apart (measured
//!   from the end of a run);
//! - a real server is up when all of its checkers are up (one without checkers is up).
//!
//! First runs: with `warmup` set, after a random delay in `0..warmup` (0: at once), as
//! keepalived; with no warmup, the first runs are spread evenly over each checker's
//! delay_loop by the checker's position among all checkers (keepalived's default is a random
//! warmup up to delay_loop; the spread is as gentle, and reproducible).
//!
//! Every run is also cut off by the engine at [`Check::max_duration`] plus [`GRACE`], so a
//! stuck check counts as a failure and never holds up anything else.

use crate::{Check, Outcome, Target};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep, Instant};

/// Extra time the engine gives a run beyond its own bound before cancelling it.
pub const GRACE: Duration = Duration::from_secs(1);

/// When a checker runs, and how failures count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Time between runs.
    pub delay_loop: Duration,
    /// Extra runs after a failure before the checker goes down.
    pub retry: u32,
    /// Time before each of those extra runs.
    pub delay_before_retry: Duration,
    /// Random delay bound for the first run (None: spread over delay_loop).
    pub warmup: Option<Duration>,
    /// Start down.
    pub alpha: bool,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            delay_loop: crate::DEFAULT_DELAY_LOOP,
            retry: 1,
            delay_before_retry: Duration::from_secs(1),
            warmup: None,
            alpha: false,
        }
    }
}

/// One checker of a real server, ready to run.
#[derive(Clone)]
pub struct CheckerSpec {
    /// The check.
    pub check: Arc<dyn Check>,
    /// Where it probes.
    pub target: Target,
    /// When it runs.
    pub schedule: Schedule,
}

/// A real server and its checkers.
#[derive(Clone)]
pub struct ServerSpec {
    /// Index of the virtual server (as the caller numbers them).
    pub vs: usize,
    /// Index of the real server within it.
    pub rs: usize,
    /// Its checkers.
    pub checkers: Vec<CheckerSpec>,
}

/// A checker changed state (up/down), or its dynamic weight changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Virtual server index.
    pub vs: usize,
    /// Real server index.
    pub rs: usize,
    /// Checker index within the real server.
    pub checker: usize,
    /// The checker's new state.
    pub up: bool,
    /// The real server's state after the change (all its checkers up).
    pub server_up: bool,
    /// The run that caused the change.
    pub outcome: Outcome,
}

/// The receiving end of the event stream.
pub type EventReceiver = mpsc::UnboundedReceiver<Event>;

/// The state of one checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerState {
    /// `TCP_CHECK`, …
    pub kind: &'static str,
    /// Up.
    pub up: bool,
    /// Dynamic weight of the last up run (misc_dynamic, FILE_CHECK).
    pub weight: Option<i32>,
    /// Detail of the run that last changed the state (empty before any change).
    pub detail: String,
}

/// The state of one real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    /// Virtual server index.
    pub vs: usize,
    /// Real server index.
    pub rs: usize,
    /// All checkers up.
    pub up: bool,
    /// Its checkers.
    pub checkers: Vec<CheckerState>,
}

/// All servers' states, in the order of the specs given to [`Engine::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// One per [`ServerSpec`].
    pub servers: Vec<ServerState>,
}

/// The checker engine, before it starts.
pub struct Engine {
    specs: Vec<ServerSpec>,
    observer: Option<Observer>,
}

/// A running engine.
pub struct EngineHandle {
    stop: Option<oneshot::Sender<()>>,
    join: JoinHandle<()>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
}

impl EngineHandle {
    /// The current states.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// A receiver of every new snapshot (published on each change).
    pub fn watch(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    /// Stops every checker (runs in progress are cancelled, scripts killed) and waits.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.join).await;
    }
}

/// Called after every run (for metrics): virtual server, real server, checker
/// kind, outcome. Must be quick; it runs on the checker's task.
pub type Observer = Arc<dyn Fn(usize, usize, &'static str, &Outcome) + Send + Sync>;

/// State shared by the checker tasks.
struct Shared {
    observer: Option<Observer>,
    /// The states, changed in place: a change costs O(1), not a copy of every
    /// server's state (10,000 servers going down at once would be quadratic).
    /// Only while a reader keeps an older snapshot does a change copy it once.
    snapshot: watch::Sender<Arc<Snapshot>>,
    events: mpsc::UnboundedSender<Event>,
}

impl Shared {
    fn is_up(&self, s: usize, c: usize) -> bool {
        self.snapshot.borrow().servers[s].checkers[c].up
    }

    /// Records a run's verdict; publishes and emits an event when something changed.
    fn record(&self, s: usize, c: usize, up: bool, outcome: Outcome) {
        let mut ev = None;
        self.snapshot.send_if_modified(|snap| {
            let ch = &snap.servers[s].checkers[c];
            let weight = if up { outcome.weight } else { ch.weight };
            if ch.up == up && ch.weight == weight {
                return false;
            }
            let server = &mut Arc::make_mut(snap).servers[s];
            let ch = &mut server.checkers[c];
            ch.up = up;
            ch.weight = weight;
            ch.detail = outcome.detail.clone();
            server.up = server.checkers.iter().all(|c| c.up);
            ev = Some(Event {
                vs: server.vs,
                rs: server.rs,
                checker: c,
                up,
                server_up: server.up,
                outcome,
            });
            true
        });
        if let Some(ev) = ev {
            let _ = self.events.send(ev);
        }
    }
}

impl Engine {
    /// An engine for these real servers.
    pub fn new(specs: Vec<ServerSpec>) -> Engine {
        Engine {
            specs,
            observer: None,
        }
    }

    /// Reports every run's outcome to `f`, not only state changes.
    pub fn with_observer(mut self, f: Observer) -> Engine {
        self.observer = Some(f);
        self
    }

    /// The states before any check ran (up unless alpha).
    pub fn initial_snapshot(&self) -> Snapshot {
        Snapshot {
            servers: self
                .specs
                .iter()
                .map(|s| {
                    let checkers: Vec<CheckerState> = s
                        .checkers
                        .iter()
                        .map(|c| CheckerState {
                            kind: c.check.kind(),
                            up: !c.schedule.alpha,
                            weight: None,
                            detail: String::new(),
                        })
                        .collect();
                    ServerState {
                        vs: s.vs,
                        rs: s.rs,
                        up: checkers.iter().all(|c| c.up),
                        checkers,
                    }
                })
                .collect(),
        }
    }

    /// Starts every checker task (on the current tokio runtime) and returns the event
    /// stream and a handle to read states and stop the engine.
    pub fn start(self) -> (EventReceiver, EngineHandle) {
        let initial = self.initial_snapshot();
        let (snap_tx, snap_rx) = watch::channel(Arc::new(initial));
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            observer: self.observer.clone(),
            snapshot: snap_tx,
            events: ev_tx,
        });
        let total: u32 = self.specs.iter().map(|s| s.checkers.len() as u32).sum();
        let mut set = JoinSet::new();
        let mut n = 0u32;
        for (si, s) in self.specs.into_iter().enumerate() {
            for (ci, c) in s.checkers.into_iter().enumerate() {
                let first = first_delay(&c.schedule, n, total);
                n += 1;
                let at = Position {
                    server: si,
                    checker: ci,
                    vs: s.vs,
                    rs: s.rs,
                };
                set.spawn(run_checker(shared.clone(), at, c, first));
            }
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        let join = tokio::spawn(async move {
            let _ = stop_rx.await;
            set.shutdown().await;
        });
        (
            ev_rx,
            EngineHandle {
                stop: Some(stop_tx),
                join,
                snapshot: snap_rx,
            },
        )
    }
}

/// The delay before a checker's first run (see the module documentation).
pub fn first_delay(s: &Schedule, index: u32, total: u32) -> Duration {
    match s.warmup {
        Some(w) if w.is_zero() => Duration::ZERO,
        Some(w) => w.mul_f64(fastrand::f64()),
        None if total == 0 => Duration::ZERO,
        None => s.delay_loop.mul_f64(f64::from(index) / f64::from(total)),
    }
}

/// Where a checker task sits: its server's index among the specs, its own
/// index, and the caller's virtual / real server numbers.
#[derive(Clone, Copy)]
struct Position {
    server: usize,
    checker: usize,
    vs: usize,
    rs: usize,
}

async fn run_checker(shared: Arc<Shared>, at: Position, spec: CheckerSpec, first: Duration) {
    let (si, ci) = (at.server, at.checker);
    sleep(first).await;
    let mut failures = 0u32;
    loop {
        let bound = spec.check.max_duration(&spec.target).saturating_add(GRACE);
        let start = Instant::now();
        let outcome = if spec.check.ends_by_itself() {
            spec.check.run(&spec.target).await
        } else {
            match tokio::time::timeout(bound, spec.check.run(&spec.target)).await {
                Ok(o) => o,
                Err(_) => Outcome::down(format!("no result after {bound:?}"), start.elapsed()),
            }
        };
        if let Some(f) = &shared.observer {
            f(at.vs, at.rs, spec.check.kind(), &outcome);
        }
        let next = if outcome.ok {
            failures = 0;
            shared.record(si, ci, true, outcome);
            spec.schedule.delay_loop
        } else if shared.is_up(si, ci) {
            failures += 1;
            if failures > spec.schedule.retry {
                failures = 0;
                shared.record(si, ci, false, outcome);
                spec.schedule.delay_loop
            } else {
                tracing::debug!(
                    server = si,
                    checker = ci,
                    "{} failed ({}), retry {failures}/{}",
                    spec.check.kind(),
                    outcome.detail,
                    spec.schedule.retry
                );
                spec.schedule.delay_before_retry
            }
        } else {
            spec.schedule.delay_loop
        };
        sleep(next).await;
    }
}
