/*
 * check_pidfile: an rkeepalived check plugin in C, built from this one file:
 *
 *   cc -shared -fPIC -O2 -Wall -I../include -o libcheck_pidfile.so check_pidfile.c
 *
 * Healthy while the process whose pid a pid file holds is alive — a service
 * watched through its pid file, without a script per check:
 *
 *   check_plugin chk_nginx {
 *       plugin /usr/lib/rkeepalived/plugins/libcheck_pidfile.so
 *       interval 1
 *       weight -20
 *       config {
 *           pidfile /run/nginx.pid
 *       }
 *   }
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "rkeepalived_plugin.h"

struct state {
    char path[4096];
};

static char *message(const char *fmt, const char *a, long b) {
    char *m = malloc(4200);
    if (m)
        snprintf(m, 4200, fmt, a, b);
    return m;
}

/* The string value of "key" in a flat JSON object of strings (all that
 * this plugin's config holds); 0 when found. Handles \" and \\ escapes. */
static int json_string(const char *json, const char *key, char *out, size_t len) {
    char pattern[256];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *p = strstr(json, pattern);
    if (!p)
        return -1;
    p += strlen(pattern);
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < len) {
        if (*p == '\\' && p[1])
            p++;
        out[n++] = *p++;
    }
    out[n] = '\0';
    return *p == '"' ? 0 : -1;
}

static void *create(const char *config_json, char **msg) {
    struct state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (json_string(config_json, "pidfile", s->path, sizeof s->path) != 0) {
        *msg = message("config needs 'pidfile'%s%ld", "", 0);
        free(s);
        return NULL;
    }
    return s;
}

static int32_t check(void *handle, uint32_t timeout_ms, char **msg) {
    (void)timeout_ms;
    struct state *s = handle;
    FILE *f = fopen(s->path, "r");
    if (!f) {
        *msg = message("%s: cannot open (%ld)", s->path, errno);
        return RKEEPALIVED_CHECK_FAIL;
    }
    long pid = 0;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    if (got != 1 || pid <= 0) {
        *msg = message("%s: no pid in it%ld", s->path, 0);
        return RKEEPALIVED_CHECK_FAIL;
    }
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
        *msg = message("%s: process %ld is gone", s->path, pid);
        return RKEEPALIVED_CHECK_FAIL;
    }
    return RKEEPALIVED_CHECK_OK;
}

static void destroy(void *handle) { free(handle); }

static void free_message(char *m) { free(m); }

const struct rkeepalived_plugin rkeepalived_plugin = {
    .abi_version = RKEEPALIVED_PLUGIN_ABI_VERSION,
    .name = "check_pidfile",
    .create = create,
    .check = check,
    .destroy = destroy,
    .free_message = free_message,
};
