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

use std::collections::HashMap;

/// Index of a tracked object.
pub type ObjId = usize;

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

#[derive(Debug, Clone, PartialEq, Eq)]
struct Tracked {
    base: u8,
    refs: Vec<Reference>,
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
    objects: Vec<Object>,
    by_name: HashMap<(Kind, String), ObjId>,
    instances: Vec<Tracked>,
    users: Vec<Vec<usize>>,
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker::default()
    }

    fn add(&mut self, kind: Kind, name: &str, state: ObjState) -> ObjId {
        if let Some(&id) = self.by_name.get(&(kind, name.to_string())) {
            return id;
        }
        self.objects.push(Object {
            kind,
            name: name.to_string(),
            state,
        });
        self.users.push(Vec::new());
        let id = self.objects.len() - 1;
        self.by_name.insert((kind, name.to_string()), id);
        id
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
        self.objects.get(obj).map(|o| o.name.as_str()).unwrap_or("")
    }

    pub fn kind(&self, obj: ObjId) -> Option<Kind> {
        self.objects.get(obj).map(|o| o.kind)
    }

    /// Registers an instance; returns its index (matching the router's).
    pub fn add_instance(&mut self, base: u8, refs: Vec<Reference>) -> usize {
        let idx = self.instances.len();
        for r in &refs {
            if let Some(u) = self.users.get_mut(r.obj) {
                u.push(idx);
            }
        }
        self.instances.push(Tracked { base, refs });
        idx
    }

    /// The references of instance `idx`.
    pub fn refs(&self, idx: usize) -> &[Reference] {
        self.instances.get(idx).map(|t| t.refs.as_slice()).unwrap_or(&[])
    }

    /// Takes over the states of same-named objects from a previous tracker
    /// (a reload keeps check results: keepalived's "considered successful
    /// on reload"). Interfaces keep their freshly read state.
    pub fn carry_from(&mut self, old: &Tracker) {
        for o in &mut self.objects {
            if o.kind == Kind::Interface {
                continue;
            }
            if let Some(&id) = old.by_name.get(&(o.kind, o.name.clone())) {
                let prev = &old.objects[id].state;
                match (&mut o.state, prev) {
                    (ObjState::Counter(new), ObjState::Counter(p)) => {
                        // Keep the status; the counter limits are the new ones.
                        new.status = p.status;
                        new.value = match p.status {
                            Some(true) => new.rise + new.fall - 1,
                            Some(false) => 0,
                            None => new.value,
                        };
                    }
                    (new, p) if std::mem::discriminant(new) == std::mem::discriminant(p) => *new = p.clone(),
                    _ => {}
                }
            }
        }
    }

    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// The instances using `obj`.
    pub fn users(&self, obj: ObjId) -> &[usize] {
        self.users.get(obj).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Sets an up/down object; returns true if it changed.
    pub fn set_bool(&mut self, obj: ObjId, up: bool) -> bool {
        match self.objects.get_mut(obj).map(|o| &mut o.state) {
            Some(ObjState::Bool(b)) if *b != Some(up) => {
                *b = Some(up);
                true
            }
            _ => false,
        }
    }

    /// Records a check result; returns true if its OK/KO status changed.
    pub fn record(&mut self, obj: ObjId, success: bool) -> bool {
        match self.objects.get_mut(obj).map(|o| &mut o.state) {
            Some(ObjState::Counter(c)) => c.record(success),
            _ => false,
        }
    }

    pub fn set_value(&mut self, obj: ObjId, v: i64) -> bool {
        match self.objects.get_mut(obj).map(|o| &mut o.state) {
            Some(ObjState::Value(x)) if *x != v => {
                *x = v;
                true
            }
            _ => false,
        }
    }

    /// The OK/KO status of a bool or check object (`None`: not known yet).
    pub fn status(&self, obj: ObjId) -> Option<bool> {
        match self.objects.get(obj).map(|o| &o.state) {
            Some(ObjState::Bool(b)) => *b,
            Some(ObjState::Counter(c)) => c.status(),
            Some(ObjState::Value(v)) => Some(*v == 0),
            None => None,
        }
    }

    pub fn value(&self, obj: ObjId) -> Option<i64> {
        match self.objects.get(obj).map(|o| &o.state) {
            Some(ObjState::Value(v)) => Some(*v),
            _ => None,
        }
    }

    /// Applies the tracking rules to instance `idx`.
    pub fn evaluate(&self, idx: usize) -> Evaluation {
        let Some(t) = self.instances.get(idx) else {
            return Evaluation {
                fault: false,
                priority: 100,
                ready: true,
            };
        };
        let mut fault = false;
        let mut ready = true;
        let mut sum: i64 = 0;
        for r in &t.refs {
            let Some(o) = self.objects.get(r.obj) else { continue };
            match &o.state {
                ObjState::Value(v) => {
                    if r.weight == 0 {
                        fault |= (*v != 0) != r.reverse;
                    } else {
                        let c = v.saturating_mul(i64::from(r.weight));
                        let c = if r.reverse { -c } else { c };
                        if c < -253 {
                            fault = true;
                        }
                        sum = sum.saturating_add(c);
                    }
                }
                other => {
                    let status = match other {
                        ObjState::Bool(b) => *b,
                        ObjState::Counter(c) => c.status(),
                        ObjState::Value(_) => None,
                    };
                    let Some(ok) = status else {
                        if r.weight == 0 && o.kind == Kind::Check {
                            ready = false;
                        }
                        continue;
                    };
                    if r.weight == 0 {
                        fault |= ok == r.reverse;
                    } else {
                        let w = i64::from(r.weight);
                        let c = match (w > 0, ok) {
                            (true, true) => w,
                            (false, false) => w,
                            _ => 0,
                        };
                        sum += if r.reverse { -c } else { c };
                    }
                }
            }
        }
        let priority = if t.base == 255 {
            255
        } else {
            u8::try_from((i64::from(t.base) + sum).clamp(1, 254)).unwrap_or(1)
        };
        Evaluation { fault, priority, ready }
    }
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
        let i = t.add_instance(
            base,
            vec![Reference {
                obj: o,
                weight,
                reverse,
            }],
        );
        t.evaluate(i)
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
        let i = t.add_instance(
            100,
            vec![Reference {
                obj: f,
                weight: -10,
                reverse: false,
            }],
        );
        t.set_value(f, 3);
        assert_eq!(t.evaluate(i).priority, 70);
        t.set_value(f, -2);
        assert_eq!(t.evaluate(i).priority, 120);
        t.set_value(f, 30);
        assert!(t.evaluate(i).fault, "product below -253");
        let j = t.add_instance(
            100,
            vec![Reference {
                obj: f,
                weight: 0,
                reverse: false,
            }],
        );
        assert!(t.evaluate(j).fault);
        t.set_value(f, 0);
        assert!(!t.evaluate(j).fault);
    }

    /// §2.4: an instance is not ready until its unweighted checks report.
    #[test]
    fn readiness_waits_for_unweighted_checks() {
        let mut t = Tracker::new();
        let c = t.add_check("chk", 1, 1, false);
        let w = t.add_check("weighted", 1, 1, false);
        let i = t.add_instance(
            100,
            vec![
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
            ],
        );
        assert!(!t.evaluate(i).ready);
        t.record(c, true);
        assert!(t.evaluate(i).ready, "weighted checks are not waited for");
        assert_eq!(t.users(c), [i]);
    }
}
