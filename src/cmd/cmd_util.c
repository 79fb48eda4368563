/*
 * cmd_util.c - argument parsing helpers shared by the command handlers.
 */
#include <ctype.h>
#include <string.h>

#include "base/err.h"
#include "base/strconv.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

bool arg_i64(struct client *c, struct bytes b, int64_t *out)
{
	if (strconv_i64(b, out))
		return true;
	reply_not_integer(c);
	return false;
}

enum expire_opt_kind expire_kind_of(struct bytes a)
{
	static const struct {
		const char *name;
		enum expire_opt_kind kind;
	} kinds[] = {{"ex", EXP_EX},           {"px", EXP_PX},           {"exat", EXP_EXAT},
	             {"pxat", EXP_PXAT},       {"keepttl", EXP_KEEPTTL}, {"persist", EXP_PERSIST}};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (bytes_eq_nocase(a, kinds[i].name))
			return kinds[i].kind;
	return EXP_NONE;
}

bool expire_to_abs_ms(struct client *c, enum expire_opt_kind kind, struct bytes arg,
                      int64_t *abs_ms)
{
	int64_t v;
	if (!arg_i64(c, arg, &v))
		return false;
	bool seconds = kind == EXP_EX || kind == EXP_EXAT;
	bool relative = kind == EXP_EX || kind == EXP_PX;
	int64_t now = client_now_ms(c);
	bool bad = v <= 0 || (seconds && v > INT64_MAX / 1000);
	if (!bad) {
		if (seconds)
			v *= 1000;
		if (relative) {
			if (v > INT64_MAX - now)
				bad = true;
			else
				v += now;
		}
	}
	if (bad) {
		resp_w_errorf(&c->out, "ERR invalid expire time in '%s' command", c->cmd->name);
		return false;
	}
	*abs_ms = v;
	return true;
}

void reply_key(struct client *c, struct bytes key)
{
	resp_w_bulk(&c->out, key.ptr, key.len);
}

bool subcmd_check(struct client *c, const char *parent, const struct subcmd *subs, size_t n)
{
	struct bytes sub = c->argv[1];
	for (size_t i = 0; i < n; i++) {
		if (!bytes_eq_nocase(sub, subs[i].name))
			continue;
		int a = subs[i].arity;
		bool ok = a > 0 ? c->argc == (size_t)a : c->argc >= (size_t)-a;
		if (!ok)
			resp_w_errorf(&c->out, "ERR wrong number of arguments for '%s|%s' command",
			              parent, subs[i].name);
		return ok;
	}
	char upper[16];
	size_t len = strlen(parent) < sizeof(upper) - 1 ? strlen(parent) : sizeof(upper) - 1;
	for (size_t i = 0; i < len; i++)
		upper[i] = (char)toupper((unsigned char)parent[i]);
	upper[len] = '\0';
	resp_w_errorf(&c->out, "ERR unknown subcommand '%.*s'. Try %s HELP.",
	              (int)(sub.len < 128 ? sub.len : 128), (const char *)sub.ptr, upper);
	return false;
}

void reply_lines(struct client *c, const char *const *lines, size_t n)
{
	resp_w_array(&c->out, n);
	for (size_t i = 0; i < n; i++)
		resp_w_simple(&c->out, lines[i]);
}

void reply_engine_error(struct client *c, int err)
{
	switch (err) {
	case ERR_NOSPACE:
		resp_w_error(&c->out, "ERR disk full: the write was not applied (free space "
		                      "and retry; reads still work)");
		break;
	case ERR_CORRUPT:
		resp_w_error(&c->out, "ERR data corruption detected while reading: the command "
		                      "was not applied (see the server log; ENGINE CHECK)");
		break;
	case ERR_IO:
		resp_w_error(&c->out, "ERR I/O error in the storage engine: the command was not "
		                      "applied (see the server log)");
		break;
	case ERR_LIMIT:
		resp_w_error(&c->out, "ERR the command's changes exceed the storage engine's "
		                      "batch limit: nothing was applied");
		break;
	case ERR_AGAIN:
		resp_w_error(&c->out, "ERR write stalled: the storage engine is behind on "
		                      "flushing; nothing was applied, retry");
		break;
	case ERR_NOMEM:
		reply_nomem(c);
		break;
	default:
		resp_w_errorf(&c->out, "ERR storage engine error (%s): nothing was applied",
		                 err_str(err));
		break;
	}
}
