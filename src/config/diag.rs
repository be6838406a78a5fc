//! Source positions and diagnostics.
//!
//! Every message the configuration layer produces names `FILE:LINE:COL`, so an
//! admin can jump to the token at fault. keepalived gives a line at best.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The files read for one configuration load, indexed by [`FileId`].
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<Arc<PathBuf>>,
}

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId(pub u32);

impl SourceMap {
    pub fn add(&mut self, path: &Path) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(Arc::new(path.to_path_buf()));
        id
    }

    pub fn path(&self, id: FileId) -> &Path {
        self.files
            .get(id.0 as usize)
            .map(|p| p.as_path())
            .unwrap_or_else(|| Path::new("<unknown>"))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// A position in a configuration file; line and column are 1-based, the
/// column counts characters of the physical line as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: FileId, line: u32, col: u32) -> Self {
        Span { file, line, col }
    }

    /// The file as a whole (rendered as `FILE: …`).
    pub fn whole(file: FileId) -> Self {
        Span { file, line: 0, col: 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

/// What a diagnostic means for `-t`'s exit status, keepalived 2.2.7's
/// verdict: the class decides, whatever the severity (keepalived's `-t`
/// fails on many messages its daemon treats as warnings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A problem keepalived reports as a configuration error: exit 5.
    Config,
    /// The configuration cannot be run at all: exit 4.
    Fatal,
    /// Scripts would run insecurely, or a mandatory include is missing: exit 6.
    Security,
    /// An interface the file names does not exist: keepalived's check stops
    /// there ("Non-existent interface specified in configuration"), before
    /// its script-security check, so exit 5 even where scripts are insecure.
    MissingInterface,
    /// rkeepalived's own remark (an unsupported keyword keepalived accepts,
    /// a footgun): never changes the exit status.
    Note,
    /// What makes keepalived's parser give up at once (a keyword without
    /// its parameter): exit 2, whatever else the file holds.
    Abort,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub class: Class,
    /// `None` for messages about the configuration as a whole.
    pub span: Option<Span>,
    pub message: String,
}

/// Collects diagnostics in the order they were found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn error(&mut self, span: Span, message: impl Into<String>) {
        self.push(Severity::Error, Class::Config, Some(span), message);
    }

    /// A warning keepalived's `-t` counts as a configuration error.
    pub fn warning(&mut self, span: Span, message: impl Into<String>) {
        self.push(Severity::Warning, Class::Config, Some(span), message);
    }

    /// A remark of rkeepalived's own: shown, never counted.
    pub fn note(&mut self, span: Span, message: impl Into<String>) {
        self.push(Severity::Warning, Class::Note, Some(span), message);
    }

    pub fn push(&mut self, severity: Severity, class: Class, span: Option<Span>, message: impl Into<String>) {
        self.items.push(Diagnostic {
            severity,
            class,
            span,
            message: message.into(),
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Whether the configuration cannot run at all: keepalived's parser
    /// gave up, or nothing can run. keepalived's daemon runs anything else,
    /// as it parsed it, and so does ours.
    pub fn refuses_to_run(&self) -> bool {
        self.items
            .iter()
            .any(|d| matches!(d.class, Class::Fatal | Class::Abort))
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The exit status `-t` reports for these diagnostics, as keepalived
    /// 2.2.7 does: 2 its parser gave up, 4 cannot run, 6 security
    /// violation, 5 configuration errors (warnings included), else 0.
    pub fn exit_code(&self) -> i32 {
        let any = |c: Class| self.items.iter().any(|d| d.class == c);
        if any(Class::Abort) {
            2
        } else if any(Class::Fatal) {
            4
        } else if any(Class::MissingInterface) {
            5
        } else if any(Class::Security) {
            6
        } else if any(Class::Config) {
            5
        } else {
            0
        }
    }

    /// Renders every diagnostic as `FILE:LINE:COL: error|warning: message`.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&render_one(d, sources).to_string());
            out.push('\n');
        }
        out
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }
}

/// A diagnostic paired with the source map that names its file.
pub struct Rendered<'a> {
    diag: &'a Diagnostic,
    sources: &'a SourceMap,
}

pub fn render_one<'a>(diag: &'a Diagnostic, sources: &'a SourceMap) -> Rendered<'a> {
    Rendered { diag, sources }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.diag.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match self.diag.span {
            // Line 0: a message about the whole file.
            Some(s) if s.line == 0 => write!(
                f,
                "{}: {}: {}",
                self.sources.path(s.file).display(),
                sev,
                self.diag.message
            ),
            Some(s) => write!(
                f,
                "{}:{}:{}: {}: {}",
                self.sources.path(s.file).display(),
                s.line,
                s.col,
                sev,
                self.diag.message
            ),
            None => write!(f, "{}: {}", sev, self.diag.message),
        }
    }
}

/// The known word nearest to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for k in known {
        let score = strsim::jaro_winkler(word, k);
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((k, score));
        }
    }
    best.filter(|(k, score)| *score >= 0.8 || strsim::levenshtein(word, k) <= 2)
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_keepalived_precedence() {
        let span = Span::default();
        let mut d = Diagnostics::default();
        assert_eq!(d.exit_code(), 0);
        d.note(span, "ours");
        assert_eq!(d.exit_code(), 0, "rkeepalived's own remarks never count");
        d.warning(span, "w");
        assert_eq!(d.exit_code(), 5, "keepalived's warnings fail -t");
        d.error(span, "e");
        assert_eq!(d.exit_code(), 5);
        d.push(Severity::Error, Class::Security, None, "s");
        assert_eq!(d.exit_code(), 6);
        assert!(
            !d.refuses_to_run(),
            "keepalived's daemon runs files -t fails with 5 or 6"
        );
        d.push(Severity::Error, Class::Fatal, None, "f");
        assert_eq!(d.exit_code(), 4);
        assert!(d.refuses_to_run());
        let mut stop = Diagnostics::default();
        stop.push(Severity::Error, Class::Abort, Some(span), "missing a parameter");
        assert_eq!(stop.exit_code(), 2);
        assert!(stop.refuses_to_run());
    }

    #[test]
    fn suggestion_finds_typos_only() {
        let known = ["virtual_router_id", "priority", "advert_int"];
        assert_eq!(suggest("virtual_routr_id", known), Some("virtual_router_id"));
        assert_eq!(suggest("priorty", known), Some("priority"));
        assert_eq!(suggest("zzzz", known), None);
    }

    #[test]
    fn renders_file_line_col() {
        let mut sources = SourceMap::default();
        let f = sources.add(Path::new("/etc/keepalived/keepalived.conf"));
        let mut d = Diagnostics::default();
        d.error(Span::new(f, 7, 3), "unknown keyword 'bogus'");
        assert_eq!(
            d.render(&sources),
            "/etc/keepalived/keepalived.conf:7:3: error: unknown keyword 'bogus'\n"
        );
    }
}
