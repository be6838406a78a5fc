//! All instances of one daemon, and the `vrrp_sync_group` rules that move
//! group members together (keepalived's vrrp_sync.c, observed):
//! - a member going BACKUP (from MASTER) pulls the others to BACKUP;
//! - a member going FAULT pulls the others to FAULT, and they return when
//!   no member has a fault left;
//! - the group goes MASTER only when every member wants MASTER.

use std::collections::VecDeque;
use std::time::Instant;

use super::instance::{Action, Event, Instance, Params, State};

/// Index of an instance in its [`Router`].
pub type InstanceId = usize;

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub members: Vec<InstanceId>,
}

#[derive(Debug, Clone, Default)]
pub struct Router {
    instances: Vec<Instance>,
    groups: Vec<Group>,
    group_of: Vec<Option<usize>>,
}

/// Events the group rules generate for other members.
#[derive(Debug, Clone, Copy)]
enum GroupEvent {
    GoMaster,
    Backup,
    Fault(bool),
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    pub fn add_instance(&mut self, params: Params) -> InstanceId {
        self.instances.push(Instance::new(params));
        self.group_of.push(None);
        self.instances.len() - 1
    }

    /// Adds an instance that already runs (kept across a reload).
    pub fn add_existing(&mut self, mut instance: Instance) -> InstanceId {
        instance.set_in_group(false);
        self.instances.push(instance);
        self.group_of.push(None);
        self.instances.len() - 1
    }

    /// Declares a sync group; members must not be in another group.
    pub fn add_group(&mut self, name: &str, members: Vec<InstanceId>) {
        let gid = self.groups.len();
        for &m in &members {
            if let Some(slot) = self.group_of.get_mut(m) {
                *slot = Some(gid);
            }
            if let Some(i) = self.instances.get_mut(m) {
                i.set_in_group(true);
            }
        }
        self.groups.push(Group {
            name: name.to_string(),
            members,
        });
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    pub fn instance(&self, id: InstanceId) -> Option<&Instance> {
        self.instances.get(id)
    }

    pub fn instance_mut(&mut self, id: InstanceId) -> Option<&mut Instance> {
        self.instances.get_mut(id)
    }

    pub fn instances(&self) -> impl Iterator<Item = (InstanceId, &Instance)> {
        self.instances.iter().enumerate()
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    pub fn group_of(&self, id: InstanceId) -> Option<&Group> {
        self.group_of
            .get(id)
            .copied()
            .flatten()
            .and_then(|g| self.groups.get(g))
    }

    /// The group's state as keepalived reports it: MASTER only if all
    /// members are, FAULT if any is, else BACKUP.
    pub fn group_state(&self, g: &Group) -> State {
        let states: Vec<State> = g
            .members
            .iter()
            .filter_map(|&m| self.instances.get(m))
            .map(Instance::state)
            .collect();
        if states.contains(&State::Fault) {
            State::Fault
        } else if !states.is_empty() && states.iter().all(|s| *s == State::Master) {
            State::Master
        } else if states.iter().all(|s| *s == State::Init) {
            State::Init
        } else {
            State::Backup
        }
    }

    /// The earliest deadline of any instance.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.instances.iter().filter_map(Instance::poll_timeout).min()
    }

    /// Runs the timers of every instance whose deadline has passed.
    pub fn handle_timers(&mut self, now: Instant, out: &mut Vec<(InstanceId, Action)>) {
        for id in 0..self.instances.len() {
            if self.instances[id].poll_timeout().is_some_and(|t| t <= now) {
                self.handle(now, id, Event::Timer, out);
            }
        }
    }

    /// Feeds one event to one instance, then applies the group rules to
    /// what it did. Actions are appended tagged with their instance.
    pub fn handle(&mut self, now: Instant, id: InstanceId, event: Event<'_>, out: &mut Vec<(InstanceId, Action)>) {
        let mut queue: VecDeque<(InstanceId, GroupEvent)> = VecDeque::new();
        self.one(now, id, event, out, &mut queue);
        // Group events may cascade; each moves a member at most once per
        // state, so this terminates.
        let mut guard = 0;
        while let Some((m, ev)) = queue.pop_front() {
            guard += 1;
            if guard > 16 * self.instances.len().max(1) {
                break;
            }
            let e = match ev {
                GroupEvent::GoMaster => Event::GroupGoMaster,
                GroupEvent::Backup => Event::GroupBackup,
                GroupEvent::Fault(f) => Event::GroupFault(f),
            };
            self.one(now, m, e, out, &mut queue);
        }
    }

    fn one(
        &mut self,
        now: Instant,
        id: InstanceId,
        event: Event<'_>,
        out: &mut Vec<(InstanceId, Action)>,
        queue: &mut VecDeque<(InstanceId, GroupEvent)>,
    ) {
        let Some(inst) = self.instances.get_mut(id) else {
            return;
        };
        let mut actions = Vec::new();
        inst.handle(now, event, &mut actions);
        if let Some(gid) = self.group_of.get(id).copied().flatten() {
            let members = self.groups[gid].members.clone();
            // A member with a fault of its own holds every other member in
            // FAULT; they leave it when no other member has one.
            for &m in &members {
                let others = members.iter().any(|&n| n != m && self.instances[n].is_faulted());
                if self.instances[m].group_faulted() != others {
                    queue.push_back((m, GroupEvent::Fault(others)));
                }
            }
            for a in &actions {
                match a {
                    Action::StateChange {
                        from: State::Master,
                        to: State::Backup,
                        ..
                    } => {
                        for &m in members.iter().filter(|&&m| m != id) {
                            if self.instances[m].state() == State::Master || self.instances[m].wants_master() {
                                queue.push_back((m, GroupEvent::Backup));
                            }
                        }
                    }
                    Action::WantMaster => {
                        let all = members
                            .iter()
                            .all(|&m| self.instances[m].wants_master() || self.instances[m].state() == State::Master);
                        if all {
                            for &m in &members {
                                if self.instances[m].state() == State::Backup {
                                    queue.push_back((m, GroupEvent::GoMaster));
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        out.extend(actions.into_iter().map(|a| (id, a)));
    }
}
