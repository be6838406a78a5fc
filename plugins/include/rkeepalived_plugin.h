/*
 * rkeepalived check plugins: the contract between rkeepalived and a plugin.
 *
 * A plugin is a shared library (.so) that exports ONE symbol:
 *
 *     const struct rkeepalived_plugin rkeepalived_plugin;
 *
 * (a data symbol, not a function), whose first field is the ABI version the
 * plugin was built for. rkeepalived reads `abi_version` first and refuses a
 * plugin whose version it does not know, naming the file; only then does it
 * use the other fields. Nothing but C types crosses this boundary.
 *
 * Configuration. The `config { }` block of `check_plugin` reaches
 * `create` as JSON text (RFC 8259, UTF-8, NUL-terminated): one object,
 * compact (no whitespace between tokens), keys in byte order. Parse it as
 * JSON; do not depend on spacing or order. The block's lines map as:
 *     key value            ->  "key":"value"
 *     key v1 v2 v3         ->  "key":["v1","v2","v3"]
 *     key (no value)       ->  "key":true
 *     key { ... }          ->  "key":{ ... }              (nested block)
 *     key repeated         ->  "key":[first,second,...]  (each as above)
 * Every value written in the file is a JSON string (the plugin converts
 * numbers itself); the only other values are `true` for a key written
 * without a value, objects for nested blocks and arrays for several
 * values or repeated keys. Strings are escaped as JSON requires (\" \\
 * and control characters as \n, \t, \u00XX); other characters pass as
 * UTF-8. Quotes in the file group words into one value and are not part
 * of it. A missing or empty `config { }` is the two characters `{}`;
 * `config_json` is never NULL.
 *
 * Calls. `create` once, then `check` every `interval`, then `destroy` when
 * the check is removed (reload, stop). Calls on one handle NEVER overlap
 * (no two `check`s at once, none during `create`/`destroy`); a plugin
 * needs no locking for its handle's state. Different handles (two
 * check_plugin blocks using the same library) may be called from different
 * threads.
 *
 * A `create` that returns NULL fails the check (its message is the
 * reason) and is tried again with a fresh call, after 0.2 s doubling to
 * 30 s, for as long as the check exists; the same holds for an isolated
 * helper that crashed. `rkeepalived -t` also calls `create` with the
 * block's configuration, then `destroy`, in a helper process as the check
 * would run it: a configuration the plugin refuses fails `-t` (exit 5,
 * naming the block's FILE:LINE:COL and the message). Run without root,
 * `-t` cannot switch to the plugin's user and skips this with a warning.
 *
 * Messages. `*message` is NULL when `create` or `check` is called (it is
 * reset before every call). Either may set it to a NUL-terminated UTF-8
 * string THE PLUGIN allocated; rkeepalived copies it and hands it back
 * through `free_message` at once. Leave it NULL to say nothing. With a
 * failure (or a failed `create`) the message is the reason: it is logged
 * when the check's state changes and shown as the check's `detail` in the
 * JSON dump. With a pass it goes to the dump's `detail` only. `free_message`
 * may be NULL if a plugin only ever returns static strings (then they are
 * never freed).
 *
 * Time. `check` receives the check's `timeout` in milliseconds and should
 * return within it. A check that does not is treated as failed; in an
 * isolated plugin (the default) the helper process running it is killed
 * and restarted.
 *
 * Isolation (`isolate yes`, the default). The plugin runs in a helper
 * process that rkeepalived supervises. A plugin that crashes (SIGSEGV,
 * abort), hangs past its timeout or panics only fails its own check; the
 * helper is restarted with backoff, and VRRP never waits for it.
 * `isolate no` loads the plugin into rkeepalived itself: lowest overhead,
 * but a crash there is a crash of the daemon — only for plugins you trust
 * as much as rkeepalived.
 *
 * User. The helper runs as scripts do: global_defs `script_user` if set,
 * else the user `keepalived_script` if it exists, else root. With
 * `enable_script_security` and neither, the plugin is refused. An
 * `isolate no` plugin runs as the daemon (root).
 *
 * Where plugins come from. `plugin` is an absolute path, or a bare name
 * looked up in global_defs `plugin_dir` (default /usr/lib/rkeepalived/plugins;
 * NAME, then libNAME.so). The file and every directory above it must be
 * owned by root and writable by no one else (group-writable only for group
 * root), or the plugin is refused with the reason and `-t` exits 6, as for
 * insecure scripts. A root-owned directory with the sticky bit (such as
 * /tmp, mode 1777) may be writable by everyone: others cannot replace the
 * files in it.
 *
 * Building. Export the symbol with default visibility; under
 * `-fvisibility=hidden` the RKEEPALIVED_PLUGIN_EXPORT on the declaration
 * below keeps it visible. In C++, include this header (the declaration
 * gives the const object external, unmangled linkage) and define
 *     extern "C" const struct rkeepalived_plugin rkeepalived_plugin = { ... };
 *
 * Results of `check`: RKEEPALIVED_CHECK_OK (healthy), RKEEPALIVED_CHECK_FAIL
 * (unhealthy); any other value counts as a failure.
 */
#ifndef RKEEPALIVED_PLUGIN_H
#define RKEEPALIVED_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. */
#define RKEEPALIVED_PLUGIN_ABI_VERSION 1u

/* The name of the one exported symbol. */
#define RKEEPALIVED_PLUGIN_SYMBOL "rkeepalived_plugin"

/* Keeps the symbol visible under -fvisibility=hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define RKEEPALIVED_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define RKEEPALIVED_PLUGIN_EXPORT
#endif

#define RKEEPALIVED_CHECK_OK 0
#define RKEEPALIVED_CHECK_FAIL 1

struct rkeepalived_plugin {
    /* RKEEPALIVED_PLUGIN_ABI_VERSION; always the first field. */
    uint32_t abi_version;
    /* A short name for logs, NUL-terminated, static. */
    const char *name;
    /* Makes a handle from the configuration (JSON text, never NULL).
     * Returns NULL on error, with the reason in *message; retried later. */
    void *(*create)(const char *config_json, char **message);
    /* One check. Returns RKEEPALIVED_CHECK_OK or RKEEPALIVED_CHECK_FAIL;
     * may explain itself in *message. */
    int32_t (*check)(void *handle, uint32_t timeout_ms, char **message);
    /* Frees the handle. */
    void (*destroy)(void *handle);
    /* Frees a message returned by create or check (may be NULL). */
    void (*free_message)(char *message);
};

/* The one symbol a plugin defines (C and C++). */
RKEEPALIVED_PLUGIN_EXPORT extern const struct rkeepalived_plugin rkeepalived_plugin;

#ifdef __cplusplus
}
#endif

#endif /* RKEEPALIVED_PLUGIN_H */
