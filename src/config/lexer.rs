//! Tokens of one logical line, as keepalived 2.2.7 splits them.
//!
//! Observed on keepalived 2.2.7: only double quotes quote (`'a b'` is two
//! words), a backslash does not escape a quote, a quote inside a word starts a
//! new token (`a"b c"d` is `a`, `b c`, `d`), `{` and `}` are always tokens of
//! their own, and `\#` / `\!` are literal characters. Comments are removed
//! before this stage ([`strip_comment`]).

use nom::branch::alt;
use nom::bytes::complete::{take_till, take_till1, take_while1};
use nom::character::complete::char;
use nom::combinator::{map, opt};
use nom::sequence::preceded;
use nom::{IResult, Parser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Word,
    Quoted,
    Open,
    Close,
}

/// A token with its byte offset in the logical line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawToken {
    pub kind: TokenKind,
    pub text: String,
    pub offset: usize,
    /// Byte offset just past the token (past the closing quote if any).
    pub end: usize,
    /// A quoted string ran to the end of the line without its closing quote.
    pub unterminated: bool,
}

/// Removes a `#` or `!` comment that is outside double quotes.
/// `\#` and `\!` do not start comments.
pub fn strip_comment(line: &str) -> &str {
    let mut in_quote = false;
    let mut prev_backslash = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '#' | '!' if !in_quote && !prev_backslash => return &line[..i],
            _ => {}
        }
        prev_backslash = c == '\\' && !prev_backslash;
    }
    line
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn spaces(i: &str) -> IResult<&str, &str> {
    take_while1(is_space).parse(i)
}

fn quoted(i: &str) -> IResult<&str, (&str, bool)> {
    map(
        (char('"'), take_till(|c| c == '"'), opt(char('"'))),
        |(_, body, close)| (body, close.is_none()),
    )
    .parse(i)
}

fn word(i: &str) -> IResult<&str, &str> {
    take_till1(|c: char| is_space(c) || c == '"' || c == '{' || c == '}').parse(i)
}

enum Piece<'a> {
    Space,
    Quoted(&'a str, bool),
    Word(&'a str),
    Open,
    Close,
}

fn piece(i: &str) -> IResult<&str, Piece<'_>> {
    alt((
        map(spaces, |_| Piece::Space),
        map(quoted, |(s, unterminated)| Piece::Quoted(s, unterminated)),
        map(char('{'), |_| Piece::Open),
        map(char('}'), |_| Piece::Close),
        map(word, Piece::Word),
    ))
    .parse(i)
}

/// Splits a comment-free logical line into tokens.
pub fn tokenize(line: &str) -> Vec<RawToken> {
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let offset = line.len() - rest.len();
        let Ok((next, p)) = piece(rest) else {
            // Unreachable in practice: every character starts some piece.
            break;
        };
        let (kind, text, unterminated) = match p {
            Piece::Space => {
                rest = next;
                continue;
            }
            Piece::Quoted(s, u) => (TokenKind::Quoted, s.to_string(), u),
            Piece::Word(w) => (TokenKind::Word, unescape_comment_chars(w), false),
            Piece::Open => (TokenKind::Open, "{".to_string(), false),
            Piece::Close => (TokenKind::Close, "}".to_string(), false),
        };
        out.push(RawToken {
            kind,
            text,
            offset,
            end: line.len() - next.len(),
            unterminated,
        });
        rest = next;
    }
    out
}

fn unescape_comment_chars(w: &str) -> String {
    if w.contains('\\') {
        w.replace("\\#", "#").replace("\\!", "!")
    } else {
        w.to_string()
    }
}

/// Reads the command string of a script keyword from the rest of its line.
///
/// A quoted command may contain `\"` (keepalived reads script strings with
/// their own reader). Returns the command text and the byte length consumed.
/// Whether a command line that starts with a quote also closes it.
pub fn quote_closed(rest: &str) -> bool {
    let Some(body) = rest.trim_start().strip_prefix('"') else {
        return true;
    };
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return true,
            _ => {}
        }
    }
    false
}

pub fn command_string(rest: &str) -> Option<(String, usize)> {
    let trimmed = rest.trim_start();
    let lead = rest.len() - trimmed.len();
    if let Some(body) = trimmed.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '"')) => out.push_str("\\\""),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => out.push('\\'),
                },
                '"' => return Some((out, lead + 1 + i + 1)),
                _ => out.push(c),
            }
        }
        Some((out, rest.len()))
    } else {
        let (_, w) = word(trimmed).ok()?;
        Some((unescape_comment_chars(w), lead + w.len()))
    }
}

fn escape(i: &str) -> IResult<&str, char> {
    preceded(char('\\'), nom::character::complete::anychar).parse(i)
}

/// Splits a script command into argv the way keepalived does: whitespace
/// separates words, `'…'` and `"…"` group, and C-style escapes are decoded
/// (`\t` becomes a tab, which then separates words as keepalived's does).
pub fn split_command(cmd: &str) -> Vec<String> {
    let decoded = decode_escapes(cmd);
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut quote: Option<char> = None;
    for c in decoded.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                have = true;
            }
            None if c.is_whitespace() => {
                if have {
                    args.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            None => {
                cur.push(c);
                have = true;
            }
        }
    }
    if have {
        args.push(cur);
    }
    args
}

/// Decodes `\a \b \E \f \n \r \t \v \nnn \xXX \cC`; any other escaped
/// character stands for itself (so `\"` is a quote character).
fn decode_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        if let Ok((next, c)) = escape(rest) {
            let (decoded, next) = match c {
                'a' => ('\u{7}', next),
                'b' => ('\u{8}', next),
                'E' | 'e' => ('\u{1b}', next),
                'f' => ('\u{c}', next),
                'n' => ('\n', next),
                'r' => ('\r', next),
                't' => ('\t', next),
                'v' => ('\u{b}', next),
                'x' => {
                    let hex: String = next.chars().take_while(|c| c.is_ascii_hexdigit()).take(2).collect();
                    match u8::from_str_radix(&hex, 16) {
                        Ok(v) if !hex.is_empty() => (char::from(v), &next[hex.len()..]),
                        _ => ('x', next),
                    }
                }
                'c' => match next.chars().next() {
                    Some(ch) if ch.is_ascii() => (char::from((ch as u8) & 0x1f), &next[1..]),
                    _ => ('c', next),
                },
                '0'..='7' => {
                    let oct: String = rest[1..]
                        .chars()
                        .take_while(|c| ('0'..='7').contains(c))
                        .take(3)
                        .collect();
                    let v = u32::from_str_radix(&oct, 8).unwrap_or(0);
                    (char::from_u32(v).unwrap_or('?'), &rest[1 + oct.len()..])
                }
                other => (other, next),
            };
            out.push(decoded);
            rest = next;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    // An escaped quote decodes to a plain quote, which then groups: keepalived
    // 2.2.7 turns `\"c d\"` into the one argument `c d`.
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        tokenize(line).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn comments_outside_quotes_only() {
        assert_eq!(strip_comment("router_id a # c"), "router_id a ");
        assert_eq!(strip_comment("router_id u!v"), "router_id u");
        assert_eq!(strip_comment("router_id \"q#r\""), "router_id \"q#r\"");
        assert_eq!(strip_comment("router_id x\\#y"), "router_id x\\#y");
        assert_eq!(strip_comment("! whole line"), "");
    }

    #[test]
    fn words_quotes_and_braces_as_keepalived_splits_them() {
        assert_eq!(
            texts("global_defs { router_id X }"),
            ["global_defs", "{", "router_id", "X", "}"]
        );
        assert_eq!(texts("vrrp_instance X{"), ["vrrp_instance", "X", "{"]);
        assert_eq!(texts("router_id \"a b\"c"), ["router_id", "a b", "c"]);
        assert_eq!(texts("router_id a\"b c\"d"), ["router_id", "a", "b c", "d"]);
        assert_eq!(texts("router_id 'a b'"), ["router_id", "'a", "b'"]);
        assert_eq!(texts("router_id \"a\\\"b\""), ["router_id", "a\\", "b", ""]);
        assert_eq!(texts("router_id x\\#y"), ["router_id", "x#y"]);
        assert_eq!(texts("auth_pass 1111 }"), ["auth_pass", "1111", "}"]);
    }

    #[test]
    fn token_offsets_point_at_the_token() {
        let t = tokenize("  priority  100");
        assert_eq!(t[0].offset, 2);
        assert_eq!(t[1].offset, 12);
    }

    #[test]
    fn unterminated_quote_is_flagged() {
        let t = tokenize("script \"/bin/true");
        assert!(t[1].unterminated);
        assert_eq!(t[1].text, "/bin/true");
    }

    #[test]
    fn command_splitting_matches_keepalived() {
        // keepalived 2.2.7 dumped: '/bin/echo' 'a b' 'x' 'y' 'c d' 'e' 'f'
        let (cmd, _) = command_string(r#""/bin/echo 'a b' x\ y \"c d\" e\tf""#).unwrap_or_default();
        assert_eq!(split_command(&cmd), ["/bin/echo", "a b", "x", "y", "c d", "e", "f"]);
        assert_eq!(split_command("/x.sh NM arg1"), ["/x.sh", "NM", "arg1"]);
        let (cmd, used) = command_string(" /bin/echo q").unwrap_or_default();
        assert_eq!((cmd.as_str(), used), ("/bin/echo", 10));
    }

    #[test]
    fn escapes_decode() {
        assert_eq!(decode_escapes(r"a\x41b"), "aAb");
        assert_eq!(decode_escapes(r"\101"), "A");
        assert_eq!(decode_escapes(r"\cA"), "\u{1}");
    }
}
