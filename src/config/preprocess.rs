//! keepalived's preprocessor: `include`, `$NAME=` parameters, `@id`
//! conditional lines and `~SEQ`/`~LST` repetition, turning files into
//! logical lines of tokens that remember where each token was written.
//!
//! Order of work on a physical line, as keepalived 2.2.7 does it: comments
//! are removed, `include` is recognised (before conditionals and
//! substitution, which therefore do not apply to it), then the line is
//! processed: `@id` selection, `$NAME=` definition, `~SEQ`/`~LST` repetition,
//! and parameter substitution. Substitution happens at use time and is
//! recursive: a substituted line is processed again, so a parameter may
//! expand to `@id …`, to further definitions or to several lines.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use nom::bytes::complete::{tag, take_while1};
use nom::combinator::opt;
use nom::{IResult, Parser};

use super::diag::{Class, Diagnostics, FileId, Severity, SourceMap, Span};
use super::lexer::{self, strip_comment, TokenKind};

/// Files bigger than this are refused: no keepalived.conf is near it, and it
/// keeps binary garbage from eating memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Patterns one include may expand to, and files it may read.
pub const MAX_INCLUDE_PATTERNS: usize = 65_536;
pub const MAX_INCLUDE_FILES: usize = 1_024;
/// Deepest include nesting accepted (keepalived has no documented limit).
pub const MAX_INCLUDE_DEPTH: usize = 32;
/// Deepest parameter substitution; a self-referencing parameter stops here.
pub const MAX_SUBST_DEPTH: u32 = 32;
/// Most logical lines repetition and substitution may generate in one
/// configuration: bounds the work of `$X=$X $X`-style doubling.
pub const MAX_EXPANDED_LINES: usize = 2_000_000;
/// What the generated lines may hold in all, counting each line's text
/// plus [`LINE_COST`] for its tokens: a few lines of definitions that
/// refer to each other can otherwise grow exponentially (found by fuzzing:
/// 137 bytes took over 1 GB).
pub const MAX_EXPANDED_BYTES: usize = 32 << 20;
const LINE_COST: usize = 128;
/// Longest line substitution may build.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A token with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub text: String,
    pub span: Span,
    /// Byte offsets of the token in its logical line's text.
    pub offset: usize,
    pub end: usize,
}

/// One logical line after preprocessing.
#[derive(Debug, Clone)]
pub struct Line {
    /// The line's text after substitution (used to re-read script strings).
    pub text: String,
    pub tokens: Vec<Token>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Selects `@id` lines; keepalived's `-i`, defaulting to the host name up
    /// to its first dot.
    pub config_id: String,
    pub limits: Limits,
}

impl Options {
    /// The given config-id and the default limits.
    pub fn with_id(config_id: &str) -> Options {
        Options {
            config_id: config_id.to_string(),
            limits: Limits::default(),
        }
    }
}

/// How far one configuration may expand (repetition, substitution, brace
/// patterns) before the reader stops with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub expanded_lines: usize,
    pub expanded_bytes: usize,
    pub include_patterns: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            expanded_lines: MAX_EXPANDED_LINES,
            expanded_bytes: MAX_EXPANDED_BYTES,
            include_patterns: MAX_INCLUDE_PATTERNS,
        }
    }
}

impl Limits {
    /// A hundredth of the defaults, for fuzzing: an input reaches the
    /// same bounds and their errors a hundred times sooner, so the fuzzer
    /// does not spend its time expanding a few inputs to the full bound.
    pub fn small() -> Self {
        let d = Limits::default();
        Limits {
            expanded_lines: d.expanded_lines / 100,
            expanded_bytes: d.expanded_bytes / 100,
            include_patterns: d.include_patterns / 100,
        }
    }
}

pub struct Output {
    pub lines: Vec<Line>,
}

/// Where each byte of a processed line was written: untouched ASCII text
/// maps by offset (no allocation); substituted or non-ASCII text carries a
/// per-byte table of 1-based columns.
#[derive(Debug, Clone)]
enum Cols {
    /// Byte `i` is at column `base + i`.
    Offset(u32),
    Table(Vec<u32>),
}

/// A position-tracked piece of text.
#[derive(Debug, Clone)]
struct Text {
    text: String,
    cols: Cols,
    file: FileId,
    line: u32,
}

impl Text {
    fn from_physical(s: &str, file: FileId, line: u32) -> Self {
        let cols = if s.is_ascii() {
            Cols::Offset(1)
        } else {
            let mut table = Vec::with_capacity(s.len());
            for (n, c) in s.chars().enumerate() {
                let col = u32::try_from(n + 1).unwrap_or(u32::MAX);
                table.extend(std::iter::repeat_n(col, c.len_utf8()));
            }
            Cols::Table(table)
        };
        Text {
            text: s.to_string(),
            cols,
            file,
            line,
        }
    }

    fn empty_like(&self) -> Text {
        Text {
            text: String::new(),
            cols: Cols::Table(Vec::new()),
            file: self.file,
            line: self.line,
        }
    }

    fn col_at(&self, byte: usize) -> u32 {
        match &self.cols {
            Cols::Offset(base) => base.saturating_add(u32::try_from(byte).unwrap_or(u32::MAX)),
            Cols::Table(t) => t.get(byte).or_else(|| t.last()).copied().unwrap_or(1),
        }
    }

    fn span_at(&self, byte: usize) -> Span {
        Span::new(self.file, self.line, self.col_at(byte))
    }

    /// Drops the first `from` bytes in place.
    fn advance(mut self, from: usize) -> Text {
        let from = from.min(self.text.len());
        self.text.drain(..from);
        match &mut self.cols {
            Cols::Offset(base) => *base = base.saturating_add(u32::try_from(from).unwrap_or(u32::MAX)),
            Cols::Table(t) => {
                t.drain(..from.min(t.len()));
            }
        }
        self
    }

    fn slice(&self, from: usize) -> Text {
        self.clone().advance(from)
    }

    fn trim_start(self) -> Text {
        let lead = self.text.len() - self.text.trim_start().len();
        if lead == 0 {
            self
        } else {
            self.advance(lead)
        }
    }

    fn push_str(&mut self, s: &str, col: u32) {
        self.text.push_str(s);
        if let Cols::Table(t) = &mut self.cols {
            t.extend(std::iter::repeat_n(col, s.len()));
        }
    }

    /// Appends byte range `range` of `src`, keeping its columns.
    fn push_from(&mut self, src: &Text, range: std::ops::Range<usize>) {
        self.text.push_str(&src.text[range.clone()]);
        if let Cols::Table(t) = &mut self.cols {
            t.extend(range.map(|i| src.col_at(i)));
        }
    }
}

struct MultiLineDef {
    name: String,
    lines: Vec<String>,
}

pub struct Preprocessor<'a> {
    sources: &'a mut SourceMap,
    diags: &'a mut Diagnostics,
    opts: Options,
    defs: HashMap<String, Vec<String>>,
    stack: Vec<PathBuf>,
    lines: Vec<Line>,
    expanded: usize,
    expanded_bytes: usize,
    expansion_limit_hit: bool,
    cur_dir: PathBuf,
    rng: u64,
}

const INCLUDE_KEYWORDS: [&str; 6] = ["include", "includer", "includem", "includew", "includeb", "includea"];

impl<'a> Preprocessor<'a> {
    pub fn new(sources: &'a mut SourceMap, diags: &'a mut Diagnostics, opts: Options) -> Self {
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish();
        Preprocessor {
            sources,
            diags,
            opts,
            defs: HashMap::new(),
            stack: Vec::new(),
            lines: Vec::new(),
            expanded: 0,
            expanded_bytes: 0,
            expansion_limit_hit: false,
            cur_dir: PathBuf::from("."),
            rng: seed | 1,
        }
    }

    /// Reads the main file. `Err` carries the I/O error when it cannot be read.
    pub fn run_file(mut self, path: &Path) -> Result<Output, std::io::Error> {
        let text = read_text(path)?;
        let file = self.sources.add(path);
        if is_executable(path) {
            // As keepalived: an executable main file is skipped, nothing runs.
            self.diags.push(
                Severity::Warning,
                Class::Note,
                Some(Span::whole(file)),
                "configuration file is not a regular non-executable file; skipped",
            );
            return Ok(Output { lines: self.lines });
        }
        self.process_file_text(path, file, &text);
        Ok(Output { lines: self.lines })
    }

    /// Preprocesses configuration text that has no file (tests, benches).
    pub fn run_text(mut self, name: &Path, text: &str) -> Output {
        let file = self.sources.add(name);
        self.process_file_text(name, file, text);
        Output { lines: self.lines }
    }

    fn process_file_text(&mut self, path: &Path, file: FileId, raw: &str) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.stack.push(canonical);
        let saved_dir = std::mem::replace(
            &mut self.cur_dir,
            path.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        );
        if raw.contains('\0') {
            self.diags.error(
                Span::new(file, 1, 1),
                "file contains NUL bytes: not a configuration file",
            );
            self.cur_dir = saved_dir;
            self.stack.pop();
            return;
        }
        let mut pending: Option<MultiLineDef> = None;
        for (idx, physical) in raw.split('\n').enumerate() {
            let line_no = u32::try_from(idx + 1).unwrap_or(u32::MAX);
            let physical = physical.strip_suffix('\r').unwrap_or(physical);
            let content = strip_comment(physical);
            if let Some(def) = pending.as_mut() {
                let trimmed = content.trim_end();
                if let Some(body) = trimmed.strip_suffix('\\') {
                    def.lines.push(body.to_string());
                    continue;
                }
                def.lines.push(trimmed.to_string());
                if let Some(def) = pending.take() {
                    self.defs.insert(def.name, def.lines);
                }
                continue;
            }
            let text = Text::from_physical(content, file, line_no).trim_start();
            if text.text.trim().is_empty() {
                continue;
            }
            let first = text.text.split_whitespace().next().unwrap_or("");
            if INCLUDE_KEYWORDS.contains(&first) {
                let rest = text.text[first.len()..].trim();
                let span = text.span_at(0);
                self.include(first, rest, span);
                continue;
            }
            // A multi-line definition starts only on a physical line.
            if let Some((name, value)) = parse_definition(&text.text) {
                if let Some(first_part) = value.trim_end().strip_suffix('\\') {
                    let mut lines = Vec::new();
                    if !first_part.trim().is_empty() {
                        lines.push(first_part.trim().to_string());
                    }
                    pending = Some(MultiLineDef {
                        name: name.to_string(),
                        lines,
                    });
                    continue;
                }
            }
            self.process_line(text, &[], 0);
        }
        if let Some(def) = pending.take() {
            // A definition still open at end of file ends there.
            self.defs.insert(def.name, def.lines);
        }
        self.cur_dir = saved_dir;
        self.stack.pop();
    }

    fn include(&mut self, keyword: &str, pattern: &str, span: Span) {
        let pattern = pattern.trim_matches('"');
        if pattern.is_empty() {
            self.diags
                .error(span, format!("'{keyword}' needs a file name or pattern"));
            return;
        }
        let strict = keyword != "include" && keyword != "includer";
        let limit = self.opts.limits.include_patterns;
        let alternatives = match expand_braces_bounded(pattern, limit) {
            Some(a) => a,
            None => {
                self.diags.error(
                    span,
                    format!("'{pattern}' expands to more than {limit} patterns; not read"),
                );
                return;
            }
        };
        let mut matched = false;
        let mut files = 0usize;
        let mut listings = Listings::default();
        for alt in alternatives {
            let full = if Path::new(&alt).is_absolute() {
                PathBuf::from(&alt)
            } else {
                self.cur_dir.join(&alt)
            };
            let full_str = full.to_string_lossy().to_string();
            let paths: Vec<PathBuf> = match glob_files(&full_str, &mut listings) {
                Ok(paths) => paths.into_iter().filter(|p| p.is_file()).collect(),
                Err(e) => {
                    self.diags.error(span, format!("bad include pattern '{pattern}': {e}"));
                    return;
                }
            };
            for p in paths {
                matched = true;
                files += 1;
                if files > MAX_INCLUDE_FILES {
                    self.diags.error(
                        span,
                        format!("'{pattern}' matches more than {MAX_INCLUDE_FILES} files; the rest are not read"),
                    );
                    return;
                }
                self.include_one(keyword, &p, span);
            }
        }
        if !matched {
            let msg = format!("no configuration file matches '{pattern}'");
            if strict {
                self.diags.push(Severity::Error, Class::Security, Some(span), msg);
            } else {
                // keepalived says "Config files missing" and does not count it.
                self.diags.note(span, msg);
            }
        }
    }

    fn include_one(&mut self, keyword: &str, path: &Path, span: Span) {
        if is_executable(path) {
            // keepalived reads no executable file as configuration; the
            // checking include variants count it as a violation.
            let msg = format!(
                "configuration file '{}' is not a regular non-executable file; skipped",
                path.display()
            );
            if keyword == "include" {
                self.diags.note(span, msg);
            } else {
                self.diags.push(Severity::Error, Class::Security, Some(span), msg);
            }
            return;
        }
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canonical) {
            self.diags.error(
                span,
                format!("include cycle: '{}' is already being read", path.display()),
            );
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.error(
                span,
                format!(
                    "includes nested deeper than {MAX_INCLUDE_DEPTH}: '{}' not read",
                    path.display()
                ),
            );
            return;
        }
        match read_text(path) {
            Ok(text) => {
                let file = self.sources.add(path);
                self.process_file_text(path, file, &text);
            }
            Err(e) => self.diags.error(span, format!("cannot read '{}': {e}", path.display())),
        }
    }

    /// Processes one logical line; may recurse for repetitions and
    /// substituted text.
    fn process_line(&mut self, text: Text, binds: &[(String, String)], depth: u32) {
        let text = text.trim_start();
        if text.text.trim().is_empty() || self.expansion_limit_hit {
            return;
        }
        let limits = self.opts.limits;
        self.expanded += 1;
        if self.expanded > limits.expanded_lines {
            self.expansion_limit_hit = true;
            self.diags.error(
                text.span_at(0),
                format!(
                    "repetition and parameter substitution generate more than {} lines; stopping",
                    limits.expanded_lines
                ),
            );
            return;
        }
        self.expanded_bytes += text.text.len() + LINE_COST;
        if self.expanded_bytes > limits.expanded_bytes {
            self.expansion_limit_hit = true;
            self.diags.error(
                text.span_at(0),
                format!(
                    "repetition and parameter substitution generate more than {} of configuration; stopping",
                    mebibytes(limits.expanded_bytes)
                ),
            );
            return;
        }
        if text.text.len() > MAX_LINE_BYTES {
            self.diags.error(
                text.span_at(0),
                format!("line longer than {MAX_LINE_BYTES} bytes after parameter substitution; ignored"),
            );
            return;
        }
        if depth > MAX_SUBST_DEPTH {
            self.diags.error(
                text.span_at(0),
                "parameter substitution nested too deep (does a parameter refer to itself?)",
            );
            return;
        }
        // Conditional configuration: `@id rest` / `@^id rest`.
        if let Some(rest) = text.text.strip_prefix('@') {
            let (negated, rest) = match rest.strip_prefix('^') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let id_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let id = &rest[..id_len];
            let keep = (id == self.opts.config_id) != negated;
            if keep {
                let consumed = text.text.len() - rest.len() + id_len;
                self.process_line(text.slice(consumed), binds, depth);
            }
            return;
        }
        if let Some((name, value)) = parse_definition(&text.text) {
            if name.starts_with('_') {
                self.diags.error(
                    text.span_at(1),
                    format!("parameter names starting with '_' are reserved: '{name}'"),
                );
                return;
            }
            let value = substitute_binds_only(value.trim(), binds);
            self.defs.insert(name.to_string(), vec![value]);
            return;
        }
        if text.text.starts_with("~SEQ") || text.text.starts_with("~LST") {
            self.repeat(text, binds, depth);
            return;
        }
        match self.substitute(&text, binds) {
            Some(lines) => {
                for l in lines {
                    self.process_line(l, binds, depth + 1);
                }
            }
            None => self.emit(&text),
        }
    }

    fn emit(&mut self, text: &Text) {
        let tokens = lexer::tokenize(&text.text)
            .into_iter()
            .map(|t| {
                if t.unterminated {
                    self.diags.warning(
                        text.span_at(t.offset),
                        "quoted string has no closing '\"'; it runs to the end of the line",
                    );
                }
                Token {
                    kind: t.kind,
                    span: text.span_at(t.offset),
                    text: t.text,
                    offset: t.offset,
                    end: t.end,
                }
            })
            .collect::<Vec<_>>();
        if !tokens.is_empty() {
            self.lines.push(Line {
                text: text.text.clone(),
                tokens,
            });
        }
    }

    /// Expands `~SEQ(...)` / `~SEQx(...)` / `~LST(...)` at the start of `text`.
    fn repeat(&mut self, text: Text, binds: &[(String, String)], depth: u32) {
        let span = text.span_at(0);
        let Some((consumed, directive)) = parse_directive(&text.text) else {
            self.diags.error(
                span,
                "malformed ~SEQ/~LST: expected '~SEQ(var, [start, [step,]] end)' or '~LST(var, values…)'",
            );
            return;
        };
        let rest = text.slice(consumed);
        let sets = match directive {
            Directive::Seq { var, args, hex } => {
                let args: Vec<String> = args.iter().map(|a| substitute_str(a, binds, &self.defs)).collect();
                match seq_values(&args) {
                    Ok(values) => values
                        .into_iter()
                        .map(|v| vec![(var.clone(), if hex { format!("{v:x}") } else { v.to_string() })])
                        .collect::<Vec<_>>(),
                    Err(msg) => {
                        self.diags.error(span, format!("~SEQ: {msg}"));
                        return;
                    }
                }
            }
            Directive::Lst { vars, rows } => {
                let mut sets = Vec::new();
                for row in rows {
                    if row.len() != vars.len() {
                        self.diags.error(
                            span,
                            format!(
                                "~LST: {} variables but a value group has {} values",
                                vars.len(),
                                row.len()
                            ),
                        );
                        return;
                    }
                    sets.push(
                        vars.iter()
                            .cloned()
                            .zip(row.into_iter().map(|v| substitute_str(&v, binds, &self.defs)))
                            .collect(),
                    );
                }
                sets
            }
        };
        for set in sets {
            self.expanded += 1;
            if self.expanded > self.opts.limits.expanded_lines {
                if !self.expansion_limit_hit {
                    self.expansion_limit_hit = true;
                    self.diags.error(
                        span,
                        format!(
                            "~SEQ/~LST generate more than {} lines; stopping",
                            self.opts.limits.expanded_lines
                        ),
                    );
                }
                return;
            }
            let mut inner: Vec<(String, String)> = binds.to_vec();
            inner.extend(set);
            self.process_line(rest.clone(), &inner, depth + 1);
        }
    }

    /// Replaces every parameter reference on the line once. `None` when the
    /// line has nothing to substitute.
    fn substitute(&mut self, text: &Text, binds: &[(String, String)]) -> Option<Vec<Text>> {
        let s = &text.text;
        if !s.contains('$') {
            return None;
        }
        let mut out = vec![text.empty_like()];
        let mut changed = false;
        let mut copied = 0;
        let mut i = 0;
        while let Some(pos) = s[i..].find('$') {
            let at = i + pos;
            match self.reference(&s[at..], binds) {
                Some((len, value)) => {
                    changed = true;
                    if let Some(cur) = out.last_mut() {
                        cur.push_from(text, copied..at);
                    }
                    let col = text.col_at(at);
                    for (k, v) in value.iter().enumerate() {
                        if k > 0 {
                            out.push(text.empty_like());
                        }
                        if let Some(cur) = out.last_mut() {
                            cur.push_str(v, col);
                        }
                    }
                    i = at + len;
                    copied = i;
                }
                None => i = at + 1,
            }
        }
        if let Some(cur) = out.last_mut() {
            cur.push_from(text, copied..s.len());
        }
        changed.then_some(out)
    }

    /// Resolves a `$NAME` / `${NAME}` reference at the start of `s`:
    /// its byte length and value lines.
    fn reference(&mut self, s: &str, binds: &[(String, String)]) -> Option<(usize, Vec<String>)> {
        if let Some(inner) = s.strip_prefix("${") {
            let end = inner.find('}')?;
            let body = inner[..end].trim();
            let len = 2 + end + 1;
            let mut words = body.split_whitespace();
            let name = words.next()?;
            let value = match name {
                "_PWD" => vec![self.cur_dir.to_string_lossy().to_string()],
                "_INSTANCE" => vec![self.opts.config_id.clone()],
                "_HASH" => vec!["#".to_string()],
                "_BANG" => vec!["!".to_string()],
                // keepalived 2.4: an environment variable, empty when unset.
                "_ENV" => vec![words.next().and_then(|v| std::env::var(v).ok()).unwrap_or_default()],
                "_RANDOM" => {
                    let min: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                    let max: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(32767);
                    vec![self.random(min, max).to_string()]
                }
                _ => lookup(name, binds, &self.defs)?,
            };
            return Some((len, value));
        }
        let body = &s[1..];
        let name_len = body
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map(|(i, _)| i)
            .unwrap_or(body.len());
        if name_len == 0 || body.as_bytes()[0].is_ascii_digit() {
            return None;
        }
        // `$NAME` must be followed by whitespace or the end of the line.
        if body[name_len..].chars().next().is_some_and(|c| !c.is_whitespace()) {
            return None;
        }
        let value = lookup(&body[..name_len], binds, &self.defs)?;
        Some((1 + name_len, value))
    }

    fn random(&mut self, min: u64, max: u64) -> u64 {
        // xorshift64: `${_RANDOM}` needs variety, not cryptographic quality.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        if max <= min {
            return min;
        }
        min + self.rng % (max - min + 1)
    }
}

fn lookup(name: &str, binds: &[(String, String)], defs: &HashMap<String, Vec<String>>) -> Option<Vec<String>> {
    binds
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| vec![v.clone()])
        .or_else(|| defs.get(name).cloned())
}

/// Substitutes single-line values into a short string (repetition bounds).
fn substitute_str(s: &str, binds: &[(String, String)], defs: &HashMap<String, Vec<String>>) -> String {
    let mut out = s.to_string();
    for _ in 0..MAX_SUBST_DEPTH {
        let mut changed = false;
        let mut next = String::new();
        let mut rest = out.as_str();
        while let Some(pos) = rest.find('$') {
            next.push_str(&rest[..pos]);
            let r = &rest[pos..];
            let (len, name) = if let Some(inner) = r.strip_prefix("${") {
                match inner.find('}') {
                    Some(e) => (e + 3, inner[..e].trim().to_string()),
                    None => (1, String::new()),
                }
            } else {
                let n = r[1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .count();
                (1 + n, r[1..1 + n].to_string())
            };
            match lookup(&name, binds, defs) {
                Some(v) if !name.is_empty() => {
                    next.push_str(&v.join(" "));
                    changed = true;
                }
                _ => next.push_str(&r[..len]),
            }
            rest = &r[len..];
        }
        next.push_str(rest);
        out = next;
        if !changed {
            break;
        }
    }
    out
}

/// Replaces only repetition variables, so a definition made inside a
/// repeated line captures the current value (as the man page's nested
/// example relies on).
fn substitute_binds_only(value: &str, binds: &[(String, String)]) -> String {
    if binds.is_empty() {
        return value.to_string();
    }
    substitute_str(value, binds, &HashMap::new())
}

/// `$NAME=VALUE` with no space before `=`. Returns the name and raw value.
fn parse_definition(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('$')?;
    let name_len = body
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map(|(i, _)| i)?;
    if name_len == 0 || body.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let value = body[name_len..].strip_prefix('=')?;
    Some((&body[..name_len], value))
}

enum Directive {
    Seq { var: String, args: Vec<String>, hex: bool },
    Lst { vars: Vec<String>, rows: Vec<Vec<String>> },
}

fn directive_head(i: &str) -> IResult<&str, (&str, Option<&str>)> {
    (nom::branch::alt((tag("~SEQ"), tag("~LST"))), opt(tag("x"))).parse(i)
}

fn name(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_').parse(i)
}

/// Parses a leading repetition directive; returns bytes consumed.
fn parse_directive(s: &str) -> Option<(usize, Directive)> {
    let (rest, (kind, hex)) = directive_head(s).ok()?;
    let rest = rest.strip_prefix('(')?;
    // Find the closing parenthesis at brace depth 0.
    let mut depth = 0i32;
    let mut close = None;
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ')' if depth == 0 => {
                close = Some(i);
                break;
            }
            _ => {}
        }
    }
    let close = close?;
    let inner = &rest[..close];
    let consumed = s.len() - rest.len() + close + 1;
    let parts = split_top_level(inner);
    if kind == "~SEQ" {
        let var = parts.first()?.trim();
        let (_, n) = name(var).ok()?;
        if n.len() != var.len() || var.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let args = parts[1..].iter().map(|p| p.trim().to_string()).collect();
        Some((
            consumed,
            Directive::Seq {
                var: var.to_string(),
                args,
                hex: hex.is_some(),
            },
        ))
    } else {
        if hex.is_some() {
            return None;
        }
        let first = parts.first()?.trim();
        let group = |p: &str| -> Vec<String> {
            let p = p.trim();
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(inner) => inner.split(',').map(|v| v.trim().to_string()).collect(),
                None => vec![p.to_string()],
            }
        };
        let vars = group(first);
        if vars.iter().any(|v| name(v).map(|(r, _)| !r.is_empty()).unwrap_or(true)) {
            return None;
        }
        let rows: Vec<Vec<String>> = parts[1..].iter().map(|p| group(p)).collect();
        if rows.is_empty() {
            return None;
        }
        Some((consumed, Directive::Lst { vars, rows }))
    }
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_num(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => body.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// The values of `~SEQ(var, [start, [step,]] end)` as the man page defines them.
fn seq_values(args: &[String]) -> Result<Vec<i64>, String> {
    let nums: Vec<i64> = args
        .iter()
        .map(|a| parse_num(a).ok_or_else(|| format!("'{a}' is not a number")))
        .collect::<Result<_, _>>()?;
    let (start, step, end) = match nums.as_slice() {
        [end] => (if *end < 0 { -1 } else { 1 }, None, *end),
        [start, end] => (*start, None, *end),
        [start, step, end] => (*start, Some(*step), *end),
        _ => return Err("expected 1 to 3 numbers after the variable".into()),
    };
    let step = step.unwrap_or(if end >= start { 1 } else { -1 });
    if step == 0 {
        return Err("step must not be 0".into());
    }
    let mut values = Vec::new();
    let mut v = start;
    while (step > 0 && v <= end) || (step < 0 && v >= end) {
        values.push(v);
        if values.len() > MAX_EXPANDED_LINES {
            return Err("sequence too long".into());
        }
        v = match v.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(values)
}

/// `32 MiB`, or the bytes when under a mebibyte.
fn mebibytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// The directories one `include` lists, each read once: the thousands of
/// alternatives a brace pattern can expand to (up to
/// [`MAX_INCLUDE_PATTERNS`]) mostly glob the same directory.
#[derive(Default)]
struct Listings(HashMap<PathBuf, Vec<String>>);

impl Listings {
    /// The UTF-8 names in `dir`, sorted (glob skips the others); none if
    /// it cannot be read.
    fn names(&mut self, dir: &Path) -> &[String] {
        self.0.entry(dir.to_path_buf()).or_insert_with(|| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter_map(|e| e.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            names
        })
    }
}

/// What `glob::glob(pattern)` yields (its readable paths, in its order).
/// A pattern whose wildcards are all in its last component, the common
/// case, is matched against the cached listing of its directory; any
/// other goes to the glob crate.
fn glob_files(pattern: &str, listings: &mut Listings) -> Result<Vec<PathBuf>, glob::PatternError> {
    let slow = |pattern: &str| Ok(glob::glob(pattern)?.filter_map(Result::ok).collect());
    let has_wildcards = |s: &str| s.contains(['*', '?', '[']);
    let (dir, last) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let plain = !pattern.contains("//") && !has_wildcards(dir) && !last.starts_with('.') && !last.contains("**");
    if !has_wildcards(last) || !plain {
        return slow(pattern);
    }
    let (Ok(_), Ok(matcher)) = (glob::Pattern::new(pattern), glob::Pattern::new(last)) else {
        return slow(pattern); // for glob's own error
    };
    // As glob walks it: from the root (or the working directory, whose
    // entries it names bare), one literal component at a time.
    let (mut at, rest) = match dir.strip_prefix('/') {
        Some(rest) => (PathBuf::from("/"), rest),
        None if pattern.starts_with('/') => (PathBuf::from("/"), ""),
        None => (PathBuf::from("."), dir),
    };
    for component in rest.split('/').filter(|c| !c.is_empty()) {
        at = if at == Path::new(".") {
            PathBuf::from(component)
        } else {
            at.join(component)
        };
    }
    let bare = at == Path::new(".");
    let options = glob::MatchOptions::new();
    Ok(listings
        .names(&at)
        .iter()
        .filter(|name| matcher.matches_with(name, options))
        .map(|name| if bare { PathBuf::from(name) } else { at.join(name) })
        .collect())
}

/// Any execute bit set: keepalived refuses such a file as configuration.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// [`expand_braces`] with duplicates removed as it goes (`{,,,}` repeated
/// is one pattern, not 4ⁿ), giving up past `limit` distinct patterns.
pub fn expand_braces_bounded(pattern: &str, limit: usize) -> Option<Vec<String>> {
    let Some(open) = pattern.find('{') else {
        return Some(vec![pattern.to_string()]);
    };
    // Expand the first group, then each result again; every pattern is
    // kept once, in the order csh gives.
    let _ = open;
    let mut done: Vec<String> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut todo: Vec<String> = vec![pattern.to_string()];
    while let Some(p) = todo.pop() {
        let step = expand_first_group(&p);
        if step.len() == 1 && step[0] == p {
            done.push(p);
            if done.len() > limit {
                return None;
            }
            continue;
        }
        for s in step.into_iter().rev() {
            if seen.insert(s.clone()) {
                todo.push(s);
            }
        }
        if seen.len() > 4 * limit {
            return None;
        }
    }
    Some(done)
}

/// Expands the first `{…,…}` group of a pattern (the literal `{x}` and
/// unclosed groups stay as they are).
fn expand_first_group(pattern: &str) -> Vec<String> {
    let mut from = 0;
    while let Some(rel) = pattern[from..].find('{') {
        let Some((open, commas, close)) = brace_group(pattern, from + rel) else {
            return vec![pattern.to_string()];
        };
        if commas.is_empty() {
            from = close + 1;
            continue;
        }
        let mut bounds = vec![open];
        bounds.extend(&commas);
        bounds.push(close);
        let mut out: Vec<String> = Vec::new();
        for w in bounds.windows(2) {
            let s = format!(
                "{}{}{}",
                &pattern[..open],
                &pattern[w[0] + 1..w[1]],
                &pattern[close + 1..]
            );
            if !out.contains(&s) {
                out.push(s);
            }
        }
        return out;
    }
    vec![pattern.to_string()]
}

/// The brace group opening at byte `open`: its top-level commas and its
/// closing brace, or `None` if it never closes.
fn brace_group(pattern: &str, open: usize) -> Option<(usize, Vec<usize>, usize)> {
    let mut depth = 0;
    let mut commas = Vec::new();
    for (i, &b) in pattern.as_bytes().iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((open, commas, i));
                }
            }
            b',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    None
}

/// csh-style brace expansion: `a{b,c{d,e}}f` → `abf acdf acef`.
pub fn expand_braces(pattern: &str) -> Vec<String> {
    let Some((open, commas, close)) = pattern.find('{').and_then(|open| brace_group(pattern, open)) else {
        return vec![pattern.to_string()];
    };
    if commas.is_empty() {
        // `{x}` with no alternatives is literal in csh; keep it and expand the rest.
        let tail = expand_braces(&pattern[close + 1..]);
        return tail
            .into_iter()
            .map(|t| format!("{}{}", &pattern[..=close], t))
            .collect();
    }
    let prefix = &pattern[..open];
    let suffix = &pattern[close + 1..];
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let alt = &pattern[w[0] + 1..w[1]];
        for expanded in expand_braces(&format!("{prefix}{alt}{suffix}")) {
            out.push(expanded);
        }
    }
    out
}

fn read_text(path: &Path) -> Result<String, std::io::Error> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "file is larger than {} MiB; not a configuration file",
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    let bytes = std::fs::read(path)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cached listing gives what the glob crate gives, pattern by
    /// pattern, over a directory with the cases that differ: hidden and
    /// bracketed names, a directory and a symlink to one that match the
    /// pattern, nested and missing directories, `.` and `..` components.
    #[test]
    fn cached_include_globbing_yields_what_glob_yields() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        for f in [
            "a.conf",
            "b.conf",
            ".hidden.conf",
            "x[1].conf",
            "A.CONF",
            "ab",
            "sub/c.conf",
            "sub/d.txt",
        ] {
            if let Some(parent) = d.join(f).parent() {
                std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            std::fs::write(d.join(f), "").unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::create_dir(d.join("dir.conf")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(d.join("sub"), d.join("link.conf")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(d.join("a.conf"), d.join("alias.conf")).unwrap_or_else(|e| panic!("{e}"));
        let base = d.display().to_string();
        let mut listings = Listings::default();
        let mut compared = 0;
        for p in [
            "*.conf",
            "?.conf",
            "[ab].conf",
            "[!a]*",
            "*",
            "x[[]1].conf",
            "*.CONF",
            "a*",
            "sub/*",
            "sub/*.conf",
            "./sub/*.txt",
            "sub/../*.conf",
            "missing/*",
            "a.conf/*",
            "*/*.conf",
            ".*",
            "**",
            "[",
            "sub//*",
        ] {
            let pattern = format!("{base}/{p}");
            let want: Result<Vec<PathBuf>, String> = glob::glob(&pattern)
                .map(|paths| paths.filter_map(Result::ok).collect())
                .map_err(|e| e.to_string());
            let got = glob_files(&pattern, &mut listings).map_err(|e| e.to_string());
            assert_eq!(got, want, "{p}");
            compared += usize::from(want.is_ok_and(|w| !w.is_empty()));
        }
        assert!(compared >= 12, "most patterns match something: {compared}");
    }

    fn run(text: &str, id: &str) -> (Vec<Vec<String>>, Diagnostics) {
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let out =
            Preprocessor::new(&mut sources, &mut diags, Options::with_id(id)).run_text(Path::new("test.conf"), text);
        let lines = out
            .lines
            .iter()
            .map(|l| l.tokens.iter().map(|t| t.text.clone()).collect())
            .collect();
        (lines, diags)
    }

    fn joined(text: &str, id: &str) -> Vec<String> {
        run(text, id).0.into_iter().map(|l| l.join(" ")).collect()
    }

    #[test]
    fn definitions_substitute_at_use_time_and_recursively() {
        let text = "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n";
        assert_eq!(joined(text, "x"), ["10.2.0.100/32", "10.2.10.100/32"]);
    }

    #[test]
    fn bare_reference_needs_following_whitespace() {
        assert_eq!(
            joined("$P=150\npriority $P\nx $P/24\n", "x"),
            ["priority 150", "x $P/24"]
        );
        assert_eq!(joined("undefined $NOPE here\n", "x"), ["undefined $NOPE here"]);
    }

    #[test]
    fn conditionals_select_by_config_id() {
        let text = "@node1 priority 150\n@^node1 priority 99\n$IF_MAIN=@node1\n$IF_MAIN state MASTER\n";
        assert_eq!(joined(text, "node1"), ["priority 150", "state MASTER"]);
        assert_eq!(joined(text, "node2"), ["priority 99"]);
    }

    #[test]
    fn exponential_definitions_stop_at_the_budget() {
        // Multi-line definitions that each use the one before twice:
        // 2^24 lines of output from 25 lines of input.
        let mut text = String::from("$D0=vrrp_script s {\\\n}\n");
        for i in 1..=24 {
            text += &format!("$D{i}=$D{} \\\n$D{}\n", i - 1, i - 1);
        }
        text += "$D24\n";
        let l = crate::config::load_str("t.conf", &text, &crate::config::LoadOptions::default());
        let d = l.render_diagnostics();
        assert!(
            d.contains("of configuration; stopping") || d.contains("lines; stopping"),
            "{d}"
        );
    }

    /// The fuzzing limits stop where the defaults do not: the same error,
    /// reached sooner.
    #[test]
    fn smaller_limits_stop_sooner() {
        let mut text = String::from("$D0=vrrp_script s {\\\n}\n");
        for i in 1..=12 {
            text += &format!("$D{i}=$D{} \\\n$D{}\n", i - 1, i - 1);
        }
        text += "$D12\n"; // 2^13 lines
        let load = |limits| {
            let opts = crate::config::LoadOptions {
                limits,
                ..Default::default()
            };
            crate::config::load_str("t.conf", &text, &opts).render_diagnostics()
        };
        let full = load(Limits::default());
        assert!(!full.contains("stopping"), "{full}");
        let small = load(Limits::small());
        assert!(
            small.contains("generate more than 335544 bytes of configuration; stopping"),
            "{small}"
        );
        let patterns = crate::config::LoadOptions {
            limits: Limits::small(),
            ..Default::default()
        };
        let braces = crate::config::load_str(
            "t.conf",
            "include /nonexistent/{a,b,c,d,e,f,g,h}{a,b,c,d,e,f,g,h}{a,b,c,d,e,f,g,h}{a,b,c,d,e,f,g,h}\n",
            &patterns,
        );
        assert!(
            braces
                .render_diagnostics()
                .contains("expands to more than 655 patterns"),
            "{}",
            braces.render_diagnostics()
        );
    }

    #[test]
    fn multi_line_definitions_expand_to_lines() {
        let text = "$M= \\\nvrrp_instance VI_${N} { \\\n  virtual_router_id ${N} \\\n}\n~SEQ(N, 20, 1, 21) $M\n";
        assert_eq!(
            joined(text, "x"),
            [
                "vrrp_instance VI_20 {",
                "virtual_router_id 20",
                "}",
                "vrrp_instance VI_21 {",
                "virtual_router_id 21",
                "}"
            ]
        );
    }

    #[test]
    fn seq_forms_from_the_man_page() {
        assert_eq!(
            joined("~SEQ(S, 0, 3) ip 10.0.${S}.1\n", "x"),
            ["ip 10.0.0.1", "ip 10.0.1.1", "ip 10.0.2.1", "ip 10.0.3.1"]
        );
        assert_eq!(
            joined("~SEQx(S, 0x90, 0x10, 0xc0) fe80::${S}\n", "x"),
            ["fe80::90", "fe80::a0", "fe80::b0", "fe80::c0"]
        );
        assert_eq!(joined("~SEQ(N, 3) n${N}\n", "x"), ["n1", "n2", "n3"]);
        assert_eq!(joined("~SEQ(N, 3, 1) n${N}\n", "x"), ["n3", "n2", "n1"]);
    }

    #[test]
    fn lst_single_multi_and_nested() {
        assert_eq!(
            joined("~LST({IP, IP1}, {10,1},{20,4}) 192.168.${IP}.${IP1}\n", "x"),
            ["192.168.10.1", "192.168.20.4"]
        );
        assert_eq!(
            joined("~LST(A, 1, 2) ~LST(B, 5,6) ${A}.${B}\n", "x"),
            ["1.5", "1.6", "2.5", "2.6"]
        );
    }

    #[test]
    fn predefined_parameters() {
        assert_eq!(joined("router_id a${_HASH}b${_BANG}c\n", "x"), ["router_id a#b!c"]);
        assert_eq!(joined("router_id ${_INSTANCE}\n", "nodeA"), ["router_id nodeA"]);
        // cargo runs tests with CARGO_MANIFEST_DIR set, as at build time.
        let dir = env!("CARGO_MANIFEST_DIR");
        assert_eq!(
            joined("plugin_dir ${_ENV CARGO_MANIFEST_DIR}\n", "x"),
            [format!("plugin_dir {dir}")]
        );
        assert_eq!(joined("a${_ENV RKEEPALIVED_SURELY_UNSET_VARIABLE}b\n", "x"), ["ab"]);
        let r: u64 = joined("${_RANDOM 5 7}\n", "x")[0].parse().unwrap_or(0);
        assert!((5..=7).contains(&r));
    }

    #[test]
    fn self_reference_is_an_error_not_a_hang() {
        let (_, diags) = run("$A=x $A y\nz $A\n", "x");
        assert!(diags.has_errors());
    }

    #[test]
    fn columns_point_into_the_physical_line() {
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let out = Preprocessor::new(&mut sources, &mut diags, Options::with_id("x"))
            .run_text(Path::new("t.conf"), "$P=150\n\n   priority $P   # c\n");
        let toks = &out.lines[0].tokens;
        assert_eq!((toks[0].span.line, toks[0].span.col), (3, 4));
        assert_eq!((toks[1].span.line, toks[1].span.col), (3, 13));
    }

    #[test]
    fn brace_expansion() {
        assert_eq!(expand_braces("a{b,c{d,e}}f"), ["abf", "acdf", "acef"]);
        assert_eq!(
            expand_braces_bounded("a{b,c{d,e}}f", 10),
            Some(vec!["abf".into(), "acdf".into(), "acef".into()])
        );
        assert_eq!(
            expand_braces_bounded("x/{,cat,dog}", 10),
            Some(vec!["x/".into(), "x/cat".into(), "x/dog".into()])
        );
        // The fuzzer's case: repeated empty groups are one pattern, at once.
        let bomb = format!("/x{}", "{,,,,,,,}".repeat(8));
        let t = std::time::Instant::now();
        assert_eq!(expand_braces_bounded(&bomb, 10), Some(vec!["/x".into()]));
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        // Distinct alternatives that multiply past the bound are refused.
        assert_eq!(expand_braces_bounded(&"{a,b,c,d}".repeat(9), 65_536), None);
        assert_eq!(expand_braces("x/{,cat,dog}"), ["x/", "x/cat", "x/dog"]);
        assert_eq!(expand_braces("plain"), ["plain"]);
    }

    #[test]
    fn includes_resolve_relative_to_the_including_file_and_detect_cycles() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sub = dir.path().join("conf.d");
        std::fs::create_dir(&sub).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(sub.join("b.conf"), "router_id B\ninclude ../main.conf\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("main.conf"),
            "include conf.d/*.conf\ninclude missing/*.conf\nincludea nothere.conf\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let out = Preprocessor::new(&mut sources, &mut diags, Options::with_id("x"))
            .run_file(&dir.path().join("main.conf"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.lines.len(), 1);
        assert_eq!(out.lines[0].tokens[1].text, "B");
        let msgs: Vec<_> = diags.iter().map(|d| (d.severity, d.message.clone())).collect();
        assert!(msgs
            .iter()
            .any(|(s, m)| *s == Severity::Error && m.contains("include cycle")));
        assert!(msgs
            .iter()
            .any(|(s, m)| *s == Severity::Warning && m.contains("missing/*.conf")));
        assert_eq!(
            diags.exit_code(),
            6,
            "includea with no match exits 6 as keepalived does"
        );
    }
}
