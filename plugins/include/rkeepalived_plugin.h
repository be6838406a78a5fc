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
 * `create` as JSON text (UTF-8, NUL-terminated), an object:
 *     key value            ->  "key": "value"
 *     key v1 v2 v3         ->  "key": ["v1", "v2", "v3"]
 *     key (no value)       ->  "key": true
 *     key repeated         ->  "key": [first, second, ...]  (each as above)
 *     key { ... }          ->  "key": { ... }               (nested block)
 * Values are always strings; the plugin converts numbers itself.
 *
 * Calls. `create` once, then `check` every `interval`, then `destroy` when
 * the check is removed (reload, stop). Calls on one handle NEVER overlap
 * (no two `check`s at once, none during `create`/`destroy`); a plugin
 * needs no locking for its handle's state. Different handles (two
 * check_plugin blocks using the same library) may be called from different
 * threads.
 *
 * Messages. `create` and `check` may set `*message` to a NUL-terminated
 * string THE PLUGIN allocated; rkeepalived copies it (for the log and the
 * JSON dump) and hands it back through `free_message` at once. Leave
 * `*message` NULL to say nothing. `free_message` may be NULL if a plugin
 * only ever returns static strings (then they are never freed).
 *
 * Time. `check` receives the check's `timeout` in milliseconds and should
 * return within it. A check that does not is treated as failed; in an
 * isolated plugin (the default) the helper process running it is killed
 * and restarted.
 *
 * Isolation (`isolate yes`, the default). The plugin runs in a helper
 * process that rkeepalived supervises, started as `script_user` (from
 * global_defs; as keepalived runs scripts). A plugin that crashes (SIGSEGV,
 * abort), hangs past its timeout or panics only fails its own check; the
 * helper is restarted with backoff, and VRRP never waits for it.
 * `isolate no` loads the plugin into rkeepalived itself: lowest overhead,
 * but a crash there is a crash of the daemon — only for plugins you trust
 * as much as rkeepalived.
 *
 * Where plugins come from. `plugin` is an absolute path, or a bare name
 * looked up in global_defs `plugin_dir` (default /usr/lib/rkeepalived/plugins;
 * NAME, then libNAME.so). The file and every directory above it must not be
 * writable by anyone but root, or the plugin is refused with the reason.
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

#define RKEEPALIVED_CHECK_OK 0
#define RKEEPALIVED_CHECK_FAIL 1

struct rkeepalived_plugin {
    /* RKEEPALIVED_PLUGIN_ABI_VERSION; always the first field. */
    uint32_t abi_version;
    /* A short name for logs, NUL-terminated, static. */
    const char *name;
    /* Makes a handle from the configuration (JSON text). Returns NULL on
     * error, with the reason in *message. */
    void *(*create)(const char *config_json, char **message);
    /* One check. Returns RKEEPALIVED_CHECK_OK or RKEEPALIVED_CHECK_FAIL;
     * may explain itself in *message. */
    int32_t (*check)(void *handle, uint32_t timeout_ms, char **message);
    /* Frees the handle. */
    void (*destroy)(void *handle);
    /* Frees a message returned by create or check (may be NULL). */
    void (*free_message)(char *message);
};

#ifdef __cplusplus
}
#endif

#endif /* RKEEPALIVED_PLUGIN_H */
