//! State machine tests on virtual time: a tiny simulated LAN delivers every
//! `SendAdvert` of one instance to all the others at the same instant.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use keepalived_vrrp::fsm::{Action, GarpConfig, Input, Instance, InstanceConfig, Reason, State};
use keepalived_vrrp::packet::{AdverInt, Auth, Received, Version};
use keepalived_vrrp::sync::SyncGroup;
use keepalived_vrrp::track::{TrackSet, Tracked};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn cfg(name: &str, prio: u8, addr: &str) -> InstanceConfig {
    InstanceConfig {
        name: name.into(),
        vrid: 51,
        version: Version::V2,
        ipv6: false,
        priority: prio,
        advert_int: Duration::from_secs(1),
        preempt: true,
        preempt_delay: Duration::ZERO,
        start_master: false,
        auth: Auth::None,
        vips: vec![ip("10.0.0.100"), ip("10.0.0.101")],
        skip_check_adv_addr: false,
        unicast_peers: vec![],
        local_addr: ip(addr),
        garp: GarpConfig::default(),
        lower_prio_no_advert: false,
        higher_prio_send_advert: false,
    }
}

fn v3(mut c: InstanceConfig, centis: u64) -> InstanceConfig {
    c.version = Version::V3;
    c.advert_int = Duration::from_millis(centis * 10);
    c
}

/// Simulated LAN: instances, a virtual clock, a log of every action.
struct Lan {
    base: Instant,
    now: Instant,
    nodes: Vec<Instance>,
    groups: Vec<SyncGroup>,
    /// (time since base, node, action)
    log: Vec<(Duration, usize, Action)>,
}

impl Lan {
    fn new(cfgs: Vec<InstanceConfig>) -> Self {
        let base = Instant::now();
        Lan {
            base,
            now: base,
            nodes: cfgs.into_iter().map(Instance::new).collect(),
            groups: vec![],
            log: vec![],
        }
    }

    fn at(&self) -> Duration {
        self.now - self.base
    }

    fn input(&mut self, i: usize, input: Input<'_>) {
        let mut acts = vec![Vec::new(); self.nodes.len()];
        self.nodes[i].handle(self.now, input, &mut acts[i]);
        self.settle(acts);
    }

    /// Runs sync groups, logs, and delivers adverts until quiet.
    fn settle(&mut self, mut acts: Vec<Vec<Action>>) {
        loop {
            for g in &self.groups {
                g.react(self.now, &mut self.nodes, &mut acts);
            }
            let mut sent = vec![];
            for (i, a) in acts.iter_mut().enumerate() {
                for a in a.drain(..) {
                    if let Action::SendAdvert { priority } = a {
                        sent.push((i, priority));
                    }
                    self.log.push((self.at(), i, a));
                }
            }
            if sent.is_empty() {
                return;
            }
            for (i, priority) in sent {
                let rx = Received {
                    src: self.nodes[i].config().local_addr,
                    dst: ip("224.0.0.18"),
                    packet: self.nodes[i].advert_packet(priority),
                };
                for (j, (node, out)) in self.nodes.iter_mut().zip(&mut acts).enumerate() {
                    if j != i && node.config().ipv6 == rx.src.is_ipv6() {
                        node.handle(self.now, Input::Advert(&rx), out);
                    }
                }
            }
        }
    }

    /// Advances virtual time to `base + t`, firing timeouts in order.
    fn run_until(&mut self, t: Duration) {
        let end = self.base + t;
        while let Some(next) = self.nodes.iter().filter_map(Instance::poll_timeout).min() {
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            let mut acts = vec![Vec::new(); self.nodes.len()];
            for (i, n) in self.nodes.iter_mut().enumerate() {
                if n.poll_timeout().is_some_and(|d| d <= self.now) {
                    n.handle_timeout(self.now, &mut acts[i]);
                }
            }
            self.settle(acts);
        }
        self.now = end;
    }

    fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.input(i, Input::Start);
        }
    }

    fn states(&self) -> Vec<State> {
        self.nodes.iter().map(Instance::state).collect()
    }

    /// Transitions of node `i` as (time, to, reason).
    fn transitions(&self, i: usize) -> Vec<(Duration, State, Reason)> {
        self.log
            .iter()
            .filter(|(_, n, _)| *n == i)
            .filter_map(|(t, _, a)| match a {
                Action::Transition { to, reason, .. } => Some((*t, *to, *reason)),
                _ => None,
            })
            .collect()
    }

    fn count(&self, i: usize, f: impl Fn(&Action) -> bool) -> usize {
        self.log.iter().filter(|(_, n, a)| *n == i && f(a)).count()
    }
}

fn is_advert(a: &Action) -> bool {
    matches!(a, Action::SendAdvert { .. })
}

/// RFC 3768 §6.1 (Skew_Time, Master_Down_Interval) for VRRPv2.
#[test]
fn skew_and_master_down_v2() {
    let i = Instance::new(cfg("a", 100, "10.0.0.1"));
    assert_eq!(i.skew_time(), secs(0.609375));
    assert_eq!(i.master_down_interval(), secs(3.609375));
    let i = Instance::new(cfg("a", 254, "10.0.0.1"));
    assert_eq!(i.skew_time(), Duration::from_micros(7812));
}

/// RFC 9568 §6.1: Skew_Time scales with Master_Adver_Interval (centiseconds).
#[test]
fn skew_and_master_down_v3() {
    let i = Instance::new(v3(cfg("a", 100, "10.0.0.1"), 100));
    assert_eq!(i.skew_time(), secs(0.609375));
    assert_eq!(i.master_down_interval(), secs(3.609375));
    let i = Instance::new(v3(cfg("a", 200, "10.0.0.1"), 50));
    // (256 - 200) * 50cs / 256 = 10.9375cs
    assert_eq!(i.skew_time(), secs(0.109375));
    assert_eq!(i.master_down_interval(), secs(1.609375));
}

/// RFC 9568 §6.4.2: a backup learns Master_Adver_Interval from the master.
#[test]
fn v3_backup_learns_interval() {
    let mut lan = Lan::new(vec![
        v3(cfg("m", 200, "10.0.0.2"), 50),
        v3(cfg("b", 100, "10.0.0.1"), 100),
    ]);
    lan.start_all();
    lan.run_until(secs(5.0));
    assert_eq!(lan.states(), [State::Master, State::Backup]);
    let b = &lan.nodes[1];
    assert_eq!(b.master_adver_int(), secs(0.5));
    // 3 * 0.5 + 156 * 50cs / 256, in whole microseconds like keepalived
    assert_eq!(b.master_down_interval(), Duration::from_micros(1_804_687));
    assert_eq!(b.master_addr(), Some(ip("10.0.0.2")));
    // v3 does not drop a differing interval.
    assert!(b.counters().drops.is_empty());
    assert!(b.counters().adverts_rx > 0);
}

/// RFC 3768 §6.4.2 / §6.4.3: the higher priority router becomes master.
#[test]
fn election_higher_priority_wins() {
    let mut lan = Lan::new(vec![cfg("a", 100, "10.0.0.9"), cfg("b", 200, "10.0.0.1")]);
    lan.start_all();
    lan.run_until(secs(20.0));
    assert_eq!(lan.states(), [State::Backup, State::Master]);
    assert_eq!(
        lan.transitions(1),
        [
            (Duration::ZERO, State::Backup, Reason::Startup),
            (secs(3.21875), State::Master, Reason::MasterDown),
        ]
    );
    assert_eq!(lan.transitions(0).len(), 1, "a never leaves BACKUP");
    assert_eq!(lan.nodes[0].master_addr(), Some(ip("10.0.0.1")));
}

/// RFC 3768 §6.4.3: equal priority, the higher primary address wins.
#[test]
fn election_equal_priority_higher_address_wins() {
    let mut lan = Lan::new(vec![cfg("a", 100, "10.0.0.1"), cfg("b", 100, "10.0.0.2")]);
    lan.start_all();
    lan.run_until(secs(20.0));
    assert_eq!(lan.states(), [State::Backup, State::Master]);
    // Both time out together; a yields on b's advert.
    assert_eq!(
        lan.transitions(0).last(),
        Some(&(
            secs(3.609375),
            State::Backup,
            Reason::EqualPriorityHigherAddress {
                from: ip("10.0.0.2")
            }
        ))
    );
    assert!(lan
        .log
        .iter()
        .any(|(_, n, a)| *n == 0 && *a == Action::RemoveVips));
}

/// RFC 3768 §6.4.2 (Preempt_Mode): a higher priority router started later
/// takes over after Master_Down_Interval, the lower priority master yields.
#[test]
fn preemption_by_late_higher_priority() {
    let mut lan = Lan::new(vec![cfg("a", 100, "10.0.0.9"), cfg("b", 200, "10.0.0.1")]);
    lan.input(0, Input::Start);
    lan.run_until(secs(10.0));
    assert_eq!(lan.nodes[0].state(), State::Master);
    lan.input(1, Input::Start);
    lan.run_until(secs(30.0));
    assert_eq!(lan.states(), [State::Backup, State::Master]);
    assert_eq!(
        lan.transitions(1).last(),
        Some(&(secs(13.21875), State::Master, Reason::Preempt))
    );
    assert_eq!(
        lan.transitions(0).last(),
        Some(&(
            secs(13.21875),
            State::Backup,
            Reason::HigherPriority {
                from: ip("10.0.0.1"),
                priority: 200
            }
        ))
    );
}

/// RFC 3768 §6.4.2: with Preempt_Mode false a higher priority backup stays backup.
#[test]
fn nopreempt_stays_backup() {
    let mut b = cfg("b", 200, "10.0.0.1");
    b.preempt = false;
    let mut lan = Lan::new(vec![cfg("a", 100, "10.0.0.9"), b]);
    lan.input(0, Input::Start);
    lan.run_until(secs(10.0));
    lan.input(1, Input::Start);
    lan.run_until(secs(60.0));
    assert_eq!(lan.states(), [State::Master, State::Backup]);
}

/// RFC 3768 §6.4.2 plus keepalived's preempt_delay: lower priority adverts
/// keep resetting Master_Down_Timer until the delay has elapsed.
#[test]
fn preempt_delay_postpones_takeover() {
    let mut b = cfg("b", 200, "10.0.0.1");
    b.preempt_delay = Duration::from_secs(10);
    let mut lan = Lan::new(vec![cfg("a", 100, "10.0.0.9"), b]);
    lan.input(0, Input::Start);
    lan.run_until(secs(10.0));
    lan.input(1, Input::Start);
    lan.run_until(secs(19.9));
    assert_eq!(lan.states(), [State::Master, State::Backup]);
    lan.run_until(secs(30.0));
    assert_eq!(lan.states(), [State::Backup, State::Master]);
    let (t, _, reason) = lan.transitions(1).last().copied().unwrap();
    assert_eq!(reason, Reason::Preempt);
    assert!(t >= secs(20.0) && t <= secs(24.0), "{t:?}");
}

/// RFC 3768 §6.4.1: the address owner (255) becomes master at once.
#[test]
fn owner_becomes_master_immediately() {
    let mut i = Instance::new(cfg("o", 255, "10.0.0.1"));
    let mut out = vec![];
    i.handle(Instant::now(), Input::Start, &mut out);
    assert_eq!(
        out,
        [
            Action::SendAdvert { priority: 255 },
            Action::AddVips,
            Action::SendGratuitous,
            Action::Transition {
                from: State::Init,
                to: State::Master,
                reason: Reason::Startup
            },
        ]
    );
    assert_eq!(i.master_addr(), Some(ip("10.0.0.1")));
    assert_eq!(i.counters().became_master, 1);
}

/// RFC 3768 §6.4.1: `state MASTER` below 255 still starts as backup and
/// waits out Master_Down_Interval (keepalived does the same).
#[test]
fn state_master_below_owner_starts_backup() {
    let mut c = cfg("a", 150, "10.0.0.1");
    c.start_master = true;
    let mut lan = Lan::new(vec![c]);
    lan.start_all();
    assert_eq!(lan.states(), [State::Backup]);
    let mdi = lan.nodes[0].master_down_interval();
    assert_eq!(lan.nodes[0].poll_timeout(), Some(lan.base + mdi));
    lan.run_until(mdi);
    assert_eq!(lan.states(), [State::Master]);
}

/// RFC 3768 §6.4.3 (Shutdown) and §6.4.2: a master leaving sends priority 0
/// and the backup takes over after Skew_Time.
#[test]
fn shutdown_priority_zero_fast_takeover() {
    let mut lan = Lan::new(vec![cfg("a", 200, "10.0.0.1"), cfg("b", 100, "10.0.0.2")]);
    lan.start_all();
    lan.run_until(secs(10.0));
    assert_eq!(lan.states(), [State::Master, State::Backup]);
    lan.input(0, Input::Shutdown);
    assert_eq!(lan.nodes[0].state(), State::Stop);
    assert_eq!(lan.nodes[0].poll_timeout(), None);
    assert_eq!(lan.nodes[0].counters().priority_zero_tx, 1);
    assert_eq!(lan.nodes[1].counters().priority_zero_rx, 1);
    lan.run_until(secs(20.0));
    assert_eq!(
        lan.transitions(1).last(),
        Some(&(secs(10.609375), State::Master, Reason::PriorityZero))
    );
    let tail: Vec<_> = lan
        .log
        .iter()
        .filter(|(t, n, _)| *n == 0 && *t == secs(10.0))
        .map(|(_, _, a)| a.clone())
        .collect();
    assert_eq!(
        tail,
        [
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            Action::Transition {
                from: State::Master,
                to: State::Stop,
                reason: Reason::Shutdown
            }
        ]
    );
}

/// RFC 3768 §6.4.3: a master answers a priority 0 advert at once.
#[test]
fn master_answers_priority_zero() {
    let mut lan = Lan::new(vec![cfg("a", 200, "10.0.0.1")]);
    lan.start_all();
    lan.run_until(secs(4.5));
    let mut out = vec![];
    let rx = Received {
        src: ip("10.0.0.7"),
        dst: ip("224.0.0.18"),
        packet: lan.nodes[0].advert_packet(0),
    };
    lan.nodes[0].handle(lan.now, Input::Advert(&rx), &mut out);
    assert_eq!(out, [Action::SendAdvert { priority: 200 }]);
    assert_eq!(lan.nodes[0].poll_timeout(), Some(lan.now + secs(1.0)));
}

/// RFC 9568 §6.4.3 / keepalived: a master answers a lower priority advert
/// unless lower_prio_no_advert is set, and refreshes the LAN's ARP caches with
/// garp_lower_prio_repeat copies now and again after garp_lower_prio_delay
/// (the other side may have been MASTER: a healed split brain).
#[test]
fn master_answers_lower_priority() {
    for (quiet, repeat) in [(false, 5), (true, 5), (false, 0), (true, 2)] {
        let mut c = cfg("a", 200, "10.0.0.1");
        c.lower_prio_no_advert = quiet;
        c.garp.lower_prio_repeat = repeat;
        c.garp.lower_prio_delay = secs(2.0);
        c.garp.delay = Duration::ZERO;
        let mut lan = Lan::new(vec![c]);
        lan.start_all();
        lan.run_until(secs(4.5));
        let rx = Received {
            src: ip("10.0.0.7"),
            dst: ip("224.0.0.18"),
            packet: lan.nodes[0].advert_packet(100),
        };
        let mut out = vec![];
        let now = lan.now;
        lan.nodes[0].handle(now, Input::Advert(&rx), &mut out);
        let garp = |o: &[Action]| o.iter().any(|a| matches!(a, Action::SendGratuitous));
        assert_eq!(out.iter().any(is_advert), !quiet, "quiet {quiet}");
        assert_eq!(garp(&out), repeat > 0, "repeat {repeat}");
        if repeat > 0 {
            assert_eq!(lan.nodes[0].garp_repeat(), repeat);
        }
        assert_eq!(lan.nodes[0].state(), State::Master);
        // The second burst, garp_lower_prio_delay later.
        let mut later = vec![];
        lan.nodes[0].handle_timeout(now + secs(2.0), &mut later);
        assert_eq!(garp(&later), repeat > 0, "second burst, repeat {repeat}");
    }
}

/// RFC 3768 §6.4.3: a master sends an advert every Advertisement_Interval.
#[test]
fn master_adverts_every_interval() {
    let mut lan = Lan::new(vec![cfg("a", 200, "10.0.0.1")]);
    lan.start_all();
    let t0 = secs(3.21875);
    lan.run_until(t0);
    assert_eq!(lan.states(), [State::Master]);
    let before = lan.count(0, is_advert);
    assert_eq!(before, 1, "one advert at the transition");
    lan.run_until(t0 + secs(10.0));
    assert_eq!(lan.count(0, is_advert) - before, 10);
    assert_eq!(lan.nodes[0].counters().adverts_tx, 11);
}

/// keepalived garp_master_delay / garp_master_refresh (RFC 3768 §6.4.2
/// "broadcast a gratuitous ARP" on becoming master).
#[test]
fn garp_bursts_at_transition_delay_and_refresh() {
    let mut c = cfg("o", 255, "10.0.0.1");
    c.garp = GarpConfig {
        delay: Duration::from_secs(5),
        repeat: 3,
        refresh: Some(Duration::from_secs(20)),
        refresh_repeat: 2,
        interval: Duration::from_millis(10),
        ..GarpConfig::default()
    };
    let base = Instant::now();
    let mut i = Instance::new(c);
    let mut bursts = vec![];
    let mut out = vec![];
    i.handle(base, Input::Start, &mut out);
    let mut now = base;
    loop {
        for a in out.drain(..) {
            if a == Action::SendGratuitous {
                bursts.push((now - base, i.garp_repeat()));
            }
        }
        let next = i.poll_timeout().unwrap();
        if next > base + secs(45.0) {
            break;
        }
        now = next;
        i.handle_timeout(now, &mut out);
    }
    assert_eq!(
        bursts,
        [
            (secs(0.0), 3),
            (secs(5.0), 3),
            (secs(20.0), 2),
            (secs(40.0), 2)
        ]
    );
    // Leaving MASTER cancels them.
    i.handle(now, Input::Shutdown, &mut out);
    assert_eq!(i.poll_timeout(), None);
}

/// RFC 3768 §6.4.2 (Priority): tracking lowers the master's priority, the
/// other router preempts it.
#[test]
fn tracking_weight_moves_master() {
    let mut track = TrackSet::new(
        100,
        vec![Tracked {
            name: "chk".into(),
            weight: 50,
            reverse: false,
        }],
    );
    let mut a = cfg("a", 100, "10.0.0.1");
    a.priority = track.effective_priority();
    let mut lan = Lan::new(vec![a, cfg("b", 120, "10.0.0.2")]);
    lan.start_all();
    lan.run_until(secs(10.0));
    assert_eq!(lan.states(), [State::Master, State::Backup]);
    assert!(track.set(0, false));
    lan.input(0, Input::Priority(track.effective_priority()));
    assert_eq!(lan.nodes[0].effective_priority(), 100);
    assert!(lan.log.iter().any(|(t, n, a)| *t == secs(10.0)
        && *n == 0
        && *a == Action::SendAdvert { priority: 100 }));
    lan.run_until(secs(20.0));
    assert_eq!(lan.states(), [State::Backup, State::Master]);
    // Script back: a preempts again.
    assert!(track.set(0, true));
    lan.input(0, Input::Priority(track.effective_priority()));
    lan.run_until(secs(30.0));
    assert_eq!(lan.states(), [State::Master, State::Backup]);
}

/// keepalived FAULT state (outside the RFCs): a failed master releases with
/// priority 0, ignores adverts while faulty and returns as backup.
#[test]
fn fault_and_recovery() {
    let mut lan = Lan::new(vec![cfg("a", 200, "10.0.0.1"), cfg("b", 100, "10.0.0.2")]);
    lan.start_all();
    lan.run_until(secs(10.0));
    lan.input(0, Input::Fault(true));
    assert_eq!(lan.nodes[0].state(), State::Fault);
    assert_eq!(lan.nodes[0].poll_timeout(), None);
    lan.run_until(secs(15.0));
    assert_eq!(lan.states(), [State::Fault, State::Master]);
    assert_eq!(
        lan.transitions(1).last(),
        Some(&(secs(10.609375), State::Master, Reason::PriorityZero))
    );
    assert!(lan.nodes[0].counters().drops["in_fault"] >= 4);
    lan.input(0, Input::Fault(false));
    assert_eq!(lan.nodes[0].state(), State::Backup);
    lan.run_until(secs(25.0));
    assert_eq!(lan.states(), [State::Master, State::Backup]);
    let t = lan.transitions(0);
    assert_eq!(t[t.len() - 2].2, Reason::FaultCleared);
    assert_eq!(t[t.len() - 1].2, Reason::Preempt);
}

/// keepalived: a fault reported before start puts the instance in FAULT at start;
/// an owner leaves FAULT straight to MASTER.
#[test]
fn fault_before_start_and_owner_recovery() {
    let now = Instant::now();
    let mut i = Instance::new(cfg("o", 255, "10.0.0.1"));
    let mut out = vec![];
    i.handle(now, Input::Fault(true), &mut out);
    assert!(out.is_empty());
    i.handle(now, Input::Start, &mut out);
    assert_eq!(i.state(), State::Fault);
    out.clear();
    i.handle(now, Input::Fault(false), &mut out);
    assert_eq!(i.state(), State::Master);
    assert!(out.contains(&Action::Transition {
        from: State::Fault,
        to: State::Master,
        reason: Reason::FaultCleared
    }));
}

/// keepalived vrrp_sync_group: members fault together, recover together and
/// follow a member that becomes master or backup.
#[test]
fn sync_group_moves_together() {
    let mk = |name: &str, vrid: u8, prio: u8, addr: &str, vip: &str| {
        let mut c = cfg(name, prio, addr);
        c.vrid = vrid;
        c.vips = vec![ip(vip)];
        c
    };
    let mut lan = Lan::new(vec![
        mk("a1", 1, 200, "10.0.0.1", "10.1.0.1"),
        mk("a2", 2, 200, "10.0.0.1", "10.2.0.1"),
        mk("b1", 1, 100, "10.0.0.2", "10.1.0.1"),
        mk("b2", 2, 100, "10.0.0.2", "10.2.0.1"),
    ]);
    lan.groups = vec![
        SyncGroup::new("ga", vec![0, 1]),
        SyncGroup::new("gb", vec![2, 3]),
    ];
    lan.start_all();
    lan.run_until(secs(10.0));
    use State::*;
    assert_eq!(lan.states(), [Master, Master, Backup, Backup]);
    assert_eq!(lan.groups[0].state(&lan.nodes), Some(Master));

    // One member of ga fails: the whole group goes FAULT, gb takes over.
    lan.input(0, Input::Fault(true));
    assert_eq!(lan.states()[..2], [Fault, Fault]);
    assert_eq!(lan.transitions(1).last().map(|t| t.2), Some(Reason::Forced));
    lan.run_until(secs(15.0));
    assert_eq!(lan.states(), [Fault, Fault, Master, Master]);

    // A second own fault in ga, then the first clears: still FAULT.
    lan.input(1, Input::Fault(true));
    lan.input(0, Input::Fault(false));
    assert_eq!(lan.states()[..2], [Fault, Fault]);
    lan.input(1, Input::Fault(false));
    assert_eq!(lan.states()[..2], [Backup, Backup]);
    lan.run_until(secs(30.0));
    assert_eq!(lan.states(), [Master, Master, Backup, Backup]);

    // A higher priority router appears on vrid 1 only: a1 yields, a2 follows.
    let rx = Received {
        src: ip("10.0.0.50"),
        dst: ip("224.0.0.18"),
        packet: lan.nodes[0].advert_packet(250),
    };
    lan.input(0, Input::Advert(&rx));
    assert_eq!(lan.states(), [Backup, Backup, Backup, Backup]);
    assert!(matches!(
        lan.transitions(0).last().unwrap().2,
        Reason::HigherPriority { priority: 250, .. }
    ));
    assert_eq!(lan.transitions(1).last().unwrap().2, Reason::Forced);

    // gb: one member forced to MASTER follows the other.
    let mut lan = Lan::new(vec![
        mk("x1", 1, 100, "10.0.0.1", "10.1.0.1"),
        mk("x2", 2, 50, "10.0.0.1", "10.2.0.1"),
    ]);
    lan.groups = vec![SyncGroup::new("gx", vec![0, 1])];
    lan.start_all();
    lan.run_until(secs(3.7));
    // x1 (priority 100) times out first and pulls x2 along.
    assert_eq!(lan.states(), [Master, Master]);
    assert_eq!(lan.transitions(1).last().unwrap().2, Reason::Forced);
    assert_eq!(lan.transitions(0).last().unwrap().2, Reason::MasterDown);
}

fn recv(from: &str, inst: &Instance, f: impl FnOnce(&mut keepalived_vrrp::Packet)) -> Received {
    let mut packet = inst.advert_packet(150);
    f(&mut packet);
    Received {
        src: ip(from),
        dst: ip("224.0.0.18"),
        packet,
    }
}

/// RFC 3768 §7.1 / RFC 9568 §7.1 receive checks, keepalived drop reasons:
/// every reason is counted and a dropped advert resets no timer.
#[test]
fn drop_reasons_counted() {
    let mut c = cfg("a", 100, "10.0.0.1");
    c.auth = Auth::Simple(*b"secret\0\0");
    c.unicast_peers = vec![ip("10.0.0.2"), ip("10.0.0.1")];
    let now = Instant::now();
    let mut i = Instance::new(c);
    let mut out = vec![];

    let ok = recv("10.0.0.2", &i, |_| {});
    i.handle(now, Input::Advert(&ok), &mut out);
    assert_eq!(i.counters().drops["not_started"], 1);
    i.handle(now, Input::Start, &mut out);
    let deadline = i.poll_timeout();

    let cases: Vec<(&str, Received)> = vec![
        ("vrid_mismatch", recv("10.0.0.2", &i, |p| p.vrid = 7)),
        (
            "version_mismatch",
            recv("10.0.0.2", &i, |p| p.version = Version::V3),
        ),
        (
            "auth_type_mismatch",
            recv("10.0.0.2", &i, |p| p.auth = Auth::None),
        ),
        (
            "auth_mismatch",
            recv("10.0.0.2", &i, |p| p.auth = Auth::Simple(*b"wrong\0\0\0")),
        ),
        (
            "interval_mismatch",
            recv("10.0.0.2", &i, |p| p.adver_int = AdverInt::Seconds(2)),
        ),
        (
            "address_mismatch",
            recv("10.0.0.2", &i, |p| p.addresses.pop().map(|_| ()).unwrap()),
        ),
        ("unknown_unicast_peer", recv("10.0.0.3", &i, |_| {})),
        ("own_packet", recv("10.0.0.1", &i, |_| {})),
        ("family_mismatch", recv("fe80::2", &i, |_| {})),
    ];
    for (reason, rx) in &cases {
        i.handle(now + secs(1.0), Input::Advert(rx), &mut out);
        assert_eq!(i.counters().drops.get(reason), Some(&1), "{reason}");
    }
    // A priority 0 advert is validated too.
    let zero = recv("10.0.0.2", &i, |p| {
        p.priority = 0;
        p.vrid = 9;
    });
    i.handle(now + secs(1.0), Input::Advert(&zero), &mut out);
    assert_eq!(i.counters().drops["vrid_mismatch"], 2);
    assert!(out.iter().all(|a| matches!(a, Action::Transition { .. })));
    assert_eq!(i.poll_timeout(), deadline, "no timer reset");
    assert_eq!(i.counters().adverts_rx, 0);

    // Address order does not matter; skip_check_adv_addr skips the current master.
    let reordered = recv("10.0.0.2", &i, |p| p.addresses.reverse());
    i.handle(now + secs(1.0), Input::Advert(&reordered), &mut out);
    assert_eq!(i.counters().adverts_rx, 1);
    assert_ne!(i.poll_timeout(), deadline);

    i.handle(now + secs(2.0), Input::Fault(true), &mut out);
    i.handle(now + secs(2.0), Input::Advert(&ok), &mut out);
    assert_eq!(i.counters().drops["in_fault"], 1);
    i.handle(now + secs(2.0), Input::Shutdown, &mut out);
    i.handle(now + secs(2.0), Input::Advert(&ok), &mut out);
    assert_eq!(i.counters().drops["stopped"], 1);
}

/// keepalived vrrp_skip_check_adv_addr: addresses of the current master's
/// adverts are not compared.
#[test]
fn skip_check_adv_addr_for_current_master() {
    let mut c = cfg("a", 100, "10.0.0.1");
    c.skip_check_adv_addr = true;
    let now = Instant::now();
    let mut i = Instance::new(c);
    let mut out = vec![];
    i.handle(now, Input::Start, &mut out);
    let odd = recv("10.0.0.2", &i, |p| p.addresses.truncate(1));
    i.handle(now, Input::Advert(&odd), &mut out);
    assert_eq!(i.counters().drops["address_mismatch"], 1);
    let ok = recv("10.0.0.2", &i, |_| {});
    i.handle(now, Input::Advert(&ok), &mut out);
    i.handle(now, Input::Advert(&odd), &mut out);
    assert_eq!(i.counters().adverts_rx, 2);
}

/// RFC 9568 §6.4.2/§6.4.3 over IPv6: equal priority, the higher address wins.
#[test]
fn v3_ipv6_election() {
    let mk = |addr: &str| {
        let mut c = v3(cfg("x", 100, addr), 100);
        c.ipv6 = true;
        c.vips = vec![ip("fe80::100"), ip("2001:db8::100")];
        c
    };
    let mut lan = Lan::new(vec![mk("fe80::2"), mk("fe80::10")]);
    lan.start_all();
    lan.run_until(secs(10.0));
    assert_eq!(lan.states(), [State::Backup, State::Master]);
    assert_eq!(lan.nodes[0].counters().drops.len(), 0);
}

/// A reload hands a running instance its changed configuration: it keeps its
/// state (keepalived restores an instance's state over a reload), adverts go
/// on at the new interval and the new address list.
#[test]
fn reconfigure_keeps_state() {
    let mut lan = Lan::new(vec![cfg("a", 200, "10.0.0.1")]);
    lan.start_all();
    lan.run_until(secs(4.5));
    assert_eq!(lan.states(), [State::Master]);
    let mut c = cfg("a", 150, "10.0.0.1");
    c.advert_int = secs(2.0);
    c.vips.push(ip("10.0.0.102"));
    lan.nodes[0].reconfigure(c);
    let mut out = vec![];
    let now = lan.now;
    lan.nodes[0].handle(now, Input::Priority(150), &mut out);
    assert_eq!(lan.nodes[0].state(), State::Master);
    assert_eq!(lan.nodes[0].master_adver_int(), secs(2.0));
    assert_eq!(lan.nodes[0].advert_packet(150).addresses.len(), 3);
    assert!(!out.iter().any(|a| matches!(a, Action::Transition { .. })));
}

/// keepalived's higher_prio_send_advert: a MASTER that hears a higher priority
/// advert sends one of its own before it yields (the winner then answers with
/// gratuitous ARPs for a lower priority advert).
#[test]
fn higher_prio_send_advert_before_yielding() {
    for send in [false, true] {
        let mut c = cfg("a", 100, "10.0.0.1");
        c.higher_prio_send_advert = send;
        let mut lan = Lan::new(vec![c]);
        lan.start_all();
        lan.run_until(secs(4.5));
        let rx = Received {
            src: ip("10.0.0.7"),
            dst: ip("224.0.0.18"),
            packet: lan.nodes[0].advert_packet(200),
        };
        let mut out = vec![];
        let now = lan.now;
        lan.nodes[0].handle(now, Input::Advert(&rx), &mut out);
        assert_eq!(lan.nodes[0].state(), State::Backup);
        let adv = out
            .iter()
            .position(|a| matches!(a, Action::SendAdvert { priority: 100 }));
        let tr = out
            .iter()
            .position(|a| matches!(a, Action::Transition { .. }))
            .unwrap();
        assert_eq!(adv.is_some(), send);
        if let Some(a) = adv {
            assert!(a < tr, "the advert goes out before the transition");
        }
    }
}
