//! Script security: who a script runs as, and whether a non-root user
//! could change what root will run (keepalived's `enable_script_security`
//! rules, reference §2.6).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::model::{GlobalDefs, UserSpec};

/// The user and group a script runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
}

impl RunAs {
    pub fn root() -> Self {
        RunAs {
            uid: 0,
            gid: 0,
            name: "root".into(),
        }
    }
}

/// The name keepalived uses as the default script user when it exists.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// Resolves `USER [GROUP]`; the group defaults to the user's primary group.
pub fn lookup_user(spec: &UserSpec) -> Result<RunAs, String> {
    let user = nix::unistd::User::from_name(&spec.user)
        .map_err(|e| format!("cannot look up user '{}': {e}", spec.user))?
        .ok_or_else(|| format!("user '{}' does not exist", spec.user))?;
    let gid = match &spec.group {
        Some(g) => nix::unistd::Group::from_name(g)
            .map_err(|e| format!("cannot look up group '{g}': {e}"))?
            .ok_or_else(|| format!("group '{g}' does not exist"))?
            .gid
            .as_raw(),
        None => user.gid.as_raw(),
    };
    Ok(RunAs {
        uid: user.uid.as_raw(),
        gid,
        name: spec.user.clone(),
    })
}

/// The user a script without its own `user` runs as: `script_user`, else
/// `keepalived_script` if it exists, else root — except that with
/// `enable_script_security` keepalived insists on `keepalived_script`.
pub fn default_user(g: &GlobalDefs) -> Result<RunAs, String> {
    if let Some(spec) = &g.script_user {
        return lookup_user(spec);
    }
    let ks = UserSpec {
        user: DEFAULT_SCRIPT_USER.into(),
        group: None,
        span: Default::default(),
    };
    match lookup_user(&ks) {
        Ok(r) => Ok(r),
        Err(_) if g.enable_script_security => Err(format!(
            "enable_script_security needs a script user: set global_defs script_user or create user '{DEFAULT_SCRIPT_USER}'"
        )),
        Err(_) => Ok(RunAs::root()),
    }
}

/// The user a script runs as, given its own `user` setting.
pub fn run_as(own: Option<&UserSpec>, g: &GlobalDefs) -> Result<RunAs, String> {
    match own {
        Some(spec) => lookup_user(spec),
        None => default_user(g),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Safe to run; the resolved executable (None for `<…` shell scripts).
    Ok(Option<PathBuf>),
    /// Runs as root, and a non-root user could change it: the reason.
    Insecure {
        path: PathBuf,
        reason: String,
    },
    NotFound(String),
    NotExecutable {
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
}

/// A `<`-redirect pseudo-script (e.g. `</dev/tcp/127.0.0.1/80`), which
/// keepalived hands to `/bin/sh` and always allows.
pub fn is_shell_redirect(argv0: &str) -> bool {
    argv0.starts_with('<')
}

/// Finds a bare command name on PATH, as keepalived does.
pub fn resolve_command(argv0: &str) -> Option<PathBuf> {
    if argv0.contains('/') {
        let p = PathBuf::from(argv0);
        return p.exists().then_some(p);
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(argv0))
        .find(|p| p.is_file())
}

/// Checks a script the way keepalived does before running it.
pub fn check(argv0: &str, who: &RunAs) -> Verdict {
    if is_shell_redirect(argv0) {
        return Verdict::Ok(None);
    }
    let Some(found) = resolve_command(argv0) else {
        return Verdict::NotFound(argv0.to_string());
    };
    let real = match std::fs::canonicalize(&found) {
        Ok(r) => r,
        Err(_) => return Verdict::NotFound(argv0.to_string()),
    };
    let meta = match std::fs::metadata(&real) {
        Ok(m) => m,
        Err(_) => return Verdict::NotFound(argv0.to_string()),
    };
    if !meta.is_file() || !executable_by(&meta, who) {
        return Verdict::NotExecutable {
            path: real,
            uid: who.uid,
            gid: who.gid,
        };
    }
    let mode = meta.permissions().mode();
    let setuid_root = mode & 0o4000 != 0 && meta.uid() == 0;
    let setgid_root = mode & 0o2000 != 0 && meta.gid() == 0;
    if who.uid == 0 || who.gid == 0 || setuid_root || setgid_root {
        let reason = [found.as_path(), real.as_path()].into_iter().find_map(unsafe_component);
        if let Some(reason) = reason {
            return Verdict::Insecure { path: real, reason };
        }
    }
    Verdict::Ok(Some(real))
}

fn executable_by(meta: &std::fs::Metadata, who: &RunAs) -> bool {
    let mode = meta.permissions().mode();
    if who.uid == 0 {
        return mode & 0o111 != 0;
    }
    if meta.uid() == who.uid {
        mode & 0o100 != 0
    } else if meta.gid() == who.gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// The first path component a non-root user could modify, if any: not
/// owned by root, or group-writable by a non-root group, or
/// world-writable (directories with the sticky bit excepted).
pub fn unsafe_component(path: &Path) -> Option<String> {
    let mut cur = PathBuf::new();
    for comp in path.components() {
        cur.push(comp);
        let Ok(meta) = std::fs::symlink_metadata(&cur) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            // The link itself cannot be changed without write access to
            // its directory, which the previous component checked.
            continue;
        }
        let mode = meta.permissions().mode();
        let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
        if meta.uid() != 0 {
            return Some(format!("{} is owned by uid {}, not root", cur.display(), meta.uid()));
        }
        if !sticky_dir && mode & 0o020 != 0 && meta.gid() != 0 {
            return Some(format!("{} is writable by group {}", cur.display(), meta.gid()));
        }
        if !sticky_dir && mode & 0o002 != 0 {
            return Some(format!("{} is writable by everyone", cur.display()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn root_only() -> bool {
        nix::unistd::Uid::effective().is_root()
    }

    #[test]
    fn shell_redirects_are_always_allowed() {
        assert_eq!(check("</dev/tcp/127.0.0.1/80", &RunAs::root()), Verdict::Ok(None));
    }

    #[test]
    fn bare_names_are_found_on_path_and_missing_ones_reported() {
        assert!(matches!(
            check("true", &RunAs::root()),
            Verdict::Ok(Some(_)) | Verdict::Insecure { .. }
        ));
        assert_eq!(
            check("no-such-command-xyz", &RunAs::root()),
            Verdict::NotFound("no-such-command-xyz".into())
        );
    }

    #[test]
    fn world_writable_directory_makes_a_root_script_insecure() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let wd = dir.path().join("wd");
        fs::create_dir(&wd).unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&wd, fs::Permissions::from_mode(0o777)).unwrap_or_else(|e| panic!("{e}"));
        let script = wd.join("s.sh");
        fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
        match check(script.to_str().unwrap_or_default(), &RunAs::root()) {
            Verdict::Insecure { reason, .. } => {
                // As a normal user the temp dir itself is not root-owned;
                // as root the world-writable directory is found.
                if root_only() {
                    assert!(reason.contains("writable by everyone"), "{reason}");
                }
            }
            other => panic!("expected insecure, got {other:?}"),
        }
    }

    #[test]
    fn a_non_executable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let script = dir.path().join("s.sh");
        fs::write(&script, "#!/bin/sh\n").unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            check(script.to_str().unwrap_or_default(), &RunAs::root()),
            Verdict::NotExecutable { .. }
        ));
    }

    /// A root-owned sticky directory (like /tmp) may be world-writable:
    /// others cannot replace what is in it. Without the sticky bit it is unsafe.
    #[test]
    fn sticky_directories_are_the_one_exception() {
        if !root_only() {
            return; // files owned by root are needed; the full test command runs as root
        }
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let shared = tmp.path().join("shared");
        fs::create_dir(&shared).unwrap_or_else(|e| panic!("{e}"));
        let file = shared.join("libx.so");
        fs::write(&file, "x").unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(unsafe_component(&file), None);
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap_or_else(|e| panic!("{e}"));
        assert!(unsafe_component(&file)
            .unwrap_or_default()
            .contains("writable by everyone"));
    }

    #[test]
    fn system_binaries_are_secure_for_root() {
        // /usr/bin/true: every component owned by root, none writable by others.
        if Path::new("/usr/bin/true").exists() {
            assert!(unsafe_component(Path::new("/usr/bin/true")).is_none());
        }
    }
}
