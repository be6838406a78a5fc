//! Reading keyword arguments: numbers in ranges, booleans, timers, addresses,
//! users and script commands, each failure reported at the token at fault.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use super::diag::{suggest, Diagnostics, Span};
use super::keywords::{Bare, Inert};
use super::lexer::{command_string, split_command};
use super::model::{ScriptSpec, UserSpec};
use super::preprocess::Token;
use super::tree::Node;

/// State shared by the block readers of one load.
pub struct Ctx<'a> {
    pub diags: &'a mut Diagnostics,
    unsupported_seen: HashSet<String>,
    /// keepalived's preferences for rules that give none, in file order.
    pub rule_prefs: super::route::RulePreferences,
    /// Where iproute2's name files (rt_tables, rt_protos, …) are read:
    /// `iproute_etc_dir` overriding `iproute_usr_dir`.
    pub iproute_dirs: [std::path::PathBuf; 2],
}

impl<'a> Ctx<'a> {
    pub fn new(diags: &'a mut Diagnostics) -> Self {
        Ctx {
            diags,
            unsupported_seen: HashSet::new(),
            rule_prefs: Default::default(),
            iproute_dirs: ["/etc/iproute2".into(), "/usr/share/iproute2".into()],
        }
    }

    pub fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.error(span, msg);
    }

    pub fn warning(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.warning(span, msg);
    }

    /// Where keepalived's parser gives up (exit 2).
    pub fn abort(&mut self, span: Span, msg: impl Into<String>) {
        self.diags
            .push(super::diag::Severity::Error, super::diag::Class::Abort, Some(span), msg);
    }

    /// rkeepalived's own remark: never changes `-t`'s verdict.
    pub fn note(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.note(span, msg);
    }

    /// A keyword or block keepalived knows but rkeepalived does not run:
    /// one warning per keyword, the rest of the file still loads.
    pub fn unsupported(&mut self, node: &Node, what: &str) {
        if self.unsupported_seen.insert(node.name().to_string()) {
            self.note(
                node.span(),
                format!("'{}' ({what}) is not supported by rkeepalived, ignored", node.name()),
            );
        }
    }

    /// A deprecated keyword, still applied; keepalived 2.2.7 counts it.
    pub fn deprecated(&mut self, node: &Node, instead: &str) {
        self.warning(node.span(), format!("'{}' is deprecated; use {instead}", node.name()));
    }

    /// A keyword of a newer keepalived that rkeepalived does not implement.
    pub fn newer_ignored(&mut self, node: &Node, n: &super::keywords::Newer) {
        let version = if n.since == "later" {
            "2.x".to_string()
        } else {
            n.since.to_string()
        };
        self.note(
            node.span(),
            format!(
                "'{}': keepalived {version} keyword, not supported by rkeepalived, ignored",
                n.keyword
            ),
        );
    }

    /// An unknown keyword: name it and suggest the nearest known one.
    pub fn unknown(&mut self, node: &Node, block: &str, known: &[&str]) {
        let msg = match suggest(node.name(), known.iter().copied()) {
            Some(s) => format!("unknown keyword '{}' in {block}; did you mean '{s}'?", node.name()),
            None => format!("unknown keyword '{}' in {block}", node.name()),
        };
        self.error(node.span(), msg);
    }

    /// The `i`-th argument of a keyword that requires it. keepalived 2.2.7
    /// stops reading the configuration when it is missing ("missing a
    /// parameter after keyword"): `-t` exits 2 and the daemon refuses it.
    pub fn arg<'n>(&mut self, node: &'n Node, i: usize, what: &str) -> Option<&'n Token> {
        let t = node.args.get(i);
        if t.is_none() {
            self.abort(
                node.end_span(),
                format!(
                    "'{}' is missing a parameter ({what}); keepalived stops here",
                    node.name()
                ),
            );
        }
        t
    }

    /// The `i`-th argument of a keyword whose absence keepalived reports
    /// and skips (a configuration error, exit 5) instead of stopping.
    pub fn soft_arg<'n>(&mut self, node: &'n Node, i: usize, what: &str) -> Option<&'n Token> {
        let t = node.args.get(i);
        if t.is_none() {
            self.error(node.end_span(), format!("'{}' needs {what}; ignored", node.name()));
        }
        t
    }

    /// Warns about arguments beyond the first `used`.
    pub fn extra_args(&mut self, node: &Node, used: usize) {
        if let Some(t) = node.args.get(used) {
            self.warning(
                t.span,
                format!("extra argument '{}' to '{}' ignored", t.text, node.name()),
            );
        }
    }

    /// A statement that must not open a block.
    pub fn no_block(&mut self, node: &Node) {
        if let Some(b) = &node.block {
            self.error(b.open, format!("'{}' does not take a block", node.name()));
        }
    }

    pub fn int(&mut self, tok: &Token, lo: i64, hi: i64) -> Option<i64> {
        match parse_int(&tok.text) {
            Some(v) if (lo..=hi).contains(&v) => Some(v),
            Some(_) => {
                self.error(tok.span, format!("number '{}' outside range [{lo}, {hi}]", tok.text));
                None
            }
            None => {
                self.error(tok.span, format!("'{}' is not a number", tok.text));
                None
            }
        }
    }

    /// The single integer argument of `node`, in range.
    pub fn int_arg(&mut self, node: &Node, lo: i64, hi: i64) -> Option<i64> {
        let t = self.arg(node, 0, "a number")?;
        let v = self.int(t, lo, hi);
        self.extra_args(node, 1);
        v
    }

    pub fn u32_arg(&mut self, node: &Node, lo: u32, hi: u32) -> Option<u32> {
        self.int_arg(node, lo.into(), hi.into())
            .and_then(|v| u32::try_from(v).ok())
    }

    pub fn bool_token(&mut self, tok: &Token) -> Option<bool> {
        match tok.text.to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" => Some(true),
            "off" | "false" | "no" => Some(false),
            _ => {
                self.error(
                    tok.span,
                    format!("'{}' is not a boolean (on|off|true|false|yes|no)", tok.text),
                );
                None
            }
        }
    }

    /// A `[BOOL]` keyword: alone it means true.
    pub fn flag_or_bool(&mut self, node: &Node) -> bool {
        let v = match node.args.first() {
            None => true,
            Some(t) => self.bool_token(t).unwrap_or(true),
        };
        self.extra_args(node, 1);
        v
    }

    /// A keyword that takes no arguments.
    pub fn flag(&mut self, node: &Node) -> bool {
        self.extra_args(node, 0);
        true
    }

    /// A `<TIMER>`: decimal seconds with microsecond resolution, in
    /// [lo, hi] microseconds.
    pub fn timer(&mut self, tok: &Token, lo_us: u64, hi_us: u64) -> Option<Duration> {
        match parse_timer_us(&tok.text) {
            Some(us) if (lo_us..=hi_us).contains(&us) => Some(Duration::from_micros(us)),
            Some(_) => {
                self.error(
                    tok.span,
                    format!(
                        "time '{}' outside range [{}, {}] seconds",
                        tok.text,
                        fmt_secs(lo_us),
                        fmt_secs(hi_us)
                    ),
                );
                None
            }
            None => {
                self.error(tok.span, format!("'{}' is not a time in seconds", tok.text));
                None
            }
        }
    }

    pub fn timer_arg(&mut self, node: &Node, lo_us: u64, hi_us: u64) -> Option<Duration> {
        let t = self.arg(node, 0, "a time in seconds")?;
        let v = self.timer(t, lo_us, hi_us);
        self.extra_args(node, 1);
        v
    }

    /// Whole seconds in [lo, hi] (keepalived's GARP delays and refresh
    /// take no fractions: "1.5" is an invalid number and the setting keeps
    /// its default, as keepalived keeps it).
    pub fn secs_arg(&mut self, node: &Node, lo: u64, hi: u64) -> Option<Duration> {
        let t = self.arg(node, 0, "a whole number of seconds")?;
        self.extra_args(node, 1);
        let text = t.text.as_str();
        let v = match text.parse::<i64>() {
            Ok(v) if v < 0 => {
                self.error(t.span, format!("negative number '{text}'; '{}' ignored", node.name()));
                return None;
            }
            Ok(v) => v as u64,
            Err(_) => {
                self.error(
                    t.span,
                    format!("invalid number '{text}' (whole seconds); '{}' ignored", node.name()),
                );
                return None;
            }
        };
        if !(lo..=hi).contains(&v) {
            self.error(
                t.span,
                format!("number '{text}' outside range [{lo}, {hi}]; '{}' ignored", node.name()),
            );
            return None;
        }
        Some(Duration::from_secs(v))
    }

    /// A GARP repeat count: 0 is raised to 1, as keepalived does.
    pub fn repeat_arg(&mut self, node: &Node) -> Option<u32> {
        let v = self.u32_arg(node, 0, u32::MAX)?;
        if v == 0 {
            let span = node.args.first().map(|t| t.span).unwrap_or(node.span());
            self.warning(span, format!("{} must be greater than 0; set to 1", node.name()));
            return Some(1);
        }
        Some(v)
    }

    pub fn ip(&mut self, tok: &Token) -> Option<IpAddr> {
        match tok.text.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(tok.span, format!("'{}' is not an IP address", tok.text));
                None
            }
        }
    }

    pub fn string_arg(&mut self, node: &Node, what: &str) -> Option<String> {
        let t = self.arg(node, 0, what)?;
        let s = t.text.clone();
        self.extra_args(node, 1);
        Some(s)
    }

    /// True (with the error keepalived reports and skips) when a keyword
    /// that needs a value has none; keepalived stops on most such lines
    /// ([`Self::arg`]) but skips these.
    pub fn bare(&mut self, node: &Node, what: &str) -> bool {
        self.soft_arg(node, 0, what).is_none()
    }

    /// As [`Self::string_arg`], for keywords whose missing value keepalived skips.
    pub fn soft_string_arg(&mut self, node: &Node, what: &str) -> Option<String> {
        let t = self.soft_arg(node, 0, what)?;
        let s = t.text.clone();
        self.extra_args(node, 1);
        Some(s)
    }

    /// `USER [GROUP]` from the argument tokens starting at `from`.
    pub fn user_spec(&mut self, node: &Node, from: usize) -> Option<UserSpec> {
        let user = node.args.get(from)?;
        let group = node.args.get(from + 1).map(|g| g.text.clone());
        if let Some(t) = node.args.get(from + 2) {
            // keepalived 2.2.7 ignores it silently: shown, not counted.
            self.note(
                t.span,
                format!("extra argument '{}' after user and group ignored", t.text),
            );
        }
        Some(UserSpec {
            user: user.text.clone(),
            group,
            span: user.span,
        })
    }

    /// A script keyword: `KEYWORD "command args" [user [group]]` or
    /// `KEYWORD /path/cmd [user [group]]`.
    pub fn script(&mut self, node: &Node, allow_user: bool) -> Option<ScriptSpec> {
        let first = self.arg(node, 0, "a command")?;
        let span = first.span;
        if !super::lexer::quote_closed(&node.rest) {
            // keepalived sets no script from an unterminated quote.
            self.error(
                span,
                format!("'{}' has an unterminated quote; no script set", node.name()),
            );
            return None;
        }
        let (command, _) = command_string(&node.rest).unwrap_or_default();
        let argv = split_command(&command);
        if argv.is_empty() {
            self.error(span, format!("'{}' has an empty command", node.name()));
            return None;
        }
        let user = if allow_user {
            self.user_spec(node, 1)
        } else {
            self.extra_args(node, 1);
            None
        };
        Some(ScriptSpec {
            command,
            argv,
            user,
            span,
        })
    }

    /// `weight N [reverse|noreverse]` on a track line, returning the weight
    /// and the explicit reverse setting if one was given.
    pub fn track_weight(
        &mut self,
        node: &Node,
        from: usize,
        lo: i64,
        hi: i64,
        clamp: Option<i64>,
    ) -> (Option<i32>, Option<bool>) {
        let mut weight = None;
        let mut reverse = None;
        let mut i = from;
        while let Some(t) = node.args.get(i) {
            match t.text.as_str() {
                "weight" => {
                    let Some(v) = node.args.get(i + 1) else {
                        self.error(node.end_span(), "'weight' needs a number");
                        break;
                    };
                    let parsed = match (parse_int(&v.text), clamp) {
                        (Some(n), Some(c)) if n.abs() == c + 1 && (lo..=hi).contains(&n.signum()) => {
                            // keepalived clamps ±(max+1) to ±max.
                            Some(n.signum() * c)
                        }
                        _ => self.int(v, lo, hi),
                    };
                    weight = parsed.and_then(|n| i32::try_from(n).ok());
                    i += 2;
                }
                "reverse" => {
                    reverse = Some(true);
                    i += 1;
                }
                "noreverse" => {
                    reverse = Some(false);
                    i += 1;
                }
                other => {
                    let hint = if other == "no_reverse" {
                        " (the keyword is 'noreverse')"
                    } else {
                        ""
                    };
                    self.error(t.span, format!("unexpected '{other}' in tracking entry; expected 'weight N', 'reverse' or 'noreverse'{hint}"));
                    i += 1;
                }
            }
        }
        (weight, reverse)
    }
}

impl Ctx<'_> {
    /// Checks the value of a keyword that has no effect here as keepalived
    /// 2.2.7 checks it, so `-t` gives its verdict; the value is not kept
    /// (CPU numbers excepted: they depend on the machine, see precheck).
    pub fn inert(&mut self, node: &Node, value: Inert) -> Vec<(u32, Span)> {
        let kw = node.name();
        let first = node.args.first();
        let bare = |ctx: &mut Self, b: Bare| match b {
            Bare::Ok => {}
            Bare::Error => ctx.error(node.end_span(), format!("'{kw}' needs a value; ignored")),
            Bare::Abort => {
                ctx.arg(node, 0, "a value");
            }
        };
        match value {
            Inert::Int { lo, hi, bare: b } => match first {
                None => bare(self, b),
                Some(t) => match parse_decimal(&t.text) {
                    Some(v) if (lo..=hi).contains(&v) => {}
                    Some(_) => self.error(t.span, format!("'{kw}' {} outside range [{lo}, {hi}]; ignored", t.text)),
                    None => self.error(t.span, format!("invalid number '{}'; '{kw}' ignored", t.text)),
                },
            },
            Inert::Text(b) => {
                if first.is_none() {
                    bare(self, b);
                }
            }
            Inert::OptionalBool => {
                if let Some(t) = first {
                    if !matches!(
                        t.text.to_ascii_lowercase().as_str(),
                        "on" | "true" | "yes" | "off" | "false" | "no"
                    ) {
                        self.error(t.span, format!("invalid value '{}' for '{kw}'; ignored", t.text));
                    }
                }
            }
            Inert::Cpus => {
                if first.is_none() {
                    bare(self, Bare::Error);
                }
                let mut cpus = Vec::new();
                for t in &node.args {
                    match t.text.parse::<u32>() {
                        Ok(c) => cpus.push((c, t.span)),
                        Err(_) => self.error(t.span, format!("invalid CPU number '{}' for '{kw}'; ignored", t.text)),
                    }
                }
                return cpus;
            }
            Inert::RxBufsPolicy => {
                let words: Vec<&str> = node.args.iter().map(|t| t.text.as_str()).collect();
                if words.is_empty() {
                    bare(self, Bare::Error);
                } else if words.contains(&"MTU") && words.contains(&"ADVERT") {
                    self.error(
                        node.args[0].span,
                        "'vrrp_rx_bufs_policy' cannot be both MTU and ADVERT; ADVERT ignored",
                    );
                } else if let Some(t) = node
                    .args
                    .iter()
                    .find(|t| !matches!(t.text.as_str(), "MTU" | "ADVERT") && t.text.parse::<u32>().is_err())
                {
                    self.error(t.span, format!("invalid vrrp_rx_bufs_policy '{}'; ignored", t.text));
                }
            }
            Inert::Umask => match first {
                None => bare(self, Bare::Abort),
                Some(_) => {
                    let text: String = node.args.iter().map(|t| t.text.as_str()).collect();
                    if !umask_valid(&text) {
                        self.error(node.args[0].span, format!("invalid umask value {text}; ignored"));
                    }
                }
            },
            Inert::IncludeCheck => {
                for t in &node.args {
                    let name = t.text.trim_start_matches(['+', '-']);
                    if !matches!(name, "match" | "wildcard_match" | "brace_match") {
                        // keepalived 2.2.7 rejects 'readable' too, although its man page lists it.
                        self.error(t.span, format!("unknown include_check type '{name}'; ignored"));
                    }
                }
            }
            Inert::Refused(why) => self.warning(node.span(), format!("'{kw}': {why}; ignored")),
            Inert::SmtpServer => match first {
                None => bare(self, Bare::Abort),
                Some(t) => {
                    let port = node
                        .args
                        .get(1)
                        .map(|p| (p, p.text.parse::<u16>().ok().filter(|&p| p > 0)));
                    if let Some((p, None)) = port {
                        self.error(
                            p.span,
                            format!("smtp_server port '{}' outside range [1, 65535]; ignored", p.text),
                        );
                    } else if !resolves(&t.text, port.and_then(|(_, n)| n).unwrap_or(25)) {
                        self.error(t.span, format!("invalid smtp server '{}'; ignored", t.text));
                    }
                }
            },
            Inert::NonEmptyBlock => {
                if let Some(t) = first {
                    self.error(t.span, format!("block '{kw}' has extra parameters '{}'", t.text));
                }
                if node.block.as_ref().is_none_or(|b| b.children.is_empty()) {
                    self.error(node.span(), format!("empty '{kw}' block"));
                }
            }
        }
        Vec::new()
    }
}

/// An address, or a name the resolver knows, as keepalived looks it up.
fn resolves(host: &str, port: u16) -> bool {
    use std::net::ToSocketAddrs;
    host.parse::<IpAddr>().is_ok() || (host, port).to_socket_addrs().is_ok_and(|mut a| a.next().is_some())
}

/// A decimal integer as keepalived reads one (no hex, no fraction).
fn parse_decimal(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `umask`: a number (octal with a leading 0, hex with 0x) up to 0777, or
/// permission names joined by `|`.
fn umask_valid(text: &str) -> bool {
    const BITS: [&str; 9] = [
        "IRUSR", "IWUSR", "IXUSR", "IRGRP", "IWGRP", "IXGRP", "IROTH", "IWOTH", "IXOTH",
    ];
    let number = if let Some(h) = text.strip_prefix("0x") {
        u32::from_str_radix(h, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u32::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse::<u32>().ok()
    };
    match number {
        Some(n) => n <= 0o777,
        None => text.split('|').all(|b| BITS.contains(&b)),
    }
}

pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    s.parse().ok()
}

/// Parses decimal seconds ("3", "0.5", "2.71828") to microseconds.
pub fn parse_timer_us(s: &str) -> Option<u64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut micros: u64 = 0;
    for (i, c) in frac.chars().take(6).enumerate() {
        micros += u64::from(c.to_digit(10)?) * 10u64.pow(5 - i as u32);
    }
    whole.checked_mul(1_000_000)?.checked_add(micros)
}

pub fn fmt_secs(us: u64) -> String {
    if us % 1_000_000 == 0 {
        format!("{}", us / 1_000_000)
    } else {
        let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
        s.trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_parse_to_microseconds() {
        assert_eq!(parse_timer_us("3"), Some(3_000_000));
        assert_eq!(parse_timer_us("0.5"), Some(500_000));
        assert_eq!(parse_timer_us("2.71828"), Some(2_718_280));
        assert_eq!(parse_timer_us(".01"), Some(10_000));
        assert_eq!(parse_timer_us("1.0000019"), Some(1_000_001));
        assert_eq!(parse_timer_us("-1"), None);
        assert_eq!(parse_timer_us("abc"), None);
        assert_eq!(parse_timer_us("."), None);
    }

    #[test]
    fn seconds_format() {
        assert_eq!(fmt_secs(5_000_000), "5");
        assert_eq!(fmt_secs(1), "0.000001");
        assert_eq!(fmt_secs(4_294_967_295), "4294.967295");
    }
}
