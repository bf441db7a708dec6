//! The scheduler, with fake checks driven by the test, in virtual time.

use keepalived_check::{
    BoxFuture, Check, CheckerSpec, Engine, Event, EventReceiver, Outcome, Schedule, ServerSpec,
    Target,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, Instant};

#[derive(Debug, Clone, Copy)]
enum Step {
    Up,
    Down,
    Weight(i32),
    Hang,
}

/// Plays its steps in order (then `rest` forever) and logs when each run started,
/// in whole virtual seconds since `t0`.
struct Fake {
    steps: Mutex<VecDeque<Step>>,
    rest: Step,
    t0: Instant,
    calls: Mutex<Vec<u64>>,
}

impl Fake {
    fn new(steps: &[Step], rest: Step) -> Arc<Fake> {
        Arc::new(Fake {
            steps: Mutex::new(steps.iter().copied().collect()),
            rest,
            t0: Instant::now(),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<u64> {
        self.calls.lock().unwrap().clone()
    }
}

impl Check for Fake {
    fn kind(&self) -> &'static str {
        "FAKE"
    }

    fn run<'a>(&'a self, _t: &'a Target) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let at = self.t0.elapsed().as_secs();
            self.calls.lock().unwrap().push(at);
            let step = self.steps.lock().unwrap().pop_front().unwrap_or(self.rest);
            let d = format!("t={at}");
            match step {
                Step::Up => Outcome::up(d, Duration::ZERO),
                Step::Down => Outcome::down(d, Duration::ZERO),
                Step::Weight(w) => Outcome {
                    weight: Some(w),
                    ..Outcome::up(d, Duration::ZERO)
                },
                Step::Hang => std::future::pending().await,
            }
        })
    }
}

fn sched(delay_loop: u64, retry: u32, delay_before_retry: u64) -> Schedule {
    Schedule {
        delay_loop: Duration::from_secs(delay_loop),
        retry,
        delay_before_retry: Duration::from_secs(delay_before_retry),
        warmup: Some(Duration::ZERO),
        alpha: false,
    }
}

fn spec(check: Arc<Fake>, schedule: Schedule) -> CheckerSpec {
    CheckerSpec {
        check,
        target: Target::new("127.0.0.1:1".parse().unwrap(), Duration::from_secs(1)),
        schedule,
    }
}

fn server(vs: usize, rs: usize, checkers: Vec<CheckerSpec>) -> ServerSpec {
    ServerSpec { vs, rs, checkers }
}

fn drain(rx: &mut EventReceiver) -> Vec<Event> {
    let mut v = Vec::new();
    while let Ok(e) = rx.try_recv() {
        v.push(e);
    }
    v
}

/// (checker, up, detail) of each event.
fn brief(ev: &[Event]) -> Vec<(usize, bool, String)> {
    ev.iter()
        .map(|e| (e.checker, e.up, e.outcome.detail.clone()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn down_only_after_retry_plus_one_failures() {
    use Step::*;
    let f = Fake::new(&[Up, Down, Down, Down, Up, Down, Up], Up);
    let (mut rx, h) =
        Engine::new(vec![server(0, 0, vec![spec(f.clone(), sched(10, 2, 1))])]).start();
    sleep(Duration::from_millis(40_500)).await;
    // t=0 up; t=10,11,12 fail (retry 2, 1 s apart) → down at 12; t=22 up again;
    // t=32 fails once, retried at 33 with success: no event.
    assert_eq!(f.calls(), vec![0, 10, 11, 12, 22, 32, 33]);
    let ev = drain(&mut rx);
    assert_eq!(
        brief(&ev),
        vec![(0, false, "t=12".into()), (0, true, "t=22".into())]
    );
    assert!(!ev[0].server_up && ev[1].server_up);
    assert!(h.snapshot().servers[0].up);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn retry_zero_fails_at_once_and_down_is_not_retried() {
    use Step::*;
    let f = Fake::new(&[Down, Down, Up], Up);
    let (mut rx, h) =
        Engine::new(vec![server(0, 0, vec![spec(f.clone(), sched(5, 0, 1))])]).start();
    sleep(Duration::from_millis(10_500)).await;
    assert_eq!(f.calls(), vec![0, 5, 10]);
    assert_eq!(
        brief(&drain(&mut rx)),
        vec![(0, false, "t=0".into()), (0, true, "t=10".into())]
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn alpha_starts_down_and_rises_on_first_success() {
    use Step::*;
    let f = Fake::new(&[Down, Down, Up], Up);
    let mut s = sched(10, 3, 1);
    s.alpha = true;
    let engine = Engine::new(vec![server(2, 4, vec![spec(f.clone(), s)])]);
    assert!(!engine.initial_snapshot().servers[0].up);
    let (mut rx, h) = engine.start();
    assert!(!h.snapshot().servers[0].up);
    sleep(Duration::from_millis(20_500)).await;
    // Already down: failures are not retried, the next run is delay_loop later.
    assert_eq!(f.calls(), vec![0, 10, 20]);
    let ev = drain(&mut rx);
    assert_eq!(brief(&ev), vec![(0, true, "t=20".into())]);
    assert_eq!((ev[0].vs, ev[0].rs), (2, 4));
    assert!(h.snapshot().servers[0].up);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn no_events_without_changes() {
    let f = Fake::new(&[], Step::Up);
    let (mut rx, h) =
        Engine::new(vec![server(0, 0, vec![spec(f.clone(), sched(3, 1, 1))])]).start();
    let w = h.watch();
    sleep(Duration::from_millis(30_500)).await;
    assert_eq!(f.calls().len(), 11);
    assert!(drain(&mut rx).is_empty());
    assert!(!w.has_changed().unwrap());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn server_up_only_when_all_checkers_up() {
    use Step::*;
    let a = Fake::new(&[], Up);
    let b = Fake::new(&[Down, Up], Up);
    let (mut rx, h) = Engine::new(vec![server(
        0,
        0,
        vec![spec(a, sched(10, 0, 1)), spec(b, sched(10, 0, 1))],
    )])
    .start();
    sleep(Duration::from_millis(500)).await;
    let ev = drain(&mut rx);
    assert_eq!(brief(&ev), vec![(1, false, "t=0".into())]);
    assert!(!ev[0].server_up);
    let snap = h.snapshot();
    assert!(!snap.servers[0].up);
    assert!(snap.servers[0].checkers[0].up && !snap.servers[0].checkers[1].up);
    sleep(Duration::from_secs(10)).await;
    let ev = drain(&mut rx);
    assert_eq!(brief(&ev), vec![(1, true, "t=10".into())]);
    assert!(ev[0].server_up);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn dynamic_weight_change_is_an_event() {
    use Step::*;
    let f = Fake::new(&[Weight(5), Weight(5), Weight(8), Up], Up);
    let (mut rx, h) = Engine::new(vec![server(0, 0, vec![spec(f, sched(1, 1, 1))])]).start();
    sleep(Duration::from_millis(4_500)).await;
    let ev = drain(&mut rx);
    let w: Vec<_> = ev.iter().map(|e| (e.up, e.outcome.weight)).collect();
    assert_eq!(w, vec![(true, Some(5)), (true, Some(8)), (true, None)]);
    assert_eq!(h.snapshot().servers[0].checkers[0].weight, None);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn first_runs_spread_over_delay_loop() {
    let mut s = sched(8, 1, 1);
    s.warmup = None;
    let fakes: Vec<_> = (0..4).map(|_| Fake::new(&[], Step::Up)).collect();
    let specs = vec![
        server(
            0,
            0,
            vec![spec(fakes[0].clone(), s), spec(fakes[1].clone(), s)],
        ),
        server(0, 1, vec![spec(fakes[2].clone(), s)]),
        server(1, 0, vec![spec(fakes[3].clone(), s)]),
    ];
    let (_rx, h) = Engine::new(specs).start();
    sleep(Duration::from_millis(8_500)).await;
    let firsts: Vec<u64> = fakes.iter().map(|f| f.calls()[0]).collect();
    assert_eq!(firsts, vec![0, 2, 4, 6]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn warmup_delays_first_run_within_bound() {
    let mut s = sched(100, 1, 1);
    s.warmup = Some(Duration::from_secs(7));
    let f = Fake::new(&[], Step::Up);
    let (_rx, h) = Engine::new(vec![server(0, 0, vec![spec(f.clone(), s)])]).start();
    sleep(Duration::from_millis(7_500)).await;
    let c = f.calls();
    assert_eq!(c.len(), 1);
    assert!(c[0] <= 7);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stuck_checker_does_not_delay_others() {
    let stuck = Fake::new(&[], Step::Hang);
    let fine = Fake::new(&[], Step::Up);
    let (mut rx, h) = Engine::new(vec![
        server(0, 0, vec![spec(stuck.clone(), sched(10, 0, 1))]),
        server(0, 1, vec![spec(fine.clone(), sched(3, 0, 1))]),
    ])
    .start();
    sleep(Duration::from_millis(12_500)).await;
    // The fine one keeps its rhythm.
    assert_eq!(fine.calls(), vec![0, 3, 6, 9, 12]);
    // The stuck run is cut off at connect_timeout (1 s) + grace (1 s): down at t=2,
    // next run at 12.
    assert_eq!(stuck.calls(), vec![0, 12]);
    let ev = drain(&mut rx);
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].rs, ev[0].up), (0, false));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stop_ends_all_checkers() {
    let f = Fake::new(&[], Step::Up);
    let (_rx, h) = Engine::new(vec![server(0, 0, vec![spec(f.clone(), sched(1, 0, 1))])]).start();
    sleep(Duration::from_millis(2_500)).await;
    h.stop().await;
    let n = f.calls().len();
    sleep(Duration::from_secs(10)).await;
    assert_eq!(f.calls().len(), n);
}

#[tokio::test(start_paused = true)]
async fn server_without_checkers_is_up() {
    let (_rx, h) = Engine::new(vec![server(0, 0, vec![])]).start();
    assert!(h.snapshot().servers[0].up);
    h.stop().await;
}
