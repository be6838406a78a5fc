//! `check_plugin NAME { … }`: a check implemented by a shared library
//! (an rkeepalived extension; plugins/include/rkeepalived_plugin.h),
//! referenced from `track_script` like a `vrrp_script`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::model::{CheckCommon, CheckPlugin};
use super::tracking::{block_name, common_setting};
use super::tree::Node;
use super::values::Ctx;

pub const CHECK_PLUGIN_KEYWORDS: &[&str] = &[
    "plugin",
    "interval",
    "timeout",
    "rise",
    "fall",
    "weight",
    "init_fail",
    "isolate",
    "config",
];

pub fn read_check_plugin(ctx: &mut Ctx<'_>, n: &Node) -> Option<CheckPlugin> {
    let name = block_name(ctx, n, "check_plugin")?;
    let mut common = CheckCommon::default();
    let mut plugin = None;
    let mut bad_path = false;
    let mut isolate = true;
    let mut config = Value::Object(Map::new());
    for c in n.children() {
        if common_setting(ctx, c, &mut common) {
            continue;
        }
        match c.name() {
            "plugin" => {
                ctx.no_block(c);
                if let Some(p) = ctx.soft_string_arg(c, "a plugin path or name") {
                    if p.contains('/') && !p.starts_with('/') {
                        ctx.error(
                            c.args[0].span,
                            format!("plugin '{p}': use an absolute path or a bare name looked up in plugin_dir"),
                        );
                        bad_path = true;
                    } else {
                        plugin = Some(p);
                    }
                }
            }
            "isolate" => {
                ctx.no_block(c);
                isolate = ctx.flag_or_bool(c);
            }
            "config" => {
                ctx.extra_args(c, 0);
                config = config_json(c.children());
            }
            "include" => {}
            _ => ctx.unknown(c, "check_plugin", CHECK_PLUGIN_KEYWORDS),
        }
    }
    let Some(plugin) = plugin else {
        if !bad_path {
            ctx.error(n.span(), format!("check_plugin {name}: needs 'plugin PATH'"));
        }
        return None;
    };
    Some(CheckPlugin {
        name,
        span: n.span(),
        common,
        plugin,
        isolate,
        config_json: config.to_string(),
    })
}

/// The header's mapping: `key v` → "v"; `key v1 v2` → ["v1","v2"];
/// `key` → true; a repeated key → an array of its values; `key { … }` →
/// an object.
pub fn config_json(children: &[Node]) -> Value {
    let mut map = Map::new();
    let mut repeated: HashSet<String> = HashSet::new();
    for c in children {
        let value = if c.block.is_some() {
            config_json(c.children())
        } else {
            match c.args.len() {
                0 => Value::Bool(true),
                1 => Value::String(c.args[0].text.clone()),
                _ => Value::Array(c.args.iter().map(|t| Value::String(t.text.clone())).collect()),
            }
        };
        let key = c.name().to_string();
        match map.remove(&key) {
            None => {
                map.insert(key, value);
            }
            Some(Value::Array(mut list)) if repeated.contains(&key) => {
                list.push(value);
                map.insert(key, Value::Array(list));
            }
            Some(first) => {
                repeated.insert(key.clone());
                map.insert(key, Value::Array(vec![first, value]));
            }
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::super::{load_str, LoadOptions, Loaded};

    fn load(text: &str) -> Loaded {
        load_str("t.conf", text, &LoadOptions::default())
    }

    #[test]
    fn config_block_maps_to_json_as_the_header_says() {
        let l = load(
            "check_plugin chk {\n plugin /usr/lib/rkeepalived/plugins/x.so\n isolate no\n config {\n  url http://127.0.0.1:8080/health\n  expect 200\n  ports 80 443\n  verbose\n  header A\n  header B\n  header C\n  tls {\n   ca /etc/ca.pem\n  }\n }\n}\n",
        );
        assert!(l.diags.is_empty(), "{}", l.render_diagnostics());
        let p = &l.config.check_plugins[0];
        assert!(!p.isolate);
        let v: serde_json::Value = serde_json::from_str(&p.config_json).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({
                "url": "http://127.0.0.1:8080/health", "expect": "200", "ports": ["80", "443"],
                "verbose": true, "header": ["A", "B", "C"], "tls": {"ca": "/etc/ca.pem"}
            })
        );
    }

    /// The header's text-level promises: compact, keys in byte order,
    /// quotes group words and are not part of the value, JSON escaping,
    /// and `{}` for a missing or empty block.
    #[test]
    fn config_json_text_is_compact_sorted_escaped_and_never_empty() {
        let text = |config: &str| {
            let l = load(&format!("check_plugin chk {{\n plugin /x.so\n{config}}}\n"));
            assert!(!l.diags.has_errors(), "{}", l.render_diagnostics());
            l.config.check_plugins[0].config_json.clone()
        };
        assert_eq!(text(""), "{}");
        assert_eq!(text(" config {\n }\n"), "{}");
        assert_eq!(
            text(" config {\n  zeta 1\n  alpha \"two words\"\n  path C:\\dir\\x\n  q café\n }\n"),
            r#"{"alpha":"two words","path":"C:\\dir\\x","q":"café","zeta":"1"}"#
        );
    }

    #[test]
    fn relative_paths_and_missing_plugin_are_errors() {
        let l = load("check_plugin c {\n plugin lib/x.so\n}\n");
        assert!(
            l.render_diagnostics().contains("t.conf:2:9: error: plugin 'lib/x.so'"),
            "{}",
            l.render_diagnostics()
        );
        let l = load("check_plugin c {\n interval 1\n}\n");
        assert!(
            l.render_diagnostics().contains("needs 'plugin PATH'"),
            "{}",
            l.render_diagnostics()
        );
    }
}
