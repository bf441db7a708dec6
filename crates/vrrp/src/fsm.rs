//! Sans-IO VRRP state machine (RFC 3768 §6.4 for v2, RFC 9568 §6.4 for v3),
//! following keepalived where the RFCs leave room (FAULT state, preempt
//! delay, gratuitous ARP scheduling, answering lower priority masters).
//!
//! The caller owns the clock and the sockets: it feeds [`Input`]s with the
//! current [`Instant`], sleeps until [`Instance::poll_timeout`], calls
//! [`Instance::handle_timeout`], and executes the returned [`Action`]s in order.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::packet::{AdverInt, Auth, Packet, Received, Version};

/// Priority of the address owner (RFC 3768 §5.3.4).
pub const PRIORITY_OWNER: u8 = 255;
/// Priority a master sends when it stops being master (RFC 3768 §5.3.4).
pub const PRIORITY_STOP: u8 = 0;

/// VRRP instance state. `Fault` and `Stop` are keepalived additions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Init,
    Backup,
    Master,
    Fault,
    Stop,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stop => "STOP",
        })
    }
}

/// Gratuitous ARP / unsolicited NA scheduling while MASTER (keepalived's
/// `garp_master_*` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarpConfig {
    /// Delay of the second burst after becoming MASTER; zero disables it.
    pub delay: Duration,
    /// Copies per burst at transition and after `delay`.
    pub repeat: u32,
    /// Period of refresh bursts while MASTER, if any.
    pub refresh: Option<Duration>,
    /// Copies per refresh burst.
    pub refresh_repeat: u32,
    /// Spacing of the copies inside one burst (applied by the adapter).
    pub interval: Duration,
    /// Copies sent when a MASTER hears a lower priority advert (keepalived's
    /// garp_lower_prio_repeat): the other side may have been MASTER (a healed
    /// split brain) and the LAN's caches may point at it. Zero disables.
    pub lower_prio_repeat: u32,
    /// Delay of the second such burst; zero disables it.
    pub lower_prio_delay: Duration,
}

impl Default for GarpConfig {
    fn default() -> Self {
        GarpConfig {
            delay: Duration::from_secs(5),
            repeat: 5,
            refresh: None,
            refresh_repeat: 1,
            interval: Duration::ZERO,
            lower_prio_repeat: 5,
            lower_prio_delay: Duration::from_secs(5),
        }
    }
}

/// Static configuration of one VRRP instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    pub name: String,
    pub vrid: u8,
    pub version: Version,
    /// Address family of the instance (adverts of the other family are dropped).
    pub ipv6: bool,
    /// Configured base priority, 1..=255 (255 = address owner).
    pub priority: u8,
    /// v2: whole seconds; v3: centisecond resolution.
    pub advert_int: Duration,
    /// `false` for `nopreempt`.
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// `state MASTER`: only informative, a non-owner still starts as BACKUP.
    pub start_master: bool,
    /// v3 always [`Auth::None`].
    pub auth: Auth,
    /// Addresses carried in adverts (not the excluded ones).
    pub vips: Vec<IpAddr>,
    /// Skip the address list check for adverts from the current master.
    pub skip_check_adv_addr: bool,
    /// Empty means multicast; otherwise adverts from other sources are dropped.
    pub unicast_peers: Vec<IpAddr>,
    /// Advert source; decides equal-priority elections.
    pub local_addr: IpAddr,
    pub garp: GarpConfig,
    /// Don't answer a lower priority master's advert with our own (pre-RFC 9568).
    pub lower_prio_no_advert: bool,
    /// keepalived's higher_prio_send_advert: a MASTER yielding to a higher
    /// priority advert first sends one of its own, so that the winner hears a
    /// lower priority and refreshes the LAN's ARP caches (a healed split
    /// brain where the loser heard the winner first).
    pub higher_prio_send_advert: bool,
}

/// Something that happened to the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// Daemon start: leaves INIT.
    Start,
    /// An advert that passed the codec's checks (TTL, checksum, length).
    Advert(&'a Received),
    /// New effective priority from tracking (see [`crate::track::TrackSet`]).
    Priority(u8),
    /// `true`: a tracked object without weight failed; `false`: it recovered.
    Fault(bool),
    /// Graceful stop.
    Shutdown,
    /// Sync group decision (see [`crate::sync::SyncGroup`]).
    ForceState(State),
}

/// What the adapter must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send [`Instance::advert_packet`] with this priority.
    SendAdvert {
        priority: u8,
    },
    /// Install VIPs (and virtual routes / rules).
    AddVips,
    RemoveVips,
    /// One burst of GARP / unsolicited NA for every VIP; the number of copies
    /// is [`Instance::garp_repeat`] (read right after the call that emitted it).
    SendGratuitous,
    /// State change, for logs, notify scripts and sync groups.
    Transition {
        from: State,
        to: State,
        reason: Reason,
    },
}

/// Why a [`Action::Transition`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Startup,
    MasterDown,
    HigherPriority {
        from: IpAddr,
        priority: u8,
    },
    EqualPriorityHigherAddress {
        from: IpAddr,
    },
    /// Master-down expired while a lower priority master was being ignored.
    Preempt,
    /// Master-down (skew time) expired after the master sent priority 0.
    PriorityZero,
    Fault,
    FaultCleared,
    Shutdown,
    Forced,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => f.write_str("instance started"),
            Reason::MasterDown => f.write_str("no advert from master within master-down interval"),
            Reason::HigherPriority { from, priority } => {
                write!(
                    f,
                    "received higher priority advert ({priority}) from {from}"
                )
            }
            Reason::EqualPriorityHigherAddress { from } => {
                write!(
                    f,
                    "received equal priority advert from higher address {from}"
                )
            }
            Reason::Preempt => f.write_str("preempting lower priority master"),
            Reason::PriorityZero => f.write_str("master released (priority 0 advert)"),
            Reason::Fault => f.write_str("tracked object failed"),
            Reason::FaultCleared => f.write_str("fault cleared"),
            Reason::Shutdown => f.write_str("shutting down"),
            Reason::Forced => f.write_str("forced by sync group"),
        }
    }
}

/// Per-instance statistics. `drops` is keyed by a stable reason label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub adverts_rx: u64,
    pub adverts_tx: u64,
    pub transitions: u64,
    pub became_master: u64,
    /// Transitions out of MASTER (keepalived's `release_master`).
    pub released_master: u64,
    pub priority_zero_rx: u64,
    pub priority_zero_tx: u64,
    pub drops: BTreeMap<&'static str, u64>,
}

/// What the last accepted advert told a BACKUP, to name the takeover reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastRx {
    Normal,
    PriorityZero,
    Lower,
}

/// One VRRP instance (one VRID on one interface and family).
#[derive(Debug, Clone)]
pub struct Instance {
    cfg: InstanceConfig,
    state: State,
    priority: u8,
    own_fault: bool,
    forced_fault: bool,
    master_addr: Option<IpAddr>,
    master_adver_int: Duration,
    last_rx: LastRx,
    /// keepalived's `preempt_time`: lower priority adverts still reset the
    /// master-down timer until this passes; `None` = not armed.
    preempt_until: Option<Instant>,
    advert_at: Option<Instant>,
    master_down_at: Option<Instant>,
    garp_delay_at: Option<Instant>,
    /// Copies of the burst due at `garp_delay_at`.
    garp_delay_repeat: u32,
    garp_refresh_at: Option<Instant>,
    garp_repeat: u32,
    counters: Counters,
}

impl Instance {
    pub fn new(cfg: InstanceConfig) -> Self {
        let priority = cfg.priority.max(1);
        let master_adver_int = cfg.advert_int;
        let garp_repeat = cfg.garp.repeat;
        Instance {
            cfg,
            state: State::Init,
            priority,
            own_fault: false,
            forced_fault: false,
            master_addr: None,
            master_adver_int,
            last_rx: LastRx::Normal,
            preempt_until: None,
            advert_at: None,
            master_down_at: None,
            garp_delay_at: None,
            garp_delay_repeat: 0,
            garp_refresh_at: None,
            garp_repeat,
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    /// Takes a changed configuration of the same router (a reload) without
    /// leaving the current state: a MASTER stays MASTER, its timers run on.
    /// The new priority comes in as [`Input::Priority`] afterwards.
    pub fn reconfigure(&mut self, cfg: InstanceConfig) {
        if self.state == State::Master || self.cfg.version == Version::V2 {
            self.master_adver_int = cfg.advert_int;
        }
        if self.state == State::Master {
            self.master_addr = Some(cfg.local_addr);
        }
        self.cfg = cfg;
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn effective_priority(&self) -> u8 {
        self.priority
    }

    /// Last known master; ourselves while MASTER.
    pub fn master_addr(&self) -> Option<IpAddr> {
        self.master_addr
    }

    /// v3: learnt from the current master's adverts; v2: the configured interval.
    pub fn master_adver_int(&self) -> Duration {
        self.master_adver_int
    }

    /// `3 * Master_Adver_Interval + Skew_Time`.
    pub fn master_down_interval(&self) -> Duration {
        self.master_adver_int * 3 + self.skew_time()
    }

    /// RFC 3768 §6.1 / RFC 9568 §6.1, computed in microseconds like keepalived.
    pub fn skew_time(&self) -> Duration {
        let weight = 256 - u64::from(self.priority);
        let micros = match self.cfg.version {
            Version::V2 => weight * 1_000_000 / 256,
            Version::V3 => {
                let centis = self.master_adver_int.as_millis() as u64 / 10;
                weight * centis * 625 / 16
            }
        };
        Duration::from_micros(micros)
    }

    /// True while a tracked object of this instance itself is failed.
    pub fn own_fault(&self) -> bool {
        self.own_fault
    }

    /// True while a sync group holds this instance in FAULT.
    pub fn forced_fault(&self) -> bool {
        self.forced_fault
    }

    /// Copies to send for the most recent [`Action::SendGratuitous`]:
    /// `garp.repeat`, or `garp.refresh_repeat` for a refresh burst.
    pub fn garp_repeat(&self) -> u32 {
        self.garp_repeat
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Earliest pending deadline; `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.advert_at,
            self.master_down_at,
            self.garp_delay_at,
            self.garp_refresh_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The advertisement to send with `priority`.
    pub fn advert_packet(&self, priority: u8) -> Packet {
        let adver_int = match self.cfg.version {
            Version::V2 => AdverInt::Seconds(
                u8::try_from(self.cfg.advert_int.as_secs())
                    .unwrap_or(u8::MAX)
                    .max(1),
            ),
            Version::V3 => AdverInt::Centis(
                u16::try_from(self.cfg.advert_int.as_millis() / 10)
                    .unwrap_or(0x0fff)
                    .clamp(1, 0x0fff),
            ),
        };
        let auth = match self.cfg.version {
            Version::V2 => self.cfg.auth,
            Version::V3 => Auth::None,
        };
        Packet {
            version: self.cfg.version,
            vrid: self.cfg.vrid,
            priority,
            auth,
            adver_int,
            addresses: self.cfg.vips.clone(),
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input<'_>, out: &mut Vec<Action>) {
        match input {
            Input::Start => self.start(now, out),
            Input::Advert(rx) => self.receive(now, rx, out),
            Input::Priority(p) => self.set_priority(p, now, out),
            Input::Fault(true) => {
                self.own_fault = true;
                self.enter_fault(Reason::Fault, out);
            }
            Input::Fault(false) => {
                self.own_fault = false;
                self.leave_fault(now, Reason::FaultCleared, out);
            }
            Input::Shutdown => self.shutdown(out),
            Input::ForceState(to) => self.force(now, to, out),
        }
    }

    /// Fires every deadline `<= now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Backup => {
                if self.master_down_at.is_some_and(|t| t <= now) {
                    let reason = match self.last_rx {
                        LastRx::Normal => Reason::MasterDown,
                        LastRx::PriorityZero => Reason::PriorityZero,
                        LastRx::Lower => Reason::Preempt,
                    };
                    self.become_master(now, reason, out);
                }
            }
            State::Master => {
                if let Some(t) = self.advert_at.filter(|t| *t <= now) {
                    self.send_advert(self.priority, out);
                    self.advert_at = Some(next_after(t, self.cfg.advert_int, now));
                }
                let mut garp = None;
                if self.garp_delay_at.is_some_and(|t| t <= now) {
                    self.garp_delay_at = None;
                    garp = Some(self.garp_delay_repeat);
                }
                if let Some(t) = self.garp_refresh_at.filter(|t| *t <= now) {
                    let period = self.cfg.garp.refresh.unwrap_or(Duration::MAX);
                    self.garp_refresh_at =
                        t.checked_add(period)
                            .map(|n| if n <= now { now + period } else { n });
                    garp = Some(garp.map_or(self.cfg.garp.refresh_repeat, |r| {
                        r.max(self.cfg.garp.refresh_repeat)
                    }));
                }
                if let Some(repeat) = garp {
                    self.garp_repeat = repeat;
                    out.push(Action::SendGratuitous);
                }
            }
            State::Init | State::Fault | State::Stop => {}
        }
    }

    // -- inputs -------------------------------------------------------------

    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state != State::Init {
            return;
        }
        if self.own_fault {
            self.transition(State::Fault, Reason::Fault, out);
        } else if self.forced_fault {
            self.transition(State::Fault, Reason::Forced, out);
        } else if self.priority == PRIORITY_OWNER {
            self.become_master(now, Reason::Startup, out);
        } else {
            self.become_backup(now, Reason::Startup, out);
        }
    }

    fn set_priority(&mut self, p: u8, now: Instant, out: &mut Vec<Action>) {
        let p = p.max(1);
        if p == self.priority {
            return;
        }
        self.priority = p;
        if self.state == State::Master {
            // keepalived announces a priority change at once; the advert
            // timer restarts from this advert.
            self.send_advert(p, out);
            self.advert_at = Some(now + self.cfg.advert_int);
        }
    }

    fn receive(&mut self, now: Instant, rx: &Received, out: &mut Vec<Action>) {
        if let Some(reason) = self.check(rx) {
            *self.counters.drops.entry(reason).or_default() += 1;
            return;
        }
        self.counters.adverts_rx += 1;
        let prio = rx.packet.priority;
        if prio == PRIORITY_STOP {
            self.counters.priority_zero_rx += 1;
        }
        match self.state {
            State::Backup => self.backup_rx(now, rx),
            State::Master => self.master_rx(now, rx, out),
            _ => {}
        }
    }

    /// Receive-side checks the codec cannot do; `Some(label)` drops.
    fn check(&self, rx: &Received) -> Option<&'static str> {
        let p = &rx.packet;
        match self.state {
            State::Init => return Some("not_started"),
            State::Stop => return Some("stopped"),
            State::Fault => return Some("in_fault"),
            State::Backup | State::Master => {}
        }
        if rx.src.is_ipv6() != self.cfg.ipv6 {
            return Some("family_mismatch");
        }
        if rx.src == self.cfg.local_addr {
            return Some("own_packet");
        }
        if !self.cfg.unicast_peers.is_empty() && !self.cfg.unicast_peers.contains(&rx.src) {
            return Some("unknown_unicast_peer");
        }
        if p.vrid != self.cfg.vrid {
            return Some("vrid_mismatch");
        }
        if p.version != self.cfg.version {
            return Some("version_mismatch");
        }
        if self.cfg.version == Version::V2 {
            if p.auth.type_number() != self.cfg.auth.type_number() {
                return Some("auth_type_mismatch");
            }
            if let (Auth::Simple(got), Auth::Simple(want)) = (p.auth, self.cfg.auth) {
                if got != want {
                    return Some("auth_mismatch");
                }
            }
            if p.adver_int.as_centis() != self.advert_packet(0).adver_int.as_centis() {
                return Some("interval_mismatch");
            }
        }
        let skip_addrs = self.cfg.skip_check_adv_addr && self.master_addr == Some(rx.src);
        if !skip_addrs && !same_set(&p.addresses, &self.cfg.vips) {
            return Some("address_mismatch");
        }
        None
    }

    /// RFC 3768 §6.4.2 / RFC 9568 §6.4.2, plus keepalived's preempt_delay.
    fn backup_rx(&mut self, now: Instant, rx: &Received) {
        let prio = rx.packet.priority;
        if prio == PRIORITY_STOP {
            self.last_rx = LastRx::PriorityZero;
            self.master_down_at = Some(now + self.skew_time());
            return;
        }
        let lower = prio < self.priority;
        if !lower || !self.cfg.preempt {
            if prio > self.priority {
                self.preempt_until = None;
            }
            self.accept_master(now, rx);
            return;
        }
        // A lower priority master and we may preempt it: wait out the
        // preempt delay first (it starts at startup or at the first lower
        // priority advert after a higher priority one).
        if !self.cfg.preempt_delay.is_zero() {
            let until = *self
                .preempt_until
                .get_or_insert(now + self.cfg.preempt_delay);
            if now < until {
                self.accept_master(now, rx);
                return;
            }
        }
        self.last_rx = LastRx::Lower;
    }

    fn accept_master(&mut self, now: Instant, rx: &Received) {
        self.last_rx = LastRx::Normal;
        self.master_addr = Some(rx.src);
        if self.cfg.version == Version::V3 {
            // A zero interval would make the master-down timer fire at once.
            let centis = rx.packet.adver_int.as_centis().max(1);
            self.master_adver_int = Duration::from_millis(u64::from(centis) * 10);
        }
        self.master_down_at = Some(now + self.master_down_interval());
    }

    /// RFC 3768 §6.4.3 / RFC 9568 §6.4.3.
    fn master_rx(&mut self, now: Instant, rx: &Received, out: &mut Vec<Action>) {
        let prio = rx.packet.priority;
        if prio == PRIORITY_STOP {
            self.send_advert(self.priority, out);
            self.advert_at = Some(now + self.cfg.advert_int);
            return;
        }
        let reason = if prio > self.priority {
            Some(Reason::HigherPriority {
                from: rx.src,
                priority: prio,
            })
        } else if prio == self.priority && rx.src > self.cfg.local_addr {
            Some(Reason::EqualPriorityHigherAddress { from: rx.src })
        } else {
            None
        };
        match reason {
            Some(reason) => {
                if self.cfg.higher_prio_send_advert {
                    self.send_advert(self.priority, out);
                }
                self.become_backup(now, reason, out);
                self.accept_master(now, rx);
            }
            None => {
                if !self.cfg.lower_prio_no_advert {
                    // keepalived (and RFC 9568): make the lower priority
                    // router see us at once so it yields.
                    self.send_advert(self.priority, out);
                    self.advert_at = Some(now + self.cfg.advert_int);
                }
                let g = &self.cfg.garp;
                if g.lower_prio_repeat > 0 {
                    self.garp_repeat = g.lower_prio_repeat;
                    out.push(Action::SendGratuitous);
                    if !g.lower_prio_delay.is_zero() {
                        self.garp_delay_at = Some(now + g.lower_prio_delay);
                        self.garp_delay_repeat = g.lower_prio_repeat;
                    }
                }
            }
        }
    }

    fn shutdown(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Stop {
            return;
        }
        if self.state == State::Master {
            self.send_advert(PRIORITY_STOP, out);
            out.push(Action::RemoveVips);
        }
        self.clear_timers();
        self.transition(State::Stop, Reason::Shutdown, out);
    }

    fn force(&mut self, now: Instant, to: State, out: &mut Vec<Action>) {
        match (self.state, to) {
            (State::Stop, _) => {}
            // Not started yet: only remember the group's fault for Start.
            (State::Init, _) => self.forced_fault = to == State::Fault,
            (_, State::Fault) => {
                self.forced_fault = true;
                self.enter_fault(Reason::Forced, out);
            }
            (State::Fault, State::Backup | State::Master) => {
                self.forced_fault = false;
                self.leave_fault(now, Reason::Forced, out);
            }
            (State::Backup, State::Master) => self.become_master(now, Reason::Forced, out),
            (State::Master, State::Backup) => self.become_backup(now, Reason::Forced, out),
            _ => {}
        }
    }

    // -- state changes ------------------------------------------------------

    fn enter_fault(&mut self, reason: Reason, out: &mut Vec<Action>) {
        match self.state {
            State::Init | State::Fault | State::Stop => return,
            State::Master => {
                // keepalived releases the VIPs loudly so a backup takes over
                // after its skew time rather than the full master-down.
                self.send_advert(PRIORITY_STOP, out);
                out.push(Action::RemoveVips);
            }
            State::Backup => {}
        }
        self.clear_timers();
        self.master_addr = None;
        self.transition(State::Fault, reason, out);
    }

    fn leave_fault(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        if self.state != State::Fault || self.own_fault || self.forced_fault {
            return;
        }
        if self.priority == PRIORITY_OWNER {
            self.become_master(now, reason, out);
        } else {
            self.become_backup(now, reason, out);
        }
    }

    fn become_master(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        self.clear_timers();
        self.master_addr = Some(self.cfg.local_addr);
        self.master_adver_int = self.cfg.advert_int;
        self.last_rx = LastRx::Normal;
        self.preempt_until = None;
        self.send_advert(self.priority, out);
        out.push(Action::AddVips);
        self.garp_repeat = self.cfg.garp.repeat;
        out.push(Action::SendGratuitous);
        self.advert_at = Some(now + self.cfg.advert_int);
        if !self.cfg.garp.delay.is_zero() {
            self.garp_delay_at = Some(now + self.cfg.garp.delay);
            self.garp_delay_repeat = self.cfg.garp.repeat;
        }
        self.garp_refresh_at = self
            .cfg
            .garp
            .refresh
            .filter(|r| !r.is_zero())
            .map(|r| now + r);
        self.counters.became_master += 1;
        self.transition(State::Master, reason, out);
    }

    fn become_backup(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        if from == State::Master {
            out.push(Action::RemoveVips);
            self.master_addr = None;
        }
        if from != State::Master {
            // Startup / fault recovery: the preempt delay runs from here.
            self.preempt_until =
                (!self.cfg.preempt_delay.is_zero()).then(|| now + self.cfg.preempt_delay);
        }
        self.clear_timers();
        self.last_rx = LastRx::Normal;
        if self.cfg.version == Version::V3 && from != State::Master {
            self.master_adver_int = self.cfg.advert_int;
        }
        self.master_down_at = Some(now + self.master_down_interval());
        self.transition(State::Backup, reason, out);
    }

    fn transition(&mut self, to: State, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.counters.transitions += 1;
        if from == State::Master && to != State::Master {
            self.counters.released_master += 1;
        }
        out.push(Action::Transition { from, to, reason });
    }

    fn send_advert(&mut self, priority: u8, out: &mut Vec<Action>) {
        self.counters.adverts_tx += 1;
        if priority == PRIORITY_STOP {
            self.counters.priority_zero_tx += 1;
        }
        out.push(Action::SendAdvert { priority });
    }

    fn clear_timers(&mut self) {
        self.advert_at = None;
        self.master_down_at = None;
        self.garp_delay_at = None;
        self.garp_refresh_at = None;
    }
}

/// Next periodic deadline after `prev`, skipping missed periods.
fn next_after(prev: Instant, period: Duration, now: Instant) -> Instant {
    let next = prev + period;
    if next <= now {
        now + period
    } else {
        next
    }
}

fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}
