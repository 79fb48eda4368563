/*
 * cmd_debug.c - DEBUG, for tests and operators: SLEEP blocks the loop as
 * Redis does (to test timeouts), PARK exercises parked replies (cmd.h,
 * client_park) by completing from another thread after a delay.
 *
 * DEBUG is refused unless enable-debug-command allows it (Redis 7's
 * setting and message): "yes", or "local" for loopback clients.
 */
#include <string.h>

#include "base/err.h"
#include "base/strconv.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

/* Bounds on what one DEBUG call may cost: a minute of a blocked loop, a
 * minute of a parked client. */
#define DEBUG_SLEEP_S_MAX 60.0
#define DEBUG_PARK_MS_MAX 60000

static const char NOT_ALLOWED[] =
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
    "you can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.";

static const struct subcmd debug_subs[] = {
    {"help", 2},
    {"sleep", 3},
    {"park", 4},
};

/* Redis's islocalClient for TCP: 127.0.0.1 or ::1 (net.c formats the
 * peer as "ip:port" or "[ip6]:port"). */
static bool client_is_local(const struct client *c)
{
	return strncmp(c->addr, "127.0.0.1:", 10) == 0 || strncmp(c->addr, "[::1]:", 6) == 0;
}

static bool debug_allowed(const struct client *c)
{
	int64_t mode = config_get(c->node->cfg, CFG_ENABLE_DEBUG_COMMAND);
	return mode == CFG_DEBUG_COMMAND_YES ||
	    (mode == CFG_DEBUG_COMMAND_LOCAL && client_is_local(c));
}

static void debug_help(struct client *c)
{
	static const char *const lines[] = {
	    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	    "SLEEP <seconds>",
	    "    Stop the server for <seconds> (0 to 60, decimals allowed).",
	    "PARK <milliseconds> <value>",
	    "    Park this client and reply <value> from another thread after",
	    "    <milliseconds> (0 to 60000); other clients are served meanwhile.",
	    "HELP",
	    "    Print this help.",
	};
	reply_lines(c, lines, ARRAY_LEN(lines));
}

/* Blocks the calling loop for about ms milliseconds. cmd/ has no sleep of
 * its own (env.h is its way to the OS): a timed wait on a private
 * condition variable that nobody signals does the same. */
static void block_for_ms(uint64_t ms)
{
	struct env_mutex mu;
	struct env_cond cv;
	env_mutex_init(&mu);
	env_cond_init(&cv);
	uint64_t deadline_ns = env_mono_ns() + ms * 1000000u;
	env_mutex_lock(&mu);
	for (uint64_t now = env_mono_ns(); now < deadline_ns; now = env_mono_ns())
		env_cond_timedwait_ms(&cv, &mu, (deadline_ns - now + 999999) / 1000000);
	env_mutex_unlock(&mu);
	env_cond_deinit(&cv);
	env_mutex_deinit(&mu);
}

static void debug_sleep(struct client *c)
{
	double s;
	if (!strconv_double(c->argv[2], &s)) {
		resp_w_error(&c->out, "ERR value is not a valid float");
		return;
	}
	if (!(s >= 0 && s <= DEBUG_SLEEP_S_MAX)) {
		resp_w_error(&c->out, "ERR DEBUG SLEEP takes 0 to 60 seconds");
		return;
	}
	block_for_ms((uint64_t)(s * 1000.0));
	resp_w_ok(&c->out);
}

static void debug_park(struct client *c)
{
	int64_t ms;
	if (!arg_i64(c, c->argv[2], &ms))
		return;
	if (ms < 0 || ms > DEBUG_PARK_MS_MAX) {
		resp_w_error(&c->out, "ERR DEBUG PARK takes 0 to 60000 milliseconds");
		return;
	}
	struct bytes value = c->argv[3]; /* within proto-max-bulk-len: the parser checked */
	struct park *p = client_park(c);
	if (!p) {
		resp_w_error(&c->out,
		             "ERR DEBUG PARK cannot park this client (inside MULTI/EXEC?)");
		return;
	}
	/* From here on the reply goes through the ticket, exactly once. A bulk
	 * string reads the same in RESP2 and RESP3 (park_resp_version). */
	struct resp_out o;
	resp_out_init(&o, value.len + 64);
	o.proto = park_resp_version(p);
	resp_w_bulk(&o, value.ptr, value.len);
	if (o.err) {
		park_complete_error(p, "OOM command not allowed: out of memory");
	} else {
		int err = park_complete_later(p, (uint32_t)ms, o.buf.data, o.buf.len);
		if (err == ERR_LIMIT)
			park_complete_error(p, "ERR too many DEBUG PARK commands waiting (1024)");
		else if (err)
			park_complete_error(p, "OOM command not allowed: out of memory");
	}
	resp_out_deinit(&o);
}

void cmd_debug(struct client *c)
{
	if (!debug_allowed(c)) {
		resp_w_error(&c->out, NOT_ALLOWED);
		return;
	}
	if (!subcmd_check(c, "debug", debug_subs, ARRAY_LEN(debug_subs)))
		return;
	struct bytes sub = c->argv[1];
	if (bytes_eq_nocase(sub, "help"))
		debug_help(c);
	else if (bytes_eq_nocase(sub, "sleep"))
		debug_sleep(c);
	else
		debug_park(c);
}
