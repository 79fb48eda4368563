/*
 * cmd_mem.c - memory and access introspection: OBJECT (ENCODING, FREQ,
 * IDLETIME, REFCOUNT, HELP) as Redis 7 answers them for strings, and
 * ringkv's own HOTKEYS (see docs/memory.md).
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/strconv.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

/* ---- OBJECT ---------------------------------------------------------------- */

/* Redis stores integers up to 20 characters as "int", short strings in
 * one allocation with their header ("embstr", up to 44 bytes), and the
 * rest as "raw"; ringkv keeps every value inline, and reports the encoding
 * Redis would choose for the same value. */
#define EMBSTR_BYTES_MAX 44
/* Redis's OBJ_SHARED_REFCOUNT: small integers are shared objects. */
#define SHARED_REFCOUNT 2147483647
#define SHARED_INTEGERS 10000

static bool value_is_int(struct bytes v, int64_t *out)
{
	return v.len > 0 && v.len <= 20 && strconv_i64(v, out);
}

static bool policy_is_lfu(struct client *c)
{
	int64_t p = config_get(c->node->cfg, CFG_MAXMEMORY_POLICY);
	return p == EVICT_ALLKEYS_LFU || p == EVICT_VOLATILE_LFU;
}

static const struct subcmd object_subs[] = {
    {"encoding", 3}, {"freq", 3}, {"idletime", 3}, {"refcount", 3}, {"help", 2},
};

static void object_help(struct client *c)
{
	static const char *const lines[] = {
	    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	    "ENCODING <key>",
	    "    Return the kind of internal representation used in order to store the value",
	    "    associated with a <key>.",
	    "FREQ <key>",
	    "    Return the access frequency index of the <key>. The returned integer is",
	    "    proportional to the logarithm of the recent access frequency of the key.",
	    "IDLETIME <key>",
	    "    Return the idle time of the <key>, that is the approximated number of",
	    "    seconds elapsed since the last access to the key.",
	    "REFCOUNT <key>",
	    "    Return the number of references of the value associated with the specified",
	    "    <key>.",
	    "HELP",
	    "    Print this help.",
	};
	reply_lines(c, lines, ARRAY_LEN(lines));
}

void cmd_object(struct client *c)
{
	if (!subcmd_check(c, "object", object_subs, ARRAY_LEN(object_subs)))
		return;
	struct bytes sub = c->argv[1];
	if (bytes_eq_nocase(sub, "help")) {
		object_help(c);
		return;
	}
	struct bytes val;
	struct entry_meta meta;
	int64_t now = client_now_ms(c);
	/* OBJECT is not an access: it must not change what it reports. */
	if (ks_peek(c->node->ks, &c->keys[0], now, &val, &meta) != 0) {
		resp_w_null(&c->out);
		return;
	}
	int64_t n;
	if (bytes_eq_nocase(sub, "encoding")) {
		resp_w_bulk_cstr(&c->out,
		                 value_is_int(val, &n)             ? "int"
		                     : val.len <= EMBSTR_BYTES_MAX ? "embstr"
		                                                   : "raw");
	} else if (bytes_eq_nocase(sub, "refcount")) {
		bool shared = value_is_int(val, &n) && n >= 0 && n < SHARED_INTEGERS;
		resp_w_int(&c->out, shared ? SHARED_REFCOUNT : 1);
	} else if (bytes_eq_nocase(sub, "idletime")) {
		if (policy_is_lfu(c)) {
			resp_w_error(
			    &c->out,
			    "ERR An LFU maxmemory policy is selected, idle time not tracked. "
			    "Please note that when switching between policies at runtime LRU "
			    "and LFU data will take some time to adjust.");
			return;
		}
		resp_w_int(&c->out, (int64_t)(access_idle_ms(meta.access, now) / 1000));
	} else {
		if (!policy_is_lfu(c)) {
			resp_w_error(
			    &c->out,
			    "ERR An LFU maxmemory policy is not selected, access frequency not "
			    "tracked. Please note that when switching between policies at "
			    "runtime LRU and LFU data will take some time to adjust.");
			return;
		}
		unsigned log_factor, decay;
		ks_get_lfu(c->node->ks, &log_factor, &decay);
		resp_w_int(&c->out, access_lfu(meta.access, now, decay));
	}
}

/* ---- HOTKEYS [COUNT n] ----------------------------------------------------------- */

#define HOTKEYS_COUNT_DEFAULT 10

void cmd_hotkeys(struct client *c)
{
	int64_t count = HOTKEYS_COUNT_DEFAULT;
	for (size_t i = 1; i < c->argc; i += 2) {
		if (!bytes_eq_nocase(c->argv[i], "count") || i + 1 >= c->argc) {
			reply_syntax_error(c);
			return;
		}
		if (!arg_i64(c, c->argv[i + 1], &count))
			return;
		if (count < 1 || count > HOTKEYS_COUNT_MAX) {
			resp_w_errorf(&c->out, "ERR COUNT must be between 1 and %d",
			              HOTKEYS_COUNT_MAX);
			return;
		}
	}
	struct evict_hotkey *hk = calloc((size_t)count, sizeof(*hk));
	if (!hk) {
		reply_nomem(c);
		return;
	}
	int64_t n = evict_hotkeys(&c->node->evict, c->held, client_now_ms(c),
	                          env_rng_next(&c->thr->rng), (size_t)count, hk);
	if (n < 0) {
		free(hk);
		reply_nomem(c);
		return;
	}
	/* A flat list of key, frequency pairs, hottest first. */
	resp_w_array(&c->out, (size_t)n * 2);
	for (int64_t i = 0; i < n; i++) {
		resp_w_bulk(&c->out, hk[i].key, hk[i].len);
		resp_w_int(&c->out, hk[i].freq);
	}
	evict_hotkeys_free(hk, (size_t)n);
	free(hk);
}
