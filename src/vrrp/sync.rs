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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
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

    fn extend(&mut self, id: InstanceId, out: &mut Output) {
        self.actions.extend(out.actions.drain(..).map(|a| (id, a)));
        self.notes.extend(out.notes.drain(..).map(|n| (id, n)));
    }
}

#[derive(Debug, Clone)]
pub struct Router<S = ()> {
    slots: Vec<Slot<S>>,
    groups: Vec<Group>,
    deadlines: Deadlines,
    /// Reused for each instance's output: no allocation per advert.
    scratch: Output,
}

impl<S> Default for Router<S> {
    fn default() -> Self {
        Router {
            slots: Vec::new(),
            groups: Vec::new(),
            deadlines: Deadlines::default(),
            scratch: Output::default(),
        }
    }
}

/// Every instance's next deadline, in time order: the earliest is the
/// loop's next wake-up, and the due ones are found without visiting the
/// others (with 255 instances at 10 ms, scanning all of them at every
/// wake-up cost more than the adverts). A binary heap whose outdated
/// entries are dropped when they reach the top: moving a deadline is one
/// push.
#[derive(Debug, Clone, Default)]
struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    of: Vec<Option<Instant>>,
    /// The instances due at one wake, kept for the next (no allocation
    /// per wake).
    due: Vec<usize>,
}

impl Deadlines {
    fn set(&mut self, i: usize, t: Option<Instant>) {
        if self.of.len() <= i {
            self.of.resize(i + 1, None);
        }
        if self.of[i] == t {
            return;
        }
        self.of[i] = t;
        if let Some(t) = t {
            self.heap.push(Reverse((t, i)));
        }
        self.drop_outdated();
        if self.heap.len() > 4 * self.of.len() + 64 {
            let of = &self.of;
            self.heap.retain(|Reverse((t, i))| of[*i] == Some(*t));
        }
    }

    /// Keeps the top entry current, so `first` needs no `&mut`.
    fn drop_outdated(&mut self) {
        while let Some(Reverse((t, i))) = self.heap.peek() {
            if self.of[*i] == Some(*t) {
                break;
            }
            self.heap.pop();
        }
    }

    fn first(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Takes out the instances due at `now`, in slot order; they get a
    /// deadline again when they are handled. Hand the list back with
    /// [`Deadlines::return_due`].
    fn take_due(&mut self, now: Instant) -> Vec<usize> {
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        while let Some(&Reverse((t, i))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            if self.of[i] == Some(t) {
                self.of[i] = None;
                due.push(i);
            }
            self.drop_outdated();
        }
        due.sort_unstable();
        due
    }

    fn return_due(&mut self, due: Vec<usize>) {
        self.due = due;
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
        let deadline = instance.poll_timeout();
        self.slots.push(Slot {
            instance,
            group: None,
            data,
        });
        self.deadlines.set(self.slots.len() - 1, deadline);
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
                self.deadlines.set(m.index(), slot.instance.poll_timeout());
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

    /// Changes one instance outside [`Router::handle`] (its deadline is
    /// looked at again afterwards).
    pub fn update_instance<R>(&mut self, id: InstanceId, f: impl FnOnce(&mut Instance) -> R) -> Option<R> {
        let slot = self.slots.get_mut(id.index())?;
        let r = f(&mut slot.instance);
        self.deadlines.set(id.index(), slot.instance.poll_timeout());
        Some(r)
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

    /// Both halves of a slot, the driver's data to change.
    pub fn get_mut(&mut self, id: InstanceId) -> Option<(&Instance, &mut S)> {
        self.slots.get_mut(id.index()).map(|s| (&s.instance, &mut s.data))
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
        self.deadlines.first()
    }

    /// Runs the timers of every instance whose deadline has passed, in
    /// slot order (one handled earlier in the same call may have moved a
    /// later one's deadline).
    pub fn handle_timers(&mut self, now: Instant, out: &mut RouterOutput) {
        let due = self.deadlines.take_due(now);
        for &i in &due {
            let deadline = self.slots[i].instance.poll_timeout();
            if deadline.is_some_and(|t| t <= now) {
                self.handle(now, InstanceId::from_index(i), Event::Timer, out);
            } else {
                // Moved by a member handled before it: not due after all.
                self.deadlines.set(i, deadline);
            }
        }
        self.deadlines.return_due(due);
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
        let mut own = std::mem::take(&mut self.scratch);
        own.clear();
        slot.instance.handle(now, event, &mut own);
        self.deadlines.set(id.index(), slot.instance.poll_timeout());
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
        out.extend(id, &mut own);
        self.scratch = own;
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::*;
    use std::time::Duration;

    /// The earliest current deadline wins, moved and cleared ones are
    /// forgotten, and the due ones come out once, in slot order.
    #[test]
    fn deadlines_follow_every_move() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut d = Deadlines::default();
        d.set(2, Some(at(30)));
        d.set(0, Some(at(10)));
        d.set(1, Some(at(20)));
        assert_eq!(d.first(), Some(at(10)));
        d.set(0, Some(at(40)));
        assert_eq!(d.first(), Some(at(20)), "a moved deadline leaves its old place");
        d.set(1, None);
        assert_eq!(d.first(), Some(at(30)), "a cleared one is gone");
        d.set(1, Some(at(5)));
        d.set(1, Some(at(35)));
        d.set(1, Some(at(5)));
        assert_eq!(d.take_due(at(30)), [1, 2], "in slot order, each once");
        assert_eq!(d.first(), Some(at(40)));
        assert!(d.take_due(at(30)).is_empty());
        for round in 0..1000 {
            d.set(3, Some(at(100 + round)));
        }
        assert!(d.heap.len() <= 4 * d.of.len() + 65, "outdated entries are pruned");
        assert_eq!(d.take_due(at(2000)), [0, 3]);
        assert_eq!(d.first(), None);
    }
}
