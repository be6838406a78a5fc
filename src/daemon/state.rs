//! State that survives reloads and restarts: which instances are in
//! maintenance. One root-owned file, mode 0600, `state_dir/state.json`;
//! written whole (a temporary file renamed over it). A file that is
//! corrupt or unreadable is reported and ignored, never fatal.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

pub const FILE: &str = "state.json";

/// What the daemon keeps across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Persistent {
    /// Instances in maintenance, by name.
    pub maintenance: BTreeSet<String>,
}

impl Persistent {
    pub fn to_text(&self) -> String {
        format!("{}\n", json!({ "version": 1, "maintenance": self.maintenance }))
    }

    /// Parses the file's text; `Err` says what is wrong with it.
    pub fn parse(text: &str) -> Result<Persistent, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if v["version"] != json!(1) {
            return Err(format!("unknown version {}", v["version"]));
        }
        let list = v["maintenance"].as_array().ok_or("no maintenance list")?;
        let maintenance = list
            .iter()
            .map(|n| n.as_str().map(str::to_string).ok_or("a name that is not a string"))
            .collect::<Result<_, _>>()?;
        Ok(Persistent { maintenance })
    }
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Reads the state; a missing file is an empty state, a bad one is
/// reported (the returned warning) and ignored.
pub fn load(state_dir: &Path) -> (Persistent, Option<String>) {
    let p = path(state_dir);
    match std::fs::read_to_string(&p) {
        Ok(text) => match Persistent::parse(&text) {
            Ok(s) => (s, None),
            Err(e) => (Persistent::default(), Some(format!("{}: {e}; ignored", p.display()))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Persistent::default(), None),
        Err(e) => (Persistent::default(), Some(format!("{}: {e}; ignored", p.display()))),
    }
}

/// Writes the state whole: a 0600 temporary file renamed over the old one.
pub fn save(state_dir: &Path, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let p = path(state_dir);
    let tmp = p.with_extension("json.new");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_round_trips_and_a_bad_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load(dir.path()), (Persistent::default(), None), "no file: empty");
        let s = Persistent {
            maintenance: ["VI_1".to_string(), "VI_2".to_string()].into(),
        };
        save(dir.path(), &s.to_text()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load(dir.path()), (s, None));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(dir.path())).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        std::fs::write(path(dir.path()), "{\"version\":1,\"maintenance\":[3]").unwrap_or_else(|e| panic!("{e}"));
        let (state, warning) = load(dir.path());
        assert_eq!(state, Persistent::default());
        assert!(warning.unwrap_or_default().contains("ignored"));
    }
}
