/*
 * cmd_util.c - argument parsing helpers shared by the command handlers.
 */
#include <string.h>

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
