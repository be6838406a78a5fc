//! All instances of one daemon, one slot each, and the `vrrp_sync_group`
//! rules that move group members together (keepalived's vrrp_sync.c,
//! observed):
//! - a member going BACKUP (from MASTER) pulls the others to BACKUP;
//! - a member going FAULT pulls the others to FAULT, and they return when
//!   no member has a fault left;
//! - the group goes MASTER only when every member wants MASTER.
//!
//! A slot holds the engine's [`Instance`] and the driver's own data `S`
//! for it (sockets, interfaces, tracking): one index space, no parallel
//! vectors to keep aligned.

use std::collections::VecDeque;
use std::time::Instant;

use super::instance::{Action, Event, Instance, Note, Output, Params, State};

/// The index of an instance's slot in its [`Router`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(u32);

impl InstanceId {
    pub fn index(self) -> usize {
        self.0 as usize
    }

    fn from_index(i: usize) -> InstanceId {
        InstanceId(u32::try_from(i).unwrap_or(u32::MAX))
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub members: Vec<InstanceId>,
}

#[derive(Debug, Clone)]
struct Slot<S> {
    instance: Instance,
    group: Option<usize>,
    data: S,
}

/// What one call of [`Router::handle`] produced, tagged by instance; the
/// contract of [`Instance::handle`] holds for each instance's share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterOutput {
    pub actions: Vec<(InstanceId, Action)>,
    pub notes: Vec<(InstanceId, Note)>,
}

impl RouterOutput {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.notes.is_empty()
    }

    fn extend(&mut self, id: InstanceId, out: Output) {
        self.actions.extend(out.actions.into_iter().map(|a| (id, a)));
        self.notes.extend(out.notes.into_iter().map(|n| (id, n)));
    }
}

#[derive(Debug, Clone)]
pub struct Router<S = ()> {
    slots: Vec<Slot<S>>,
    groups: Vec<Group>,
}

impl<S> Default for Router<S> {
    fn default() -> Self {
        Router {
            slots: Vec::new(),
            groups: Vec::new(),
        }
    }
}

/// Events the group rules generate for other members.
#[derive(Debug, Clone, Copy)]
enum GroupEvent {
    GoMaster,
    Backup,
    Fault(bool),
}

impl<S> Router<S> {
    pub fn new() -> Router<S> {
        Router::default()
    }

    /// Adds an instance (new, or kept across a reload) with its data.
    pub fn add(&mut self, mut instance: Instance, data: S) -> InstanceId {
        instance.set_in_group(false);
        self.slots.push(Slot {
            instance,
            group: None,
            data,
        });
        InstanceId::from_index(self.slots.len() - 1)
    }

    /// Adds a fresh instance.
    pub fn add_instance(&mut self, params: Params) -> InstanceId
    where
        S: Default,
    {
        self.add(Instance::new(params), S::default())
    }

    /// Declares a sync group; members must not be in another group.
    pub fn add_group(&mut self, name: &str, members: Vec<InstanceId>) {
        let gid = self.groups.len();
        for &m in &members {
            if let Some(slot) = self.slots.get_mut(m.index()) {
                slot.group = Some(gid);
                slot.instance.set_in_group(true);
            }
        }
        self.groups.push(Group {
            name: name.to_string(),
            members,
        });
    }

    /// Takes every slot out, in id order (a reload rebuilds the router).
    pub fn into_slots(self) -> impl Iterator<Item = (Instance, S)> {
        self.slots.into_iter().map(|s| (s.instance, s.data))
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = InstanceId> {
        (0..self.slots.len()).map(InstanceId::from_index)
    }

    pub fn instance(&self, id: InstanceId) -> Option<&Instance> {
        self.slots.get(id.index()).map(|s| &s.instance)
    }

    pub fn instance_mut(&mut self, id: InstanceId) -> Option<&mut Instance> {
        self.slots.get_mut(id.index()).map(|s| &mut s.instance)
    }

    pub fn data(&self, id: InstanceId) -> Option<&S> {
        self.slots.get(id.index()).map(|s| &s.data)
    }

    pub fn data_mut(&mut self, id: InstanceId) -> Option<&mut S> {
        self.slots.get_mut(id.index()).map(|s| &mut s.data)
    }

    /// Both halves of a slot.
    pub fn get(&self, id: InstanceId) -> Option<(&Instance, &S)> {
        self.slots.get(id.index()).map(|s| (&s.instance, &s.data))
    }

    pub fn instances(&self) -> impl Iterator<Item = (InstanceId, &Instance)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| (InstanceId::from_index(i), &s.instance))
    }

    pub fn iter(&self) -> impl Iterator<Item = (InstanceId, &Instance, &S)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| (InstanceId::from_index(i), &s.instance, &s.data))
    }

    pub fn data_iter_mut(&mut self) -> impl Iterator<Item = (InstanceId, &mut S)> {
        self.slots
            .iter_mut()
            .enumerate()
            .map(|(i, s)| (InstanceId::from_index(i), &mut s.data))
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    pub fn group_of(&self, id: InstanceId) -> Option<&Group> {
        self.slots
            .get(id.index())
            .and_then(|s| s.group)
            .and_then(|g| self.groups.get(g))
    }

    /// The group's state as keepalived reports it: MASTER only if all
    /// members are, FAULT if any is, else BACKUP.
    pub fn group_state(&self, g: &Group) -> State {
        let states: Vec<State> = g
            .members
            .iter()
            .filter_map(|&m| self.instance(m))
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
        self.slots.iter().filter_map(|s| s.instance.poll_timeout()).min()
    }

    /// Runs the timers of every instance whose deadline has passed.
    pub fn handle_timers(&mut self, now: Instant, out: &mut RouterOutput) {
        for i in 0..self.slots.len() {
            if self.slots[i].instance.poll_timeout().is_some_and(|t| t <= now) {
                self.handle(now, InstanceId::from_index(i), Event::Timer, out);
            }
        }
    }

    /// Feeds one event to one instance, then applies the group rules to
    /// what it did. Output is appended tagged with its instance.
    pub fn handle(&mut self, now: Instant, id: InstanceId, event: Event<'_>, out: &mut RouterOutput) {
        let mut queue: VecDeque<(InstanceId, GroupEvent)> = VecDeque::new();
        self.one(now, id, event, out, &mut queue);
        // Group events may cascade; each moves a member at most once per
        // state, so this terminates.
        let mut guard = 0;
        while let Some((m, ev)) = queue.pop_front() {
            guard += 1;
            if guard > 16 * self.slots.len().max(1) {
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

    fn member(&self, m: InstanceId) -> &Instance {
        &self.slots[m.index()].instance
    }

    fn one(
        &mut self,
        now: Instant,
        id: InstanceId,
        event: Event<'_>,
        out: &mut RouterOutput,
        queue: &mut VecDeque<(InstanceId, GroupEvent)>,
    ) {
        let Some(slot) = self.slots.get_mut(id.index()) else {
            return;
        };
        let mut own = Output::default();
        slot.instance.handle(now, event, &mut own);
        if let Some(gid) = slot.group {
            let members = self.groups[gid].members.clone();
            // A member with a fault of its own holds every other member in
            // FAULT; they leave it when no other member has one.
            for &m in &members {
                let others = members.iter().any(|&n| n != m && self.member(n).is_faulted());
                if self.member(m).group_faulted() != others {
                    queue.push_back((m, GroupEvent::Fault(others)));
                }
            }
            for a in &own.actions {
                if let Action::StateChange {
                    from: State::Master,
                    to: State::Backup,
                    ..
                } = a
                {
                    for &m in members.iter().filter(|&&m| m != id) {
                        if self.member(m).state() == State::Master || self.member(m).wants_master() {
                            queue.push_back((m, GroupEvent::Backup));
                        }
                    }
                }
            }
            if own.notes.contains(&Note::WantMaster) {
                let all = members
                    .iter()
                    .all(|&m| self.member(m).wants_master() || self.member(m).state() == State::Master);
                if all {
                    for &m in &members {
                        if self.member(m).state() == State::Backup {
                            queue.push_back((m, GroupEvent::GoMaster));
                        }
                    }
                }
            }
        }
        out.extend(id, own);
    }
}
