//! keepalived's tracking rules, without I/O: tracked objects (interfaces,
//! scripts and other checks, files, processes) have a state; instances
//! reference them with a weight; the tracker computes each instance's
//! effective priority and whether it is in FAULT (reference §2).
//!
//! - weight 0: the object failing puts the instance in FAULT (`reverse`:
//!   the object succeeding does);
//! - weight > 0: +weight while OK; weight < 0: weight while failed;
//!   `reverse` negates the contribution;
//! - track_file: value × weight (`reverse` negates); with weight 0 any
//!   non-zero value is a FAULT; a product below −253 is a FAULT;
//! - effective priority = clamp(base + Σ, 1, 254); an owner (255) is never
//!   changed.
//!
//! The tracker holds the objects only. An instance's references (which
//! objects, with which weight) belong to the instance and are passed to
//! [`Tracker::evaluate`]; objects keep their ids and states across
//! reloads, and a removed object's id is never given out again.

use std::collections::HashMap;

/// The id of a tracked object; never reused within one tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjId(u32);

impl ObjId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Interface,
    /// A check with rise/fall: vrrp_script, check_mysql, check_plugin.
    Check,
    File,
    Process,
}

/// A check's status under keepalived's rise/fall counter model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    rise: u32,
    fall: u32,
    value: u32,
    /// `None` until the first result decides (keepalived's INIT).
    status: Option<bool>,
}

impl Counter {
    /// keepalived starts at rise−1: one success declares OK, the first
    /// failure declares KO. With `init_fail` it starts failed and needs
    /// `rise` successes (2.2.7 ignores init_fail; rkeepalived honours it).
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Counter {
        let rise = rise.max(1);
        let fall = fall.max(1);
        if init_fail {
            Counter {
                rise,
                fall,
                value: 0,
                status: Some(false),
            }
        } else {
            Counter {
                rise,
                fall,
                value: rise - 1,
                status: None,
            }
        }
    }

    pub fn status(&self) -> Option<bool> {
        self.status
    }

    /// Applies one result; returns true if the status changed.
    pub fn record(&mut self, success: bool) -> bool {
        let before = self.status;
        let top = self.rise + self.fall - 1;
        if success {
            if self.status == Some(true) {
                self.value = top;
            } else {
                self.value += 1;
                if self.value >= self.rise {
                    self.status = Some(true);
                    self.value = top;
                }
            }
        } else if self.status == Some(false) {
            self.value = 0;
        } else {
            self.value = self.value.saturating_sub(1);
            if self.value < self.rise {
                self.status = Some(false);
                self.value = 0;
            }
        }
        self.status != before
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ObjState {
    Bool(Option<bool>),
    Counter(Counter),
    Value(i64),
}

#[derive(Debug, Clone)]
struct Object {
    kind: Kind,
    name: String,
    state: ObjState,
}

/// An instance's use of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    pub obj: ObjId,
    pub weight: i32,
    pub reverse: bool,
}

/// What tracking means for one instance now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub fault: bool,
    pub priority: u8,
    /// Every unweighted check has reported once (keepalived keeps an
    /// instance in INIT until then).
    pub ready: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// Indexed by [`ObjId`]; `None` once removed.
    objects: Vec<Option<Object>>,
    by_name: HashMap<(Kind, String), ObjId>,
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker::default()
    }

    fn add(&mut self, kind: Kind, name: &str, state: ObjState) -> ObjId {
        if let Some(&id) = self.by_name.get(&(kind, name.to_string())) {
            return id;
        }
        let id = ObjId(u32::try_from(self.objects.len()).unwrap_or(u32::MAX));
        self.objects.push(Some(Object {
            kind,
            name: name.to_string(),
            state,
        }));
        self.by_name.insert((kind, name.to_string()), id);
        id
    }

    fn get(&self, obj: ObjId) -> Option<&Object> {
        self.objects.get(obj.index()).and_then(Option::as_ref)
    }

    fn state_mut(&mut self, obj: ObjId) -> Option<&mut ObjState> {
        self.objects
            .get_mut(obj.index())
            .and_then(Option::as_mut)
            .map(|o| &mut o.state)
    }

    /// Removes an object (its check was removed or replaced by a reload).
    pub fn remove(&mut self, obj: ObjId) {
        if let Some(o) = self.objects.get_mut(obj.index()).and_then(Option::take) {
            self.by_name.remove(&(o.kind, o.name));
        }
    }

    /// Every live object.
    pub fn ids(&self) -> impl Iterator<Item = ObjId> + '_ {
        self.objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_some())
            .map(|(i, _)| ObjId(i as u32))
    }

    /// The status a check had (a reload replaced the check: the new one
    /// starts from it, as keepalived's "considered successful on reload").
    pub fn inherit(&mut self, obj: ObjId, status: Option<bool>) {
        if let Some(ObjState::Counter(c)) = self.state_mut(obj) {
            if status.is_some() {
                c.status = status;
            }
        }
        let (rise, fall) = match self.state_mut(obj) {
            Some(ObjState::Counter(c)) => (c.rise, c.fall),
            _ => return,
        };
        self.set_limits(obj, rise, fall);
    }

    /// A check's new rise/fall limits (a reload changed them): its status
    /// is kept, its counter restarts at the new limits.
    pub fn set_limits(&mut self, obj: ObjId, rise: u32, fall: u32) {
        if let Some(ObjState::Counter(c)) = self.state_mut(obj) {
            let status = c.status;
            c.rise = rise.max(1);
            c.fall = fall.max(1);
            c.value = match status {
                Some(true) => c.rise + c.fall - 1,
                Some(false) => 0,
                None => c.rise - 1,
            };
        }
    }

    /// An interface (up/down), a process (quorum met or not).
    pub fn add_bool(&mut self, kind: Kind, name: &str, initial: Option<bool>) -> ObjId {
        self.add(kind, name, ObjState::Bool(initial))
    }

    pub fn add_check(&mut self, name: &str, rise: u32, fall: u32, init_fail: bool) -> ObjId {
        self.add(
            Kind::Check,
            name,
            ObjState::Counter(Counter::new(rise, fall, init_fail)),
        )
    }

    pub fn add_file(&mut self, name: &str, value: i64) -> ObjId {
        self.add(Kind::File, name, ObjState::Value(value))
    }

    pub fn lookup(&self, kind: Kind, name: &str) -> Option<ObjId> {
        self.by_name.get(&(kind, name.to_string())).copied()
    }

    pub fn name(&self, obj: ObjId) -> &str {
        self.get(obj).map(|o| o.name.as_str()).unwrap_or("")
    }

    pub fn kind(&self, obj: ObjId) -> Option<Kind> {
        self.get(obj).map(|o| o.kind)
    }

    /// Sets an up/down object; returns true if it changed.
    pub fn set_bool(&mut self, obj: ObjId, up: bool) -> bool {
        match self.state_mut(obj) {
            Some(ObjState::Bool(b)) if *b != Some(up) => {
                *b = Some(up);
                true
            }
            _ => false,
        }
    }

    /// Records a check result; returns true if its OK/KO status changed.
    pub fn record(&mut self, obj: ObjId, success: bool) -> bool {
        match self.state_mut(obj) {
            Some(ObjState::Counter(c)) => c.record(success),
            _ => false,
        }
    }

    pub fn set_value(&mut self, obj: ObjId, v: i64) -> bool {
        match self.state_mut(obj) {
            Some(ObjState::Value(x)) if *x != v => {
                *x = v;
                true
            }
            _ => false,
        }
    }

    /// The OK/KO status of a bool or check object (`None`: not known yet).
    pub fn status(&self, obj: ObjId) -> Option<bool> {
        match self.get(obj).map(|o| &o.state) {
            Some(ObjState::Bool(b)) => *b,
            Some(ObjState::Counter(c)) => c.status(),
            Some(ObjState::Value(v)) => Some(*v == 0),
            None => None,
        }
    }

    pub fn value(&self, obj: ObjId) -> Option<i64> {
        match self.get(obj).map(|o| &o.state) {
            Some(ObjState::Value(v)) => Some(*v),
            _ => None,
        }
    }

    /// What one reference does to its instance: its share of the
    /// priority, or a fault, or nothing yet (no result).
    pub fn contribution(&self, r: &Reference) -> Contribution {
        let Some(o) = self.get(r.obj) else {
            return Contribution::default();
        };
        match &o.state {
            ObjState::Value(v) => {
                if r.weight == 0 {
                    Contribution {
                        fault: (*v != 0) != r.reverse,
                        ..Default::default()
                    }
                } else {
                    let c = v.saturating_mul(i64::from(r.weight));
                    let c = if r.reverse { -c } else { c };
                    Contribution {
                        share: c,
                        fault: c < -253,
                        ..Default::default()
                    }
                }
            }
            other => {
                let status = match other {
                    ObjState::Bool(b) => *b,
                    ObjState::Counter(c) => c.status(),
                    ObjState::Value(_) => None,
                };
                let Some(ok) = status else {
                    return Contribution {
                        pending: r.weight == 0 && o.kind == Kind::Check,
                        ..Default::default()
                    };
                };
                if r.weight == 0 {
                    Contribution {
                        fault: ok == r.reverse,
                        ..Default::default()
                    }
                } else {
                    let w = i64::from(r.weight);
                    let c = match (w > 0, ok) {
                        (true, true) | (false, false) => w,
                        _ => 0,
                    };
                    Contribution {
                        share: if r.reverse { -c } else { c },
                        ..Default::default()
                    }
                }
            }
        }
    }

    /// Applies the tracking rules to an instance of base priority `base`
    /// with these references.
    pub fn evaluate(&self, base: u8, refs: &[Reference]) -> Evaluation {
        let mut fault = false;
        let mut ready = true;
        let mut sum: i64 = 0;
        for c in refs.iter().map(|r| self.contribution(r)) {
            fault |= c.fault;
            ready &= !c.pending;
            sum = sum.saturating_add(c.share);
        }
        let priority = if base == 255 {
            255
        } else {
            u8::try_from((i64::from(base) + sum).clamp(1, 254)).unwrap_or(1)
        };
        Evaluation { fault, priority, ready }
    }

    /// A check's rise/fall position: (value, rise, fall) of its counter.
    pub fn counter(&self, obj: ObjId) -> Option<(u32, u32, u32)> {
        match &self.get(obj)?.state {
            ObjState::Counter(c) => Some((c.value, c.rise, c.fall)),
            _ => None,
        }
    }
}

/// One reference's effect on its instance's priority and state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contribution {
    /// Added to the base priority (weighted trackers).
    pub share: i64,
    /// It puts the instance in FAULT (weight 0, or a file's value below −253).
    pub fault: bool,
    /// An unweighted check that has not reported yet: the instance waits in INIT.
    pub pending: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §2.4: one success declares OK, the first failure declares KO;
    /// afterwards `rise`/`fall` consecutive results are needed.
    #[test]
    fn counter_model() {
        let mut c = Counter::new(3, 2, false);
        assert_eq!(c.status(), None);
        assert!(c.record(false));
        assert_eq!(c.status(), Some(false), "first failure decides");
        let mut c = Counter::new(3, 2, false);
        assert!(c.record(true));
        assert_eq!(c.status(), Some(true), "first success decides");
        // fall 2: one failure is not enough; a success resets.
        assert!(!c.record(false));
        assert!(!c.record(true));
        assert!(!c.record(false));
        assert!(c.record(false));
        assert_eq!(c.status(), Some(false));
        // rise 3 from KO.
        assert!(!c.record(true));
        assert!(!c.record(true));
        assert!(c.record(true));
        assert_eq!(c.status(), Some(true));
    }

    /// rkeepalived honours init_fail: start KO, need `rise` successes.
    #[test]
    fn init_fail_needs_rise_successes() {
        let mut c = Counter::new(2, 1, true);
        assert_eq!(c.status(), Some(false));
        assert!(!c.record(true));
        assert!(c.record(true));
    }

    fn one(base: u8, weight: i32, reverse: bool, ok: Option<bool>) -> Evaluation {
        let mut t = Tracker::new();
        let o = t.add_bool(Kind::Interface, "eth1", ok);
        t.evaluate(
            base,
            &[Reference {
                obj: o,
                weight,
                reverse,
            }],
        )
    }

    /// §2.2: the weight table for scripts and interfaces.
    #[test]
    fn weights() {
        assert!(one(100, 0, false, Some(false)).fault);
        assert!(!one(100, 0, false, Some(true)).fault);
        assert!(
            one(100, 0, true, Some(true)).fault,
            "weight 0 reverse: down while succeeding"
        );
        assert_eq!(one(100, 10, false, Some(true)).priority, 110);
        assert_eq!(one(100, 10, false, Some(false)).priority, 100);
        assert_eq!(one(100, -20, false, Some(false)).priority, 80);
        assert_eq!(one(100, -20, false, Some(true)).priority, 100);
        assert_eq!(
            one(100, 10, true, Some(true)).priority,
            90,
            "positive reverse: -w while OK"
        );
        assert_eq!(
            one(100, -20, true, Some(false)).priority,
            120,
            "negative reverse: +|w| while KO"
        );
    }

    /// §2.1: clamp to 1..254; 255 untouched.
    #[test]
    fn clamping_and_owner() {
        assert_eq!(one(250, 10, false, Some(true)).priority, 254);
        assert_eq!(one(5, -20, false, Some(false)).priority, 1);
        assert_eq!(one(255, -20, false, Some(false)).priority, 255);
    }

    /// §2.3: track_file value × weight (value −2 × weight −10 → +20).
    #[test]
    fn track_file_values() {
        let mut t = Tracker::new();
        let f = t.add_file("tf", 0);
        let i = [Reference {
            obj: f,
            weight: -10,
            reverse: false,
        }];
        t.set_value(f, 3);
        assert_eq!(t.evaluate(100, &i).priority, 70);
        t.set_value(f, -2);
        assert_eq!(t.evaluate(100, &i).priority, 120);
        t.set_value(f, 30);
        assert!(t.evaluate(100, &i).fault, "product below -253");
        let j = [Reference {
            obj: f,
            weight: 0,
            reverse: false,
        }];
        assert!(t.evaluate(100, &j).fault);
        t.set_value(f, 0);
        assert!(!t.evaluate(100, &j).fault);
    }

    /// §2.4: an instance is not ready until its unweighted checks report.
    #[test]
    fn readiness_waits_for_unweighted_checks() {
        let mut t = Tracker::new();
        let c = t.add_check("chk", 1, 1, false);
        let w = t.add_check("weighted", 1, 1, false);
        let i = [
            Reference {
                obj: c,
                weight: 0,
                reverse: false,
            },
            Reference {
                obj: w,
                weight: -10,
                reverse: false,
            },
        ];
        assert!(!t.evaluate(100, &i).ready);
        t.record(c, true);
        assert!(t.evaluate(100, &i).ready, "weighted checks are not waited for");
    }

    /// A reload keeps an object's id and status; new limits restart its
    /// counter there; a removed id is not given out again.
    #[test]
    fn objects_survive_reloads_and_ids_are_never_reused() {
        let mut t = Tracker::new();
        let c = t.add_check("chk", 3, 1, true);
        assert_eq!(t.add_check("chk", 3, 1, true), c, "same name, same object");
        for _ in 0..3 {
            t.record(c, true);
        }
        assert_eq!(t.status(c), Some(true));
        t.set_limits(c, 2, 2);
        assert_eq!(t.status(c), Some(true));
        assert!(!t.record(c, false), "fall 2: one failure is not enough");
        assert!(t.record(c, false));
        t.remove(c);
        assert_eq!(t.status(c), None);
        let d = t.add_check("chk", 1, 1, false);
        assert_ne!(d, c);
        assert_eq!(t.ids().collect::<Vec<_>>(), [d]);
    }
}
