/*
 * ringkv_cli.c - ringkv-cli, the operator's command-line tool.
 *
 *   ringkv-cli [-h host] [-p port] [-a password] ping
 *   ringkv-cli [...] info [section ...]
 *   ringkv-cli [...] hotkeys [-n count]
 *   ringkv-cli [...] top [-i seconds] [-n frames]
 *   ringkv-cli check DIR
 *
 * It is an ordinary client: it speaks RESP through hiredis and reads what
 * the server publishes in INFO (and HOTKEYS), so whatever it shows an
 * operator can also be scraped by other tools. `top` redraws a live view
 * every interval, computing rates from the difference of two INFO
 * snapshots; it fits an 80-column terminal. When stdout is not a terminal
 * it prints frames one after another instead of redrawing (for scripts and
 * tests), and -n bounds the number of frames.
 *
 * `check` is offline: it runs lsm_check_dir (engine/lsm.h) over a data
 * directory and prints one line per finding; exit 0 clean, 1 problems, 2
 * usage or an unreadable directory.
 *
 * This is a tool outside the server's layers: it may use the C library and
 * POSIX directly.
 */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "engine/lsm.h"
#include "env/fs.h"

#define FIELDS_MAX   2048
#define TOP_COMMANDS 12
#define WIDTH        80

struct options {
	const char *host;
	int port;
	const char *password;
	double interval_s;
	long frames; /* 0: until interrupted */
	long count;  /* hotkeys */
};

/* ---- INFO parsing ------------------------------------------------------ */

struct field {
	char *name;
	char *value;
};

struct info {
	char *text; /* owned; fields point into it */
	struct field fields[FIELDS_MAX];
	size_t count;
};

static void info_parse(struct info *in, const char *text, size_t len)
{
	in->text = malloc(len + 1);
	in->count = 0;
	if (!in->text)
		return;
	memcpy(in->text, text, len);
	in->text[len] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(in->text, "\r\n", &save); line && in->count < FIELDS_MAX;
	     line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');
		if (line[0] == '#' || !colon)
			continue;
		*colon = '\0';
		in->fields[in->count++] = (struct field){line, colon + 1};
	}
}

static void info_free(struct info *in)
{
	free(in->text);
	in->text = NULL;
	in->count = 0;
}

static const char *info_get(const struct info *in, const char *name)
{
	for (size_t i = 0; i < in->count; i++)
		if (strcmp(in->fields[i].name, name) == 0)
			return in->fields[i].value;
	return NULL;
}

static double info_num(const struct info *in, const char *name)
{
	const char *v = info_get(in, name);
	return v ? strtod(v, NULL) : 0;
}

/* Reads "key=value" from a comma-separated field value (cmdstat_*, ...). */
static bool subfield(const char *value, const char *key, double *out)
{
	size_t klen = strlen(key);
	for (const char *p = value; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			*out = strtod(p + klen + 1, NULL);
			return true;
		}
	}
	return false;
}

/* ---- Connection ----------------------------------------------------------- */

static redisContext *connect_node(const struct options *o)
{
	struct timeval tv = {5, 0};
	redisContext *ctx = redisConnectWithTimeout(o->host, o->port, tv);
	if (!ctx || ctx->err) {
		fprintf(stderr, "ringkv-cli: cannot connect to %s:%d: %s\n", o->host, o->port,
		        ctx ? ctx->errstr : "out of memory");
		if (ctx)
			redisFree(ctx);
		return NULL;
	}
	redisSetTimeout(ctx, tv);
	if (o->password) {
		redisReply *r = redisCommand(ctx, "AUTH %s", o->password);
		bool ok = r && r->type != REDIS_REPLY_ERROR;
		if (!ok)
			fprintf(stderr, "ringkv-cli: AUTH failed: %s\n", r ? r->str : ctx->errstr);
		if (r)
			freeReplyObject(r);
		if (!ok) {
			redisFree(ctx);
			return NULL;
		}
	}
	return ctx;
}

/* Runs a command given as argv; NULL (with a message) on a transport error. */
static redisReply *command(redisContext *ctx, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(ctx, argc, argv, NULL);
	if (!r)
		fprintf(stderr, "ringkv-cli: %s\n", ctx->errstr);
	return r;
}

static bool fetch_info(redisContext *ctx, const char *section, struct info *out)
{
	const char *argv[] = {"INFO", section};
	redisReply *r = command(ctx, 2, argv);
	if (!r)
		return false;
	bool ok = r->type == REDIS_REPLY_STRING;
	if (ok)
		info_parse(out, r->str, r->len);
	else
		fprintf(stderr, "ringkv-cli: INFO: %s\n",
		        r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
	freeReplyObject(r);
	return ok;
}

/* ---- ping, info, hotkeys ---------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int do_ping(redisContext *ctx)
{
	const char *argv[] = {"PING"};
	double t0 = now_s();
	redisReply *r = command(ctx, 1, argv);
	if (!r)
		return 1;
	double ms = (now_s() - t0) * 1000;
	int rc = r->type == REDIS_REPLY_STATUS ? 0 : 1;
	printf("%s (%.3f ms)\n", r->str ? r->str : "?", ms);
	freeReplyObject(r);
	return rc;
}

static int do_info(redisContext *ctx, int argc, const char **argv)
{
	const char *cmd[16] = {"INFO"};
	int n = 1;
	for (int i = 0; i < argc && n < 16; i++)
		cmd[n++] = argv[i];
	redisReply *r = command(ctx, n, cmd);
	if (!r)
		return 1;
	int rc = 0;
	if (r->type == REDIS_REPLY_STRING) {
		fwrite(r->str, 1, r->len, stdout);
	} else {
		fprintf(stderr, "ringkv-cli: %s\n", r->str ? r->str : "unexpected reply");
		rc = 1;
	}
	freeReplyObject(r);
	return rc;
}

static int do_hotkeys(redisContext *ctx, long count)
{
	char n[32];
	snprintf(n, sizeof(n), "%ld", count);
	const char *argv[] = {"HOTKEYS", "COUNT", n};
	redisReply *r = command(ctx, 3, argv);
	if (!r)
		return 1;
	if (r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "ringkv-cli: %s\n", r->str);
		freeReplyObject(r);
		return 1;
	}
	printf("%-4s %-60s %10s\n", "rank", "key", "frequency");
	/* The reply is a flat list of key, frequency pairs, hottest first. */
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		redisReply *k = r->element[i], *f = r->element[i + 1];
		long long freq =
		    f->type == REDIS_REPLY_INTEGER ? f->integer : atoll(f->str ? f->str : "0");
		printf("%-4zu %-60.*s %10lld\n", i / 2 + 1, (int)(k->len < 60 ? k->len : 60),
		       k->str ? k->str : "", freq);
	}
	freeReplyObject(r);
	return 0;
}

/* ---- cluster ------------------------------------------------------------------ */

static redisReply *cluster_command(redisContext *ctx, int argc, const char **argv)
{
	redisReply *r = command(ctx, argc, argv);
	if (r && r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "ringkv-cli: %s\n", r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static const char *str_of(const redisReply *r)
{
	return r && r->str ? r->str : "";
}

/* cluster status: one member per line (80 columns for short names). */
static int do_cluster_status(redisContext *ctx)
{
	const char *argv[] = {"CLUSTER", "STATUS"};
	redisReply *r = cluster_command(ctx, 2, argv);
	if (!r)
		return 1;
	printf("%-18s %-21s %-6s %-8s %5s %8s %9s\n", "member", "address", "zone", "state", "parts",
	       "hints", "hint-age");
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *row = r->element[i];
		if (row->type != REDIS_REPLY_ARRAY || row->elements < 6)
			continue;
		char parts[24], hints[24] = "-", age[24] = "-";
		long long p = row->element[5]->integer;
		if (p < 0)
			snprintf(parts, sizeof(parts), "-");
		else
			snprintf(parts, sizeof(parts), "%lld", p);
		if (row->elements >= 9 && row->element[6]->integer > 0) {
			snprintf(hints, sizeof(hints), "%lld", row->element[6]->integer);
			snprintf(age, sizeof(age), "%.1fs", (double)row->element[8]->integer / 1000.0);
		}
		printf("%-18.18s %-21.21s %-6.6s %-8s %5s %8s %9s%s\n", str_of(row->element[0]),
		       str_of(row->element[1]), str_of(row->element[2]), str_of(row->element[3]), parts,
		       hints, age, i == 0 ? "  (this node)" : "");
	}
	freeReplyObject(r);
	return 0;
}

/* cluster ring: which members hold each partition, owner first. */
static int do_cluster_ring(redisContext *ctx, long n)
{
	char nbuf[16];
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	const char *argv[] = {"CLUSTER", "RING", nbuf};
	redisReply *r = cluster_command(ctx, 3, argv);
	if (!r)
		return 1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0)
		printf("ring version %lld, %zu partitions\n", r->element[0]->integer, r->elements - 1);
	for (size_t p = 1; r->type == REDIS_REPLY_ARRAY && p < r->elements; p++) {
		redisReply *pl = r->element[p];
		printf("%5zu ", p - 1);
		for (size_t k = 0; pl->type == REDIS_REPLY_ARRAY && k < pl->elements; k++)
			printf(" %s", str_of(pl->element[k]));
		printf("\n");
	}
	freeReplyObject(r);
	return 0;
}

/* ---- top --------------------------------------------------------------------- */

struct cmd_rate {
	char name[32];
	double ops;
	double calls;
	double p50, p95, p99;
};

static void human(char *dst, size_t cap, double bytes)
{
	const char *u = "BKMGT";
	int i = 0;
	while (bytes >= 1024 && i < 4) {
		bytes /= 1024;
		i++;
	}
	snprintf(dst, cap, i ? "%.2f%c" : "%.0f%c", bytes, u[i]);
}

/* Per-command rates between two snapshots, busiest first. */
static size_t command_rates(const struct info *prev, const struct info *cur, double dt,
                            struct cmd_rate *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < cur->count && n < cap * 4; i++) {
		const struct field *f = &cur->fields[i];
		if (strncmp(f->name, "cmdstat_", 8) != 0)
			continue;
		double calls = 0, before = 0;
		subfield(f->value, "calls", &calls);
		const char *pv = info_get(prev, f->name);
		if (pv)
			subfield(pv, "calls", &before);
		struct cmd_rate r = {.ops = dt > 0 ? (calls - before) / dt : 0,
		                     .calls = calls,
		                     .p50 = -1,
		                     .p95 = -1,
		                     .p99 = -1};
		snprintf(r.name, sizeof(r.name), "%s", f->name + 8);
		char lat_name[64];
		snprintf(lat_name, sizeof(lat_name), "latency_percentiles_usec_%s", r.name);
		const char *lat = info_get(cur, lat_name);
		if (lat) {
			subfield(lat, "p50", &r.p50);
			subfield(lat, "p95", &r.p95);
			subfield(lat, "p99", &r.p99);
		}
		/* Keep the busiest `cap`, insertion-sorted. */
		size_t at = n < cap ? n : cap;
		while (at > 0 && out[at - 1].ops < r.ops) {
			if (at < cap)
				out[at] = out[at - 1];
			at--;
		}
		if (at < cap) {
			out[at] = r;
			if (n < cap)
				n++;
		}
	}
	return n;
}

static void fmt_lat(char *dst, size_t cap, double us)
{
	if (us < 0)
		snprintf(dst, cap, "-");
	else if (us < 10000)
		snprintf(dst, cap, "%.0f", us);
	else
		snprintf(dst, cap, "%.1fms", us / 1000);
}

static double delta(const struct info *prev, const struct info *cur, const char *name)
{
	return info_num(cur, name) - info_num(prev, name);
}

static void draw(const struct options *o, const struct info *prev, const struct info *cur,
                 double dt, bool tty)
{
	if (tty)
		printf("\033[H\033[2J");
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	char clock[16], used[16], max[16], rss[16];
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	double up = info_num(cur, "uptime_in_seconds");
	double maxmem = info_num(cur, "maxmemory");
	human(used, sizeof(used), info_num(cur, "used_memory"));
	human(max, sizeof(max), maxmem);
	human(rss, sizeof(rss), info_num(cur, "used_memory_rss"));
	double hits = delta(prev, cur, "keyspace_hits"),
	       misses = delta(prev, cur, "keyspace_misses");
	double ops = dt > 0 ? delta(prev, cur, "total_commands_processed") / dt : 0;
	char head[160];
	long u = (long)up;
	snprintf(head, sizeof(head),
	         "ringkv %s:%d  up %ldd %02ld:%02ld:%02ld  clients %s  ops/s %.0f", o->host,
	         o->port, u / 86400, u % 86400 / 3600, u % 3600 / 60, u % 60,
	         info_get(cur, "connected_clients") ?: "?", ops);
	/* The clock goes flush right when it fits in the 80 columns. */
	printf("%-*.*s %s\n", WIDTH - 10, WIDTH - 10, head, clock);
	if (maxmem > 0)
		printf("memory %s / %s (%.0f%%)  rss %s", used, max,
		       100 * info_num(cur, "used_memory") / maxmem, rss);
	else
		printf("memory %s (no maxmemory)  rss %s", used, rss);
	if (hits + misses > 0)
		printf("  hit ratio %.1f%%", 100 * hits / (hits + misses));
	else
		printf("  hit ratio -");
	double keys = 0;
	const char *db0 = info_get(cur, "db0");
	if (db0)
		subfield(db0, "keys", &keys);
	printf("\nevicted/s %-8.0f expired/s %-8.0f keys %.0f\n\n",
	       dt > 0 ? delta(prev, cur, "evicted_keys") / dt : 0,
	       dt > 0 ? delta(prev, cur, "expired_keys") / dt : 0, keys);
	struct cmd_rate rates[TOP_COMMANDS];
	size_t n = command_rates(prev, cur, dt, rates, TOP_COMMANDS);
	printf("%-16s %12s %10s %10s %10s %16s\n", "command", "ops/s", "p50 us", "p95 us", "p99 us",
	       "calls");
	for (size_t i = 0; i < n; i++) {
		char p50[16], p95[16], p99[16];
		fmt_lat(p50, sizeof(p50), rates[i].p50);
		fmt_lat(p95, sizeof(p95), rates[i].p95);
		fmt_lat(p99, sizeof(p99), rates[i].p99);
		printf("%-16.16s %12.0f %10s %10s %10s %16.0f\n", rates[i].name, rates[i].ops, p50,
		       p95, p99, rates[i].calls);
	}
	if (!tty)
		printf("\n");
	fflush(stdout);
}

static int do_top(redisContext *ctx, const struct options *o)
{
	bool tty = isatty(STDOUT_FILENO);
	struct info prev = {0}, cur = {0};
	if (!fetch_info(ctx, "everything", &prev))
		return 1;
	double t_prev = now_s();
	for (long frame = 0; o->frames == 0 || frame < o->frames; frame++) {
		usleep((useconds_t)(o->interval_s * 1e6));
		if (!fetch_info(ctx, "everything", &cur)) {
			info_free(&prev);
			return 1;
		}
		double t = now_s();
		draw(o, &prev, &cur, t - t_prev, tty);
		info_free(&prev);
		prev = cur;
		memset(&cur, 0, sizeof(cur));
		t_prev = t;
	}
	info_free(&prev);
	return 0;
}

/* ---- main --------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: ringkv-cli [-h host] [-p port] [-a password] COMMAND [options]\n"
	        "\n"
	        "Commands:\n"
	        "  ping                       check the node answers, with the round-trip time\n"
	        "  info [section ...]         print INFO (all sections: info everything)\n"
	        "  hotkeys [-n count]         the most accessed keys (default 10)\n"
	        "  top [-i seconds] [-n frames]\n"
	        "                             live view: ops/s by command, p50/p95/p99,\n"
	        "                             memory, hit ratio, evictions, expirations\n"
	        "  check DIR                  verify every checksum of a data directory (offline)\n"
	        "  cluster status             members: address, zone, state, partitions, hints held\n"
	        "  cluster ring [-n replicas] which members hold each partition (default 3)\n"
	        "\n"
	        "Defaults: -h 127.0.0.1 -p 6380; -a also from $RINGKV_PASSWORD.\n");
}

/* ---- check ------------------------------------------------------------ */

static void check_print(void *ctx, const struct lsm_check_report *r)
{
	(void)ctx;
	if (r->has_offset)
		printf("%s: %s at offset %" PRIu64 ": %s\n", r->problem ? "problem" : "note",
		       r->file, r->offset, r->reason);
	else
		printf("%s: %s: %s\n", r->problem ? "problem" : "note", r->file, r->reason);
}

static int do_check(const char *dir)
{
	struct env_fs_posix fs;
	env_fs_posix_init(&fs);
	struct lsm_check_summary s;
	int rc = lsm_check_dir(&fs.base, dir, check_print, NULL, &s);
	if (rc && rc != ERR_CORRUPT) {
		fprintf(stderr, "ringkv-cli: cannot check %s: %s\n", dir, err_str(rc));
		return 2;
	}
	printf("checked %" PRIu64 " files, %" PRIu64 " bytes: %" PRIu64 " problems, %" PRIu64
	       " notes\n",
	       s.files, s.bytes, s.problems, s.notes);
	return rc ? 1 : 0;
}

/* Parses the command's own options (-i, -n) from argv[first..]. */
static bool parse_sub_options(int argc, char **argv, int first, struct options *o)
{
	for (int i = first; i < argc; i++) {
		if (i + 1 >= argc)
			return false;
		if (strcmp(argv[i], "-i") == 0)
			o->interval_s = atof(argv[++i]);
		else if (strcmp(argv[i], "-n") == 0)
			o->frames = o->count = atol(argv[++i]);
		else
			return false;
	}
	return o->interval_s > 0 && o->interval_s <= 3600 && o->count > 0 && o->count <= 10000 &&
	    o->frames >= 0;
}

int main(int argc, char **argv)
{
	struct options o = {"127.0.0.1", 6380, getenv("RINGKV_PASSWORD"), 1.0, 0, 10};
	int i = 1;
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (strcmp(argv[i], "-h") == 0)
			o.host = argv[i + 1];
		else if (strcmp(argv[i], "-p") == 0)
			o.port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "-a") == 0)
			o.password = argv[i + 1];
		else
			break;
	}
	if (i >= argc || strcmp(argv[i], "--help") == 0) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	const char *cmd = argv[i];
	if (strcmp(cmd, "check") == 0) {
		if (i + 2 != argc) {
			usage(stderr);
			return 2;
		}
		return do_check(argv[i + 1]);
	}
	bool is_info = strcmp(cmd, "info") == 0;
	bool is_cluster = strcmp(cmd, "cluster") == 0;
	const char *sub = is_cluster && i + 1 < argc ? argv[i + 1] : "";
	if (is_cluster && strcmp(sub, "status") != 0 && strcmp(sub, "ring") != 0) {
		usage(stderr);
		return 2;
	}
	if (is_cluster)
		o.count = 3;
	if (!is_info && !parse_sub_options(argc, argv, i + (is_cluster ? 2 : 1), &o)) {
		usage(stderr);
		return 2;
	}
	redisContext *ctx = connect_node(&o);
	if (!ctx)
		return 1;
	int rc;
	if (strcmp(cmd, "ping") == 0)
		rc = do_ping(ctx);
	else if (is_info)
		rc = do_info(ctx, argc - i - 1, (const char **)argv + i + 1);
	else if (strcmp(cmd, "hotkeys") == 0)
		rc = do_hotkeys(ctx, o.count);
	else if (strcmp(cmd, "top") == 0)
		rc = do_top(ctx, &o);
	else if (is_cluster && strcmp(sub, "status") == 0)
		rc = do_cluster_status(ctx);
	else if (is_cluster)
		rc = do_cluster_ring(ctx, o.count);
	else {
		fprintf(stderr, "ringkv-cli: unknown command '%s'\n", cmd);
		usage(stderr);
		rc = 2;
	}
	redisFree(ctx);
	return rc;
}
