//! vrrp_sync_group: instances that change state together.
//!
//! Rules (keepalived's): a member becoming MASTER pulls the others to MASTER,
//! a member leaving MASTER for BACKUP pulls the others to BACKUP, any member
//! with its own fault holds the whole group in FAULT, and once no member has
//! a fault of its own the group returns to BACKUP.

use std::time::Instant;

use crate::fsm::{Action, Input, Instance, Reason, State};

/// A sync group over a slice of instances owned by the daemon.
///
/// Usage from a daemon loop, with `instances: Vec<Instance>` and one action
/// buffer per instance (`actions: Vec<Vec<Action>>`, same indices):
///
/// ```text
/// instances[i].handle(now, input, &mut actions[i]);   // or handle_timeout
/// for g in groups_containing(i) { g.react(now, &mut instances, &mut actions); }
/// for (j, acts) in actions.iter_mut().enumerate() { execute(j, acts.drain(..)); }
/// ```
///
/// Call [`SyncGroup::react`] after *every* input or timeout of a member, even
/// when no transition was emitted: clearing a fault is noticed through the
/// members' fault flags, not through actions. `react` only appends to the
/// buffers, so the member's own actions keep their order and the forced
/// members' actions follow in theirs. Forced transitions carry
/// [`Reason::Forced`] and never propagate again, so one call settles the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    /// Indices into the daemon's instance slice.
    pub members: Vec<usize>,
}

impl SyncGroup {
    pub fn new(name: impl Into<String>, members: Vec<usize>) -> Self {
        SyncGroup {
            name: name.into(),
            members,
        }
    }

    /// The group state: FAULT if any member is, else MASTER if any member
    /// is, else BACKUP if any member is, else the first member's state.
    pub fn state(&self, instances: &[Instance]) -> Option<State> {
        let states: Vec<State> = self.members.iter().map(|&i| instances[i].state()).collect();
        [State::Fault, State::Master, State::Backup]
            .into_iter()
            .find(|s| states.contains(s))
            .or_else(|| states.first().copied())
    }

    /// Examines the members' pending actions and forces the other members
    /// accordingly, appending to `actions[member]`.
    ///
    /// `actions` must be indexed like `instances`.
    pub fn react(&self, now: Instant, instances: &mut [Instance], actions: &mut [Vec<Action>]) {
        let force = |i: usize, to: State, instances: &mut [Instance], a: &mut [Vec<Action>]| {
            instances[i].handle(now, Input::ForceState(to), &mut a[i]);
        };

        if self.members.iter().any(|&i| instances[i].own_fault()) {
            for &i in &self.members {
                if !instances[i].forced_fault() {
                    force(i, State::Fault, instances, actions);
                }
            }
            return;
        }

        // Which way did a member move on its own?
        let mut target = None;
        let mut joined = Vec::new();
        for &i in &self.members {
            for a in &actions[i] {
                if let Action::Transition { from, to, reason } = *a {
                    if reason == Reason::Forced {
                        continue;
                    }
                    match (from, to) {
                        (_, State::Master) => target = Some(State::Master),
                        (State::Master, State::Backup) => target = Some(State::Backup),
                        (State::Init, State::Backup) => joined.push(i),
                        _ => {}
                    }
                }
            }
        }

        // No member has a fault of its own any more: release the group.
        for &i in &self.members {
            if instances[i].forced_fault() {
                force(i, State::Backup, instances, actions);
            }
        }

        // A member that just started joins a group already MASTER.
        let group_master = self
            .members
            .iter()
            .any(|&i| instances[i].state() == State::Master);
        if target.is_none() && group_master {
            for i in joined {
                force(i, State::Master, instances, actions);
            }
        }

        if let Some(to) = target {
            let from = match to {
                State::Master => State::Backup,
                _ => State::Master,
            };
            for &i in &self.members {
                if instances[i].state() == from {
                    force(i, to, instances, actions);
                }
            }
        }
    }
}
