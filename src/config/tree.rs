//! Statements and blocks: the shape of a keepalived configuration before any
//! keyword has meaning.
//!
//! A statement is a keyword and its arguments; `{` opens a block attached to
//! the statement before it (on the same line, or alone on the next line, as
//! keepalived accepts) and `}` closes it. Braces may share a line with other
//! statements: `global_defs { router_id X }` is a block with one statement.

use super::diag::{Diagnostics, Span};
use super::lexer::TokenKind;
use super::preprocess::{Line, Token};

#[derive(Debug, Clone)]
pub struct Node {
    pub keyword: Token,
    pub args: Vec<Token>,
    /// The statement's text after the keyword, up to the next brace or the
    /// end of the line; script keywords re-read their command from it.
    pub rest: String,
    pub block: Option<Block>,
}

#[derive(Debug, Clone)]
pub struct Block {
    pub open: Span,
    pub children: Vec<Node>,
}

impl Node {
    pub fn name(&self) -> &str {
        &self.keyword.text
    }

    pub fn span(&self) -> Span {
        self.keyword.span
    }

    pub fn children(&self) -> &[Node] {
        self.block.as_ref().map(|b| b.children.as_slice()).unwrap_or(&[])
    }

    /// Where an error about a missing argument should point: just after
    /// the last token of the statement.
    pub fn end_span(&self) -> Span {
        let last = self.args.last().unwrap_or(&self.keyword);
        let width = u32::try_from(last.end.saturating_sub(last.offset)).unwrap_or(0);
        Span::new(last.span.file, last.span.line, last.span.col + width)
    }
}

struct Frame {
    node: Node,
    children: Vec<Node>,
}

/// Builds the statement tree; brace errors are reported, never fatal.
pub fn build(lines: &[Line], diags: &mut Diagnostics) -> Vec<Node> {
    let mut root: Vec<Node> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();

    fn level<'a>(root: &'a mut Vec<Node>, stack: &'a mut [Frame]) -> &'a mut Vec<Node> {
        match stack.last_mut() {
            Some(f) => &mut f.children,
            None => root,
        }
    }

    for line in lines {
        let mut stmt: Vec<&Token> = Vec::new();
        for tok in &line.tokens {
            match tok.kind {
                TokenKind::Open => {
                    let node = if stmt.is_empty() {
                        // `{` on its own line belongs to the statement before.
                        let cur = level(&mut root, &mut stack);
                        match cur.last() {
                            Some(n) if n.block.is_none() => cur.pop(),
                            _ => None,
                        }
                    } else {
                        Some(make_node(&stmt, line, tok.offset))
                    };
                    let node = node.unwrap_or_else(|| {
                        diags.error(tok.span, "'{' without a keyword before it");
                        Node {
                            keyword: tok.clone(),
                            args: Vec::new(),
                            rest: String::new(),
                            block: None,
                        }
                    });
                    let mut node = node;
                    node.block = Some(Block {
                        open: tok.span,
                        children: Vec::new(),
                    });
                    stack.push(Frame {
                        node,
                        children: Vec::new(),
                    });
                    stmt.clear();
                }
                TokenKind::Close => {
                    if !stmt.is_empty() {
                        let n = make_node(&stmt, line, tok.offset);
                        level(&mut root, &mut stack).push(n);
                        stmt.clear();
                    }
                    match stack.pop() {
                        Some(mut frame) => {
                            if let Some(b) = frame.node.block.as_mut() {
                                b.children = frame.children;
                            }
                            level(&mut root, &mut stack).push(frame.node);
                        }
                        None => diags.error(tok.span, "extra '}' with no open block"),
                    }
                }
                TokenKind::Word | TokenKind::Quoted => stmt.push(tok),
            }
        }
        if !stmt.is_empty() {
            let n = make_node(&stmt, line, line.text.len());
            level(&mut root, &mut stack).push(n);
        }
    }
    while let Some(mut frame) = stack.pop() {
        let open = frame
            .node
            .block
            .as_ref()
            .map(|b| b.open)
            .unwrap_or(frame.node.keyword.span);
        diags.error(
            open,
            format!(
                "'{{' of '{}' (line {}) is never closed",
                frame.node.keyword.text, frame.node.keyword.span.line
            ),
        );
        if let Some(b) = frame.node.block.as_mut() {
            b.children = frame.children;
        }
        level(&mut root, &mut stack).push(frame.node);
    }
    root
}

fn make_node(stmt: &[&Token], line: &Line, end: usize) -> Node {
    let keyword = stmt[0].clone();
    let start = keyword.end.min(end);
    Node {
        rest: line.text.get(start..end).unwrap_or("").to_string(),
        args: stmt[1..].iter().map(|t| (*t).clone()).collect(),
        keyword,
        block: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::SourceMap;
    use crate::config::preprocess::{Options, Preprocessor};
    use std::path::Path;

    fn tree(text: &str) -> (Vec<Node>, Diagnostics) {
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let out =
            Preprocessor::new(&mut sources, &mut diags, Options::with_id("x")).run_text(Path::new("t.conf"), text);
        let nodes = build(&out.lines, &mut diags);
        (nodes, diags)
    }

    fn shape(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| {
                let mut s = n.name().to_string();
                for a in &n.args {
                    s.push(' ');
                    s.push_str(&a.text);
                }
                if let Some(b) = &n.block {
                    s.push_str(&format!("{{{}}}", shape(&b.children)));
                }
                s
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    #[test]
    fn braces_share_lines_with_statements() {
        let (n, d) = tree("global_defs { router_id X }\nvrrp_instance V {\n authentication { auth_type PASS\n auth_pass 1111 }\n virtual_ipaddress { 10.0.0.1 }\n}\n");
        assert!(d.is_empty());
        assert_eq!(
            shape(&n),
            "global_defs{router_id X};vrrp_instance V{authentication{auth_type PASS;auth_pass 1111};virtual_ipaddress{10.0.0.1}}"
        );
    }

    #[test]
    fn open_brace_on_its_own_line() {
        let (n, d) = tree("vrrp_instance VI_1\n{\n  priority 100\n}\n");
        assert!(d.is_empty());
        assert_eq!(shape(&n), "vrrp_instance VI_1{priority 100}");
    }

    #[test]
    fn unclosed_brace_names_the_opening_line() {
        let (_, d) = tree("vrrp_instance V {\n  virtual_ipaddress {\n    10.0.0.1\n  }\n\n");
        let msgs: Vec<_> = d
            .iter()
            .map(|x| (x.span.map(|s| (s.line, s.col)), x.message.clone()))
            .collect();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].0, Some((1, 17)));
        assert!(msgs[0].1.contains("vrrp_instance"), "{}", msgs[0].1);
    }

    #[test]
    fn extra_close_is_reported_where_it_is() {
        let (_, d) = tree("global_defs {\n}\n}\n");
        let e: Vec<_> = d.iter().collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].span.map(|s| (s.line, s.col)), Some((3, 1)));
    }

    #[test]
    fn rest_keeps_raw_statement_text() {
        let (n, _) = tree("vrrp_script s {\n script \"/bin/echo \\\"a b\\\"\" # c\n}\n");
        assert_eq!(n[0].children()[0].rest.trim(), "\"/bin/echo \\\"a b\\\"\"");
    }
}
