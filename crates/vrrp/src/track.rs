//! Effective priority and fault from tracked objects (track_script,
//! track_interface, track_file, track_process, track_bfd), as pure logic.
//!
//! Weight semantics follow keepalived.conf(5):
//!
//! | weight | reverse | object up  | object down |
//! |--------|---------|------------|-------------|
//! |  > 0   |   no    | prio + w   | –           |
//! |  < 0   |   no    | –          | prio − \|w\| |
//! |  > 0   |   yes   | prio − w   | –           |
//! |  < 0   |   yes   | –          | prio + \|w\| |
//! |  0     |   no    | –          | FAULT       |
//! |  0     |   yes   | FAULT      | –           |

/// One tracked object as configured on an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub name: String,
    /// 0: a failure puts the instance in FAULT instead of changing priority.
    pub weight: i32,
    pub reverse: bool,
}

/// Result of a track_file value for one instance (see [`file_weight`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEffect {
    Fault,
    Adjust(i32),
}

/// keepalived's track_file rule: with weight 0 any non-zero value is a
/// failure; otherwise `value * weight` is added to the priority, and a result
/// below -253 means FAULT. For `reverse`, pass the negated weight.
pub fn file_weight(value: i64, weight: i32) -> FileEffect {
    if weight == 0 {
        return if value == 0 {
            FileEffect::Adjust(0)
        } else {
            FileEffect::Fault
        };
    }
    let r = value.saturating_mul(i64::from(weight));
    if r < -253 {
        FileEffect::Fault
    } else {
        FileEffect::Adjust(r.min(254) as i32)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Up(bool),
    /// A track_file value.
    Value(i64),
}

/// The tracked objects of one instance and their current status (all start up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSet {
    base: u8,
    objects: Vec<(Tracked, Status)>,
}

impl TrackSet {
    pub fn new(base_priority: u8, objects: Vec<Tracked>) -> Self {
        TrackSet {
            base: base_priority,
            objects: objects.into_iter().map(|o| (o, Status::Up(true))).collect(),
        }
    }

    pub fn objects(&self) -> impl Iterator<Item = &Tracked> {
        self.objects.iter().map(|(o, _)| o)
    }

    /// Index of the object named `name`, for adapters keyed by name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.objects.iter().position(|(o, _)| o.name == name)
    }

    /// The up/down status of an object (None for a track_file value or out of range).
    pub fn is_up(&self, index: usize) -> Option<bool> {
        match self.objects.get(index)?.1 {
            Status::Up(u) => Some(u),
            Status::Value(_) => None,
        }
    }

    /// Records an up/down status; true when priority or fault changed.
    /// Out of range indices are ignored.
    pub fn set(&mut self, index: usize, up: bool) -> bool {
        self.update(index, Status::Up(up))
    }

    /// Records a track_file value (see [`file_weight`]); true on change.
    pub fn set_value(&mut self, index: usize, value: i64) -> bool {
        self.update(index, Status::Value(value))
    }

    fn update(&mut self, index: usize, status: Status) -> bool {
        let before = (self.effective_priority(), self.fault());
        match self.objects.get_mut(index) {
            Some((_, s)) => *s = status,
            None => return false,
        }
        before != (self.effective_priority(), self.fault())
    }

    /// Sum of the weights currently applied.
    pub fn adjustment(&self) -> i64 {
        self.objects
            .iter()
            .map(|(o, s)| match effect(o, *s) {
                FileEffect::Adjust(a) => i64::from(a),
                FileEffect::Fault => 0,
            })
            .sum()
    }

    /// Base priority plus weights, kept within 1..=254 when any weight
    /// applies; an address owner (255) stays 255 only while the sum is 0.
    pub fn effective_priority(&self) -> u8 {
        match self.adjustment() {
            0 => self.base,
            adj => (i64::from(self.base) + adj).clamp(1, 254) as u8,
        }
    }

    /// Some weight-0 object is failed (after `reverse`), or a track_file
    /// value requests FAULT.
    pub fn fault(&self) -> bool {
        self.objects
            .iter()
            .any(|(o, s)| effect(o, *s) == FileEffect::Fault)
    }
}

fn effect(o: &Tracked, s: Status) -> FileEffect {
    let sign = if o.reverse { -1 } else { 1 };
    match s {
        Status::Value(v) => file_weight(v, o.weight.saturating_mul(sign)),
        Status::Up(up) => match o.weight {
            0 if up != o.reverse => FileEffect::Adjust(0),
            0 => FileEffect::Fault,
            w if w > 0 && up => FileEffect::Adjust(w * sign),
            w if w < 0 && !up => FileEffect::Adjust(w * sign),
            _ => FileEffect::Adjust(0),
        },
    }
}

/// vrrp_script rise/fall filter: a script is up after `rise` consecutive
/// successes, down after `fall` consecutive failures. keepalived starts a
/// script up unless `init_fail` is configured (`init_up = false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFilter {
    rise: u32,
    fall: u32,
    up: bool,
    /// Consecutive results contradicting the current state.
    streak: u32,
}

impl ScriptFilter {
    pub fn new(rise: u32, fall: u32, init_up: bool) -> Self {
        ScriptFilter {
            rise: rise.max(1),
            fall: fall.max(1),
            up: init_up,
            streak: 0,
        }
    }

    /// Feeds one script result; `Some(new_state)` when the state flips.
    pub fn result(&mut self, ok: bool) -> Option<bool> {
        if ok == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if ok { self.rise } else { self.fall };
        if self.streak >= needed {
            self.up = ok;
            self.streak = 0;
            Some(ok)
        } else {
            None
        }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(weight: i32, reverse: bool) -> Tracked {
        Tracked {
            name: format!("o{weight}{reverse}"),
            weight,
            reverse,
        }
    }

    #[test]
    fn weight_table() {
        // (weight, reverse, prio when up, prio when down)
        for (w, rev, up, down) in [
            (10, false, 110, 100),
            (-10, false, 100, 90),
            (10, true, 90, 100),
            (-10, true, 100, 110),
        ] {
            let mut s = TrackSet::new(100, vec![t(w, rev)]);
            assert_eq!(s.effective_priority(), up, "{w} {rev}");
            s.set(0, false);
            assert_eq!(s.effective_priority(), down, "{w} {rev}");
            assert!(!s.fault());
        }
    }

    #[test]
    fn weight_zero_faults() {
        let mut s = TrackSet::new(100, vec![t(0, false), t(0, true)]);
        assert!(s.fault(), "reverse weight 0 faults while up");
        assert!(s.set(1, false));
        assert!(!s.fault());
        assert!(!s.set(1, false), "no change");
        assert!(s.set(0, false));
        assert!(s.fault());
        assert_eq!(s.effective_priority(), 100);
    }

    #[test]
    fn clamping_and_owner() {
        let mut s = TrackSet::new(250, vec![t(20, false)]);
        assert_eq!(s.effective_priority(), 254);
        let mut o = TrackSet::new(255, vec![t(-50, false)]);
        assert_eq!(o.effective_priority(), 255);
        assert!(o.set(0, false));
        assert_eq!(o.effective_priority(), 205);
        s.set(0, false);
        let mut low = TrackSet::new(5, vec![t(-100, false)]);
        low.set(0, false);
        assert_eq!(low.effective_priority(), 1);
    }

    #[test]
    fn track_file_values() {
        assert_eq!(file_weight(0, 0), FileEffect::Adjust(0));
        assert_eq!(file_weight(3, 0), FileEffect::Fault);
        assert_eq!(file_weight(-5, 10), FileEffect::Adjust(-50));
        assert_eq!(file_weight(-30, 10), FileEffect::Fault);
        let mut s = TrackSet::new(100, vec![t(2, false)]);
        assert!(s.set_value(0, 7));
        assert_eq!(s.effective_priority(), 114);
        assert!(s.set_value(0, -200));
        assert!(s.fault());
    }

    #[test]
    fn script_rise_fall() {
        let mut f = ScriptFilter::new(2, 3, true);
        assert!(f.is_up());
        assert_eq!(f.result(false), None);
        assert_eq!(f.result(false), None);
        assert_eq!(f.result(true), None, "a success resets the fall count");
        assert_eq!(f.result(false), None);
        assert_eq!(f.result(false), None);
        assert_eq!(f.result(false), Some(false));
        assert_eq!(f.result(true), None);
        assert_eq!(f.result(true), Some(true));
        let mut g = ScriptFilter::new(1, 1, false);
        assert!(!g.is_up());
        assert_eq!(g.result(true), Some(true));
    }
}
