/*
 * cmd_conn.c - connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT,
 * RESET and the CLIENT family.
 */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/strconv.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

#define RINGKV_VERSION "0.1.0"
/* The Redis version whose command semantics we implement; clients that
 * gate features on the server version read this. */
#define REDIS_COMPAT_VERSION "7.0.0"

void cmd_ping(struct client *c)
{
	if (c->argc > 2) {
		reply_wrong_arity(c);
		return;
	}
	if (c->argc == 2)
		resp_w_bulk(&c->out, c->argv[1].ptr, c->argv[1].len);
	else
		resp_w_simple(&c->out, "PONG");
}

void cmd_echo(struct client *c)
{
	resp_w_bulk(&c->out, c->argv[1].ptr, c->argv[1].len);
}

/* Compares secrets in time independent of where they differ. */
static bool secret_eq(struct bytes a, const char *b, size_t blen)
{
	uint8_t diff = (uint8_t)(a.len != blen);
	for (size_t i = 0; i < a.len; i++)
		diff |= (uint8_t)(a.ptr[i] ^ (uint8_t)b[i < blen ? i : 0]);
	return diff == 0 && blen > 0;
}

/* Checks user/password against requirepass; the only user is "default". */
static bool password_ok(struct client *c, struct bytes user, struct bytes pass)
{
	char secret[PASSWORD_BYTES_MAX + 1];
	size_t n = config_get_str(c->node->cfg, CFG_REQUIREPASS, secret, sizeof(secret));
	if (!bytes_eq(user, bytes_cstr("default")))
		return false;
	if (n == 0)
		return true; /* the default user has no password */
	bool ok = n <= PASSWORD_BYTES_MAX && secret_eq(pass, secret, n);
	memset(secret, 0, sizeof(secret));
	return ok;
}

void cmd_auth(struct client *c)
{
	if (c->argc > 3) {
		reply_syntax_error(c);
		return;
	}
	bool has_pass = config_get_str(c->node->cfg, CFG_REQUIREPASS, NULL, 0) > 0;
	if (c->argc == 2 && !has_pass) {
		resp_w_error(&c->out,
		             "ERR AUTH <password> called without any password configured "
		             "for the default user. Are you sure your configuration is correct?");
		return;
	}
	struct bytes user = c->argc == 3 ? c->argv[1] : bytes_cstr("default");
	struct bytes pass = c->argv[c->argc - 1];
	if (!password_ok(c, user, pass)) {
		resp_w_error(&c->out,
		             "WRONGPASS invalid username-password pair or user is disabled.");
		return;
	}
	c->authenticated = true;
	resp_w_ok(&c->out);
}

/* A client name may not hold spaces, newlines or other special bytes. */
static bool name_ok(struct bytes name)
{
	if (name.len > CLIENT_NAME_BYTES_MAX)
		return false;
	for (size_t i = 0; i < name.len; i++)
		if (name.ptr[i] < '!' || name.ptr[i] > '~')
			return false;
	return true;
}

static bool set_name(struct client *c, struct bytes name)
{
	if (!name_ok(name)) {
		resp_w_error(&c->out,
		             "ERR Client names cannot contain spaces, newlines or special "
		             "characters.");
		return false;
	}
	c->node->hooks->client_set_name(c->node, c, name);
	return true;
}

static void hello_reply(struct client *c)
{
	resp_w_map(&c->out, 7);
	resp_w_bulk_cstr(&c->out, "server");
	resp_w_bulk_cstr(&c->out, "ringkv");
	resp_w_bulk_cstr(&c->out, "version");
	resp_w_bulk_cstr(&c->out, REDIS_COMPAT_VERSION);
	resp_w_bulk_cstr(&c->out, "proto");
	resp_w_int(&c->out, c->out.proto);
	resp_w_bulk_cstr(&c->out, "id");
	resp_w_int(&c->out, (int64_t)c->id);
	resp_w_bulk_cstr(&c->out, "mode");
	resp_w_bulk_cstr(&c->out, "standalone");
	resp_w_bulk_cstr(&c->out, "role");
	resp_w_bulk_cstr(&c->out, "master");
	resp_w_bulk_cstr(&c->out, "modules");
	resp_w_array(&c->out, 0);
}

void cmd_hello(struct client *c)
{
	int64_t ver = c->out.proto;
	if (c->argc >= 2) {
		if (!strconv_i64(c->argv[1], &ver)) {
			resp_w_error(&c->out,
			             "ERR Protocol version is not an integer or out of range");
			return;
		}
		if (ver < 2 || ver > 3) {
			resp_w_error(&c->out, "NOPROTO unsupported protocol version");
			return;
		}
	}
	struct bytes user = {0}, pass = {0}, name = {0};
	bool has_auth = false, has_name = false;
	for (size_t i = 2; i < c->argc; i++) {
		bool more = i + 1 < c->argc;
		if (bytes_eq_nocase(c->argv[i], "auth") && i + 2 < c->argc) {
			user = c->argv[i + 1];
			pass = c->argv[i + 2];
			has_auth = true;
			i += 2;
		} else if (bytes_eq_nocase(c->argv[i], "setname") && more) {
			name = c->argv[++i];
			has_name = true;
		} else {
			resp_w_errorf(&c->out, "ERR Syntax error in HELLO option '%.*s'",
			              (int)(c->argv[i].len < 64 ? c->argv[i].len : 64),
			              (const char *)c->argv[i].ptr);
			return;
		}
	}
	if (has_auth && !password_ok(c, user, pass)) {
		resp_w_error(&c->out,
		             "WRONGPASS invalid username-password pair or user is disabled.");
		return;
	}
	if (has_auth)
		c->authenticated = true;
	if (!c->authenticated) {
		resp_w_error(&c->out,
		             "NOAUTH HELLO must be called with the client already "
		             "authenticated, otherwise the HELLO AUTH <user> <pass> "
		             "option can be used to authenticate the client and select the "
		             "RESP protocol version at the same time");
		return;
	}
	if (has_name && !name_ok(name)) {
		set_name(c, name); /* replies the error */
		return;
	}
	if (has_name)
		set_name(c, name);
	c->out.proto = (int)ver;
	hello_reply(c);
}

void cmd_select(struct client *c)
{
	int64_t db;
	if (!strconv_i64(c->argv[1], &db)) {
		resp_w_error(&c->out, "ERR value is not an integer or out of range");
		return;
	}
	if (db != 0) {
		resp_w_error(&c->out, "ERR DB index is out of range (ringkv has one database, 0)");
		return;
	}
	resp_w_ok(&c->out);
}

void cmd_quit(struct client *c)
{
	resp_w_ok(&c->out);
	c->flags |= CLIENT_CLOSE_AFTER_REPLY;
}

void cmd_reset(struct client *c)
{
	multi_discard(c);
	ks_unwatch_all(c->node->ks, &c->watch);
	c->out.proto = 2;
	c->node->hooks->client_set_name(c->node, c, bytes_make("", 0));
	c->authenticated = config_get_str(c->node->cfg, CFG_REQUIREPASS, NULL, 0) == 0;
	resp_w_simple(&c->out, "RESET");
}

/* ---- CLIENT ------------------------------------------------------------ */

static void client_list(struct client *c, size_t first)
{
	uint64_t ids[64];
	size_t id_count = 0;
	size_t i = first;
	if (i < c->argc && bytes_eq_nocase(c->argv[i], "type") && i + 1 < c->argc) {
		if (!bytes_eq_nocase(c->argv[i + 1], "normal")) {
			resp_w_verbatim(&c->out, "", 0);
			return;
		}
		i += 2;
	}
	if (i < c->argc && bytes_eq_nocase(c->argv[i], "id")) {
		for (i++; i < c->argc && id_count < ARRAY_LEN(ids); i++) {
			int64_t id;
			if (!strconv_i64(c->argv[i], &id) || id <= 0) {
				resp_w_error(&c->out, "ERR Invalid client ID");
				return;
			}
			ids[id_count++] = (uint64_t)id;
		}
		if (id_count == 0) {
			reply_syntax_error(c);
			return;
		}
	}
	if (i < c->argc) {
		reply_syntax_error(c);
		return;
	}
	struct buf b;
	buf_init(&b);
	if (c->node->hooks->client_list(c->node, &b, ids, id_count) != 0) {
		reply_nomem(c);
	} else {
		resp_w_verbatim(&c->out, b.data, b.len);
	}
	buf_deinit(&b);
}

/* Copies an argument into a NUL-terminated string; false if too long. */
static bool arg_cstr(struct bytes b, char *dst, size_t cap)
{
	if (b.len >= cap || memchr(b.ptr, '\0', b.len))
		return false;
	memcpy(dst, b.ptr, b.len);
	dst[b.len] = '\0';
	return true;
}

static void client_kill_filters(struct client *c)
{
	uint64_t id = 0;
	char addr[64] = "", laddr[64] = "";
	bool skipme = true;
	for (size_t i = 2; i < c->argc; i += 2) {
		if (i + 1 >= c->argc) {
			reply_syntax_error(c);
			return;
		}
		struct bytes opt = c->argv[i], val = c->argv[i + 1];
		int64_t v;
		bool ok = true;
		if (bytes_eq_nocase(opt, "id")) {
			ok = strconv_i64(val, &v) && v > 0;
			if (!ok) {
				resp_w_error(&c->out, "ERR client-id should be greater than 0");
				return;
			}
			id = (uint64_t)v;
		} else if (bytes_eq_nocase(opt, "addr")) {
			ok = arg_cstr(val, addr, sizeof(addr));
		} else if (bytes_eq_nocase(opt, "laddr")) {
			ok = arg_cstr(val, laddr, sizeof(laddr));
		} else if (bytes_eq_nocase(opt, "skipme")) {
			ok = bytes_eq_nocase(val, "yes") || bytes_eq_nocase(val, "no");
			skipme = bytes_eq_nocase(val, "yes");
		} else if (bytes_eq_nocase(opt, "type") || bytes_eq_nocase(opt, "user")) {
			ok = true; /* every client is a normal client of user default */
		} else {
			ok = false;
		}
		if (!ok) {
			reply_syntax_error(c);
			return;
		}
	}
	uint64_t n = c->node->hooks->client_kill(c->node, c, id, addr[0] ? addr : NULL,
	                                         laddr[0] ? laddr : NULL, skipme);
	resp_w_int(&c->out, (int64_t)n);
}

static void client_kill(struct client *c)
{
	if (c->argc == 3) { /* old form: CLIENT KILL ip:port */
		char addr[64];
		if (!arg_cstr(c->argv[2], addr, sizeof(addr)) ||
		    c->node->hooks->client_kill(c->node, c, 0, addr, NULL, false) == 0) {
			resp_w_error(&c->out, "ERR No such client");
			return;
		}
		resp_w_ok(&c->out);
		return;
	}
	client_kill_filters(c);
}

static void client_help(struct client *c)
{
	static const char *const lines[] = {
	    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	    "GETNAME",
	    "    Return the name of the current connection.",
	    "ID",
	    "    Return the ID of the current connection.",
	    "INFO",
	    "    Return information about the current client connection.",
	    "KILL <ip:port>",
	    "    Kill connection made from <ip:port>.",
	    "KILL <option> <value> [<option> <value> [...]]",
	    "    Kill connections. Options are: ID, ADDR, LADDR, SKIPME (yes|no).",
	    "LIST [TYPE normal] [ID <id> [<id> ...]]",
	    "    Return information about client connections.",
	    "SETNAME <name>",
	    "    Assign the name <name> to the current connection.",
	    "HELP",
	    "    Print this help.",
	};
	reply_lines(c, lines, ARRAY_LEN(lines));
}

static void client_subcommand_error(struct client *c, const char *sub_name)
{
	resp_w_errorf(&c->out, "ERR wrong number of arguments for 'client|%s' command", sub_name);
}

static const struct subcmd client_subs[] = {
    {"id", 2},    {"getname", 2}, {"setname", 3}, {"setinfo", 4},
    {"list", -2}, {"info", 2},    {"kill", -3},   {"help", 2},
};

void cmd_client(struct client *c)
{
	struct bytes sub = c->argv[1];
	if (!subcmd_check(c, "client", client_subs, ARRAY_LEN(client_subs)))
		return;
	if (bytes_eq_nocase(sub, "id")) {
		if (c->argc != 2) {
			client_subcommand_error(c, "id");
			return;
		}
		resp_w_int(&c->out, (int64_t)c->id);
	} else if (bytes_eq_nocase(sub, "getname")) {
		if (c->argc != 2) {
			client_subcommand_error(c, "getname");
			return;
		}
		if (c->name[0])
			resp_w_bulk_cstr(&c->out, c->name);
		else
			resp_w_null(&c->out);
	} else if (bytes_eq_nocase(sub, "setname")) {
		if (c->argc != 3) {
			client_subcommand_error(c, "setname");
			return;
		}
		if (set_name(c, c->argv[2]))
			resp_w_ok(&c->out);
	} else if (bytes_eq_nocase(sub, "setinfo")) {
		if (c->argc != 4) {
			client_subcommand_error(c, "setinfo");
			return;
		}
		resp_w_ok(&c->out); /* library name/version: accepted, not kept */
	} else if (bytes_eq_nocase(sub, "list")) {
		client_list(c, 2);
	} else if (bytes_eq_nocase(sub, "info")) {
		uint64_t id = c->id;
		struct buf b;
		buf_init(&b);
		if (c->node->hooks->client_list(c->node, &b, &id, 1) != 0)
			reply_nomem(c);
		else
			resp_w_verbatim(&c->out, b.data, b.len);
		buf_deinit(&b);
	} else if (bytes_eq_nocase(sub, "kill")) {
		if (c->argc < 3) {
			client_subcommand_error(c, "kill");
			return;
		}
		client_kill(c);
	} else if (bytes_eq_nocase(sub, "help")) {
		client_help(c);
	} else {
		resp_w_errorf(&c->out, "ERR unknown subcommand '%.*s'. Try CLIENT HELP.",
		              (int)(sub.len < 64 ? sub.len : 64), (const char *)sub.ptr);
	}
}
