/*
 * engine_bench.c - the same workloads against several storage engines in one
 * process, one engine after the other, printed side by side as markdown.
 *
 * Workloads (db_bench's names): fillseq, fillrandom, overwrite, readrandom
 * (every key read exists), readmissing (no key read exists). Keys are 16 B
 * zero-padded decimal numbers: the stored keys are the even numbers
 * 0, 2, ..., 2(num-1) and readmissing asks for odd ones, so missing keys fall
 * inside the key range of every table and the bloom filters must answer.
 * Values come from a seeded PRNG, half compressible like db_bench's.
 *
 * Every row is one open, the operations, one close, then syncfs() on the
 * database's file system. ops/s and the latency histogram cover the
 * operations only; bytes written (from /proc/self/io, all threads) cover
 * open to syncfs, so flushes and compactions that the engine runs, or waits
 * for at close, are charged to the row that caused them. See README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "base/histogram.h"

#define KEY_BYTES        16
#define VALUE_POOL_BYTES (1u << 20) /* db_bench's RandomGenerator size */
#define ENGINES_MAX      4
#define ERR_BYTES        256

enum workload { W_FILLSEQ, W_FILLRANDOM, W_OVERWRITE, W_READRANDOM, W_READMISSING, W_COUNT };

static const char *const workload_names[W_COUNT] = {
	"fillseq", "fillrandom", "overwrite", "readrandom", "readmissing",
};

/* RINGKV ENGINE: ringkv's own engine (backend_ringkv.c). A NULL entry would
 * be accepted by --engines and skipped with a note. */
static const struct {
	const char *name;
	const struct backend *be;
} engine_table[] = {
	{ "ringkv", &backend_ringkv },
	{ "rocksdb", &backend_rocksdb },
	{ "leveldb", &backend_leveldb },
};
#define ENGINE_TABLE_COUNT (sizeof(engine_table) / sizeof(engine_table[0]))

struct config {
	uint64_t num;
	size_t value_bytes;
	bool sync;
	bool quick;
	bool header;
	bool header_only;
	bool ringkv_skipped; /* asked for, but not built yet */
	bool selected[W_COUNT];
	const struct backend *engines[ENGINES_MAX];
	size_t engine_count;
	const char *parent_dir;
	uint64_t seed;
	struct backend_opts opts; /* dir is filled per database */
};

struct result {
	bool ran;
	bool failed;
	char note[ERR_BYTES];
	uint64_t ops;
	double seconds;
	uint64_t p50_ns, p99_ns;
	uint64_t user_bytes;
	uint64_t written_bytes;   /* /proc/self/io write_bytes delta */
	uint64_t cancelled_bytes; /* cancelled_write_bytes delta */
	uint64_t disk_bytes;      /* sum of file sizes after close */
};

/* ---- deterministic data ------------------------------------------------ */

static uint64_t rng_next(uint64_t *state) /* splitmix64 */
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* db_bench's value pool: each 100 B piece is 50 random printable bytes
 * repeated, so a compressor would halve it. Values are consecutive slices. */
struct values {
	char pool[VALUE_POOL_BYTES];
	size_t pos;
};

static void values_init(struct values *v, uint64_t seed)
{
	uint64_t rng = seed;
	for (size_t piece = 0; piece < VALUE_POOL_BYTES; piece += 100) {
		char raw[50];
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (char)(' ' + rng_next(&rng) % 95);
		for (size_t i = 0; i < 100 && piece + i < VALUE_POOL_BYTES; i++)
			v->pool[piece + i] = raw[i % sizeof(raw)];
	}
	v->pos = 0;
}

static const char *values_next(struct values *v, size_t len)
{
	if (v->pos + len > VALUE_POOL_BYTES)
		v->pos = 0;
	const char *p = v->pool + v->pos;
	v->pos += len;
	return p;
}

static void key_encode(char out[KEY_BYTES + 1], uint64_t n)
{
	snprintf(out, KEY_BYTES + 1, "%016" PRIu64, n);
}

/* A seeded permutation of 0..num-1 (Fisher-Yates): fillrandom writes every
 * key exactly once, in random order, so readrandom always hits. */
static uint32_t *permutation_create(uint64_t num, uint64_t seed)
{
	uint32_t *perm = malloc(num * sizeof(*perm));
	if (!perm)
		return NULL;
	for (uint64_t i = 0; i < num; i++)
		perm[i] = (uint32_t)i;
	uint64_t rng = seed;
	for (uint64_t i = num - 1; i > 0; i--) {
		uint64_t j = rng_next(&rng) % (i + 1);
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	return perm;
}

/* ---- the OS: clock, /proc/self/io, directories ------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One field of /proc/self/io, or UINT64_MAX. */
static uint64_t proc_io_field(const char *field)
{
	FILE *f = fopen("/proc/self/io", "r");
	if (!f)
		return UINT64_MAX;
	char name[64];
	unsigned long long value;
	uint64_t out = UINT64_MAX;
	while (fscanf(f, "%63[^:]: %llu\n", name, &value) == 2) {
		if (strcmp(name, field) == 0) {
			out = value;
			break;
		}
	}
	fclose(f);
	return out;
}

uint64_t bench_proc_write_bytes(void)
{
	return proc_io_field("write_bytes");
}

static uint64_t nftw_total_bytes; /* nftw has no user pointer */

static int dir_size_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_F)
		nftw_total_bytes += (uint64_t)st->st_size;
	return 0;
}

static uint64_t dir_size_bytes(const char *dir)
{
	nftw_total_bytes = 0;
	nftw(dir, dir_size_visit, 16, FTW_PHYS);
	return nftw_total_bytes;
}

static int remove_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void dir_remove(const char *dir)
{
	nftw(dir, remove_visit, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes back every dirty page of the file system that holds dir. */
static void dir_syncfs(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
}

/* ---- one row ------------------------------------------------------------ */

struct row {
	const struct config *cfg;
	const struct backend *be;
	void *db;
	struct values *values;
	const uint32_t *perm;
	struct hist *hist;
	struct result *res;
	uint64_t rng;
	uint64_t misses;
};

/* The key of operation i of workload w. */
static void row_key(struct row *r, enum workload w, uint64_t i, char key[KEY_BYTES + 1])
{
	uint64_t n = r->cfg->num;
	switch (w) {
	case W_FILLSEQ:     key_encode(key, 2 * i); break;
	case W_FILLRANDOM:  key_encode(key, 2 * (uint64_t)r->perm[i]); break;
	case W_READMISSING: key_encode(key, 2 * (rng_next(&r->rng) % n) + 1); break;
	default:            key_encode(key, 2 * (rng_next(&r->rng) % n)); break;
	}
}

static int row_op(struct row *r, enum workload w, const char *key, const char *value, char *err)
{
	if (w == W_READRANDOM || w == W_READMISSING) {
		bool found = false;
		if (r->be->get(r->db, key, KEY_BYTES, &found, err, ERR_BYTES) != 0)
			return -1;
		r->misses += found != (w == W_READRANDOM);
		return 0;
	}
	return r->be->put(r->db, key, KEY_BYTES, value, r->cfg->value_bytes, err, ERR_BYTES);
}

static int row_ops(struct row *r, enum workload w)
{
	uint64_t n = r->cfg->num;
	uint64_t start = now_ns();
	bool writes = w == W_FILLSEQ || w == W_FILLRANDOM || w == W_OVERWRITE;
	for (uint64_t i = 0; i < n; i++) {
		char key[KEY_BYTES + 1];
		row_key(r, w, i, key); /* outside the timed call, like the value */
		const char *value = writes ? values_next(r->values, r->cfg->value_bytes) : NULL;
		uint64_t t0 = now_ns();
		if (row_op(r, w, key, value, r->res->note) != 0)
			return -1;
		hist_record(r->hist, now_ns() - t0);
	}
	r->res->seconds = (double)(now_ns() - start) / 1e9;
	r->res->ops = n;
	return 0;
}

static void row_percentiles(struct row *r)
{
	static struct hist_snapshot snap;
	hist_snapshot_clear(&snap);
	hist_snapshot_add(&snap, r->hist);
	r->res->p50_ns = hist_percentile(&snap, 50);
	r->res->p99_ns = hist_percentile(&snap, 99);
}

static void row_check_misses(struct row *r, enum workload w)
{
	if (r->misses == 0)
		return;
	r->res->failed = true;
	snprintf(r->res->note, ERR_BYTES, "%" PRIu64 " of %" PRIu64 " reads %s", r->misses,
	         r->res->ops, w == W_READRANDOM ? "missed" : "found a key");
}

/* Open, run, close, syncfs; fills r->res. */
static void row_run(struct row *r, enum workload w)
{
	struct result *res = r->res;
	struct backend_opts opts = r->cfg->opts;
	uint64_t w0 = r->be->disk_bytes_written();
	uint64_t c0 = proc_io_field("cancelled_write_bytes");
	res->ran = true;
	r->rng = r->cfg->seed * 31 + (uint64_t)w;
	r->misses = 0;
	hist_init(r->hist);
	if (r->be->open(&opts, &r->db, res->note, ERR_BYTES) != 0) {
		res->failed = true;
		return;
	}
	res->failed = row_ops(r, w) != 0;
	r->be->close(r->db);
	dir_syncfs(opts.dir);
	uint64_t w1 = r->be->disk_bytes_written();
	uint64_t c1 = proc_io_field("cancelled_write_bytes");
	res->written_bytes = (w0 == UINT64_MAX || w1 == UINT64_MAX) ? UINT64_MAX : w1 - w0;
	res->cancelled_bytes = (c0 == UINT64_MAX || c1 == UINT64_MAX) ? UINT64_MAX : c1 - c0;
	res->disk_bytes = dir_size_bytes(opts.dir);
	if (w == W_FILLSEQ || w == W_FILLRANDOM || w == W_OVERWRITE)
		res->user_bytes = res->ops * (KEY_BYTES + r->cfg->value_bytes);
	if (!res->failed) {
		row_percentiles(r);
		row_check_misses(r, w);
	}
}

/* ---- one engine ---------------------------------------------------------- */

static void progress(const struct backend *be, enum workload w, const struct result *res)
{
	if (res->failed)
		fprintf(stderr, "  %-8s %-12s FAILED: %s\n", be->name, workload_names[w], res->note);
	else
		fprintf(stderr, "  %-8s %-12s %10.0f ops/s  %.1f s\n", be->name, workload_names[w],
		        (double)res->ops / res->seconds, res->seconds);
}

static void engine_run_one(struct row *r, enum workload w, struct result *res, bool report)
{
	memset(res, 0, sizeof(*res));
	r->res = res;
	row_run(r, w);
	if (report)
		progress(r->be, w, res);
}

/* fillseq gets a database of its own; the other workloads share one, filled
 * by fillrandom (untimed and not reported when fillrandom is not selected). */
static void engine_run(const struct config *cfg, const struct backend *be, struct row *r,
                       struct result results[W_COUNT])
{
	struct result scratch;
	bool need_fill = false;
	for (int w = W_FILLRANDOM; w < W_COUNT; w++)
		need_fill |= cfg->selected[w];
	r->be = be;
	sync(); /* leave no dirty pages of the previous engine to write back */
	if (cfg->selected[W_FILLSEQ]) {
		engine_run_one(r, W_FILLSEQ, &results[W_FILLSEQ], true);
		dir_remove(cfg->opts.dir);
	}
	if (!need_fill)
		return;
	bool report = cfg->selected[W_FILLRANDOM];
	struct result *fill = report ? &results[W_FILLRANDOM] : &scratch;
	engine_run_one(r, W_FILLRANDOM, fill, report);
	if (!report && fill->failed)
		fprintf(stderr, "  %-8s fill FAILED: %s\n", be->name, fill->note);
	for (int w = W_OVERWRITE; w < W_COUNT && !fill->failed; w++) {
		if (cfg->selected[w])
			engine_run_one(r, (enum workload)w, &results[w], true);
	}
	dir_remove(cfg->opts.dir);
}

/* ---- report ------------------------------------------------------------- */

/* 1234567.8 -> "1,234,568" */
static const char *commas(char *out, size_t out_bytes, double x)
{
	char digits[32];
	snprintf(digits, sizeof(digits), "%.0f", x);
	size_t n = strlen(digits), o = 0;
	for (size_t i = 0; i < n && o + 2 < out_bytes; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	return out;
}

static void ratio(char *out, size_t out_bytes, uint64_t bytes, uint64_t user_bytes)
{
	if (bytes == UINT64_MAX)
		snprintf(out, out_bytes, "n/a");
	else if (user_bytes == 0)
		snprintf(out, out_bytes, "-");
	else
		snprintf(out, out_bytes, "%.2f", (double)bytes / (double)user_bytes);
}

static void print_row(const struct backend *be, const struct result *res)
{
	char ops[32], wa[16], dev_wa[16], written[32];
	if (res->failed) {
		printf("| %s | FAILED: %s | | | | | | |\n", be->name, res->note);
		return;
	}
	uint64_t dev = res->written_bytes == UINT64_MAX || res->cancelled_bytes == UINT64_MAX ?
		UINT64_MAX : res->written_bytes - res->cancelled_bytes;
	ratio(wa, sizeof(wa), res->written_bytes, res->user_bytes);
	ratio(dev_wa, sizeof(dev_wa), dev, res->user_bytes);
	if (res->written_bytes == UINT64_MAX)
		snprintf(written, sizeof(written), "n/a");
	else
		snprintf(written, sizeof(written), "%.1f", (double)res->written_bytes / 1e6);
	printf("| %s | %s | %.1f | %.1f | %s | %s | %s | %.1f |\n", be->name,
	       commas(ops, sizeof(ops), (double)res->ops / res->seconds), (double)res->p50_ns / 1e3,
	       (double)res->p99_ns / 1e3, written, wa, dev_wa, (double)res->disk_bytes / 1e6);
}

/* Bytes written over all rows on the shared database (fillrandom through
 * readmissing): compaction that one row leaves behind and the next pays is
 * counted here whichever row it fell into. */
static void print_totals(const struct config *cfg, struct result results[][W_COUNT])
{
	printf("### all rows on the shared database (fillrandom to readmissing)\n\n");
	printf("| engine | MB put | MB written | write amp | device write amp |\n");
	printf("| --- | ---: | ---: | ---: | ---: |\n");
	for (size_t e = 0; e < cfg->engine_count; e++) {
		struct result sum = { 0 };
		for (int w = W_FILLRANDOM; w < W_COUNT; w++) {
			const struct result *res = &results[e][w];
			if (!res->ran || res->failed || res->written_bytes == UINT64_MAX)
				continue;
			sum.user_bytes += res->user_bytes;
			sum.written_bytes += res->written_bytes;
			sum.cancelled_bytes += res->cancelled_bytes;
		}
		char wa[16], dev_wa[16];
		ratio(wa, sizeof(wa), sum.written_bytes, sum.user_bytes);
		ratio(dev_wa, sizeof(dev_wa), sum.written_bytes - sum.cancelled_bytes, sum.user_bytes);
		printf("| %s | %.1f | %.1f | %s | %s |\n", cfg->engines[e]->name,
		       (double)sum.user_bytes / 1e6, (double)sum.written_bytes / 1e6, wa, dev_wa);
	}
	printf("\n");
}

static void print_tables(const struct config *cfg, struct result results[][W_COUNT])
{
	char num[32];
	for (int w = 0; w < W_COUNT; w++) {
		if (!cfg->selected[w])
			continue;
		printf("### %s: %s ops, %d B keys, %zu B values, sync %s\n\n", workload_names[w],
		       commas(num, sizeof(num), (double)cfg->num), KEY_BYTES, cfg->value_bytes,
		       cfg->sync ? "on" : "off");
		printf("| engine | ops/s | p50 µs | p99 µs | MB written | write amp | device write amp "
		       "| disk MB |\n");
		printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
		for (size_t e = 0; e < cfg->engine_count; e++) {
			if (results[e][w].ran)
				print_row(cfg->engines[e], &results[e][w]);
		}
		printf("\n");
	}
	if (cfg->selected[W_FILLRANDOM] && cfg->selected[W_OVERWRITE])
		print_totals(cfg, results);
}

static void cpu_model(char *out, size_t out_bytes)
{
	snprintf(out, out_bytes, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon) {
			snprintf(out, out_bytes, "%s", colon + 2);
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	}
	fclose(f);
}

static const char *fs_name(const char *dir)
{
	struct statfs st;
	if (statfs(dir, &st) != 0)
		return "file system unknown";
	switch ((unsigned long)st.f_type) {
	case 0xEF53: return "ext2/3/4";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x794C7630: return "overlayfs";
	case 0x01021994: return "tmpfs: nothing reaches a device, write amp is meaningless";
	default: return "other file system";
	}
}

static void print_header(const struct config *cfg)
{
	char cpu[256], line[256];
	struct utsname u;
	uname(&u);
	cpu_model(cpu, sizeof(cpu));
	double load[3] = { 0, 0, 0 };
	getloadavg(load, 3);
	printf("- Machine: nproc %ld, CPU %s, kernel %s, memory %.1f GiB, load average at start %.2f\n",
	       sysconf(_SC_NPROCESSORS_ONLN), cpu, u.release,
	       (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / (1 << 30), load[0]);
	for (size_t i = 0; i < ENGINE_TABLE_COUNT; i++) {
		if (!engine_table[i].be)
			continue;
		engine_table[i].be->describe(line, sizeof(line));
		printf("- %s: %s\n", engine_table[i].name, line);
	}
	printf("- Same options for every engine: write buffer %zu MiB, LRU block cache %zu MiB, "
	       "bloom %d bits/key, compression %s; everything else each engine's default\n",
	       cfg->opts.write_buffer_bytes >> 20, cfg->opts.cache_bytes >> 20,
	       cfg->opts.bloom_bits_per_key, cfg->opts.compression ? "snappy (ringkv: lz4)" : "off");
	if (cfg->ringkv_skipped)
		printf("- ringkv: engine not built yet (skipped)\n");
	printf("- Databases under %s (%s); seed %" PRIu64 "\n", cfg->parent_dir,
	       fs_name(cfg->parent_dir), cfg->seed);
	printf("- Each row: open, the operations, close, syncfs. ops/s and latencies cover the "
	       "operations; MB written (/proc/self/io write_bytes) covers open to syncfs. "
	       "write amp = MB written / (key + value bytes put); device write amp subtracts "
	       "cancelled_write_bytes (dirty pages of files deleted before writeback). "
	       "disk MB = sum of file sizes after close. 1 MB = 10^6 B.\n");
}

/* ---- options -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringkv-engine-bench [options]\n"
		"  --num N             operations per workload, and keys in the database [1000000]\n"
		"  --value-size B      value bytes [100]\n"
		"  --sync              sync every write (default: off)\n"
		"  --engines LIST      comma-separated: rocksdb,leveldb,ringkv [rocksdb,leveldb,ringkv]\n"
		"  --workloads LIST    fillseq,fillrandom,overwrite,readrandom,readmissing [all]\n"
		"  --dir PATH          parent of the temp database dir, removed at exit [/tmp]\n"
		"  --quick             smoke run: --num 10000 unless given\n"
		"  --seed N            data and key order seed [301]\n"
		"  --write-buffer-mb N memtable size for every engine [8]\n"
		"  --cache-mb N        block cache for every engine [64]\n"
		"  --compression       snappy instead of none (ringkv: lz4)\n"
		"  --no-header         print only the tables (run.sh prints one header)\n"
		"  --header-only       print only the header (machine, versions, options)\n");
}

static int parse_engines(struct config *cfg, char *list)
{
	cfg->engine_count = 0;
	for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
		size_t i = 0;
		while (i < ENGINE_TABLE_COUNT && strcmp(engine_table[i].name, name) != 0)
			i++;
		if (i == ENGINE_TABLE_COUNT) {
			fprintf(stderr, "unknown engine: %s\n", name);
			return -1;
		}
		if (!engine_table[i].be) {
			fprintf(stderr, "%s engine: not built yet (skipped)\n", name);
			cfg->ringkv_skipped = true;
			continue;
		}
		if (cfg->engine_count == ENGINES_MAX)
			return -1;
		cfg->engines[cfg->engine_count++] = engine_table[i].be;
	}
	return 0;
}

static int parse_workloads(struct config *cfg, char *list)
{
	memset(cfg->selected, 0, sizeof(cfg->selected));
	for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
		int w = 0;
		while (w < W_COUNT && strcmp(workload_names[w], name) != 0)
			w++;
		if (w == W_COUNT) {
			fprintf(stderr, "unknown workload: %s\n", name);
			return -1;
		}
		cfg->selected[w] = true;
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "bad number: %s (want %" PRIu64 "..%" PRIu64 ")\n", s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

enum { OPT_SEED = 256, OPT_WB, OPT_CACHE, OPT_COMPRESSION, OPT_NO_HEADER, OPT_HEADER_ONLY };

static const struct option long_options[] = {
	{ "num", required_argument, NULL, 'n' },
	{ "value-size", required_argument, NULL, 'v' },
	{ "sync", no_argument, NULL, 's' },
	{ "engines", required_argument, NULL, 'e' },
	{ "workloads", required_argument, NULL, 'w' },
	{ "dir", required_argument, NULL, 'd' },
	{ "quick", no_argument, NULL, 'q' },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "write-buffer-mb", required_argument, NULL, OPT_WB },
	{ "cache-mb", required_argument, NULL, OPT_CACHE },
	{ "compression", no_argument, NULL, OPT_COMPRESSION },
	{ "no-header", no_argument, NULL, OPT_NO_HEADER },
	{ "header-only", no_argument, NULL, OPT_HEADER_ONLY },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* One option into cfg; 1 for --help, -1 on error. */
static int parse_option(struct config *cfg, int c, char *arg, bool *num_given)
{
	uint64_t v = 0;
	switch (c) {
	case 'n': *num_given = true; return parse_u64(arg, 1, UINT32_MAX, &cfg->num);
	case 'v':
		if (parse_u64(arg, 1, 64u << 20, &v) != 0)
			return -1;
		cfg->value_bytes = (size_t)v;
		return 0;
	case 's': cfg->sync = true; return 0;
	case 'e': return parse_engines(cfg, arg);
	case 'w': return parse_workloads(cfg, arg);
	case 'd': cfg->parent_dir = arg; return 0;
	case 'q': cfg->quick = true; return 0;
	case OPT_SEED: return parse_u64(arg, 0, UINT64_MAX, &cfg->seed);
	case OPT_WB:
		if (parse_u64(arg, 1, 4096, &v) != 0)
			return -1;
		cfg->opts.write_buffer_bytes = (size_t)v << 20;
		return 0;
	case OPT_CACHE:
		if (parse_u64(arg, 1, 65536, &v) != 0)
			return -1;
		cfg->opts.cache_bytes = (size_t)v << 20;
		return 0;
	case OPT_COMPRESSION: cfg->opts.compression = true; return 0;
	case OPT_NO_HEADER: cfg->header = false; return 0;
	case OPT_HEADER_ONLY: cfg->header_only = true; return 0;
	case 'h': usage(stdout); return 1;
	default: usage(stderr); return -1;
	}
}

static int parse_args(struct config *cfg, int argc, char **argv)
{
	static char default_engines[] = "rocksdb,leveldb,ringkv";
	*cfg = (struct config){
		.num = 1000000, .value_bytes = 100, .header = true, .parent_dir = "/tmp", .seed = 301,
		.opts = { .write_buffer_bytes = 8u << 20, .cache_bytes = 64u << 20,
		          .bloom_bits_per_key = 10 },
	};
	for (int w = 0; w < W_COUNT; w++)
		cfg->selected[w] = true;
	if (parse_engines(cfg, default_engines) != 0)
		return -1;
	bool num_given = false;
	int c;
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		int rc = parse_option(cfg, c, optarg, &num_given);
		if (rc != 0)
			return rc;
	}
	if (optind < argc) {
		usage(stderr);
		return -1;
	}
	if (cfg->quick && !num_given)
		cfg->num = 10000;
	cfg->opts.sync = cfg->sync;
	return 0;
}

/* ---- main ------------------------------------------------------------------ */

static int bench_run(struct config *cfg, char *db_dir)
{
	static struct result results[ENGINES_MAX][W_COUNT];
	struct values *values = malloc(sizeof(*values));
	struct hist *hist = malloc(sizeof(*hist));
	uint32_t *perm = permutation_create(cfg->num, cfg->seed);
	if (!values || !hist || !perm) {
		fprintf(stderr, "out of memory\n");
		free(values), free(hist), free(perm);
		return 1;
	}
	cfg->opts.dir = db_dir;
	struct row r = { .cfg = cfg, .values = values, .perm = perm, .hist = hist };
	for (size_t e = 0; e < cfg->engine_count; e++) {
		values_init(values, cfg->seed); /* every engine gets the same values */
		engine_run(cfg, cfg->engines[e], &r, results[e]);
	}
	print_tables(cfg, results);
	free(values), free(hist), free(perm);
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg;
	int rc = parse_args(&cfg, argc, argv);
	if (rc != 0)
		return rc < 0 ? 2 : 0;
	if (cfg.header_only) {
		print_header(&cfg);
		return 0;
	}
	char tmp[4096], db_dir[4200];
	snprintf(tmp, sizeof(tmp), "%s/ringkv-engine-bench.XXXXXX", cfg.parent_dir);
	if (!mkdtemp(tmp)) {
		fprintf(stderr, "mkdtemp %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	snprintf(db_dir, sizeof(db_dir), "%s/db", tmp);
	if (bench_proc_write_bytes() == UINT64_MAX)
		fprintf(stderr, "warning: /proc/self/io unreadable: write amplification is n/a\n");
	if (cfg.header) {
		print_header(&cfg);
		printf("\n");
	}
	fprintf(stderr, "engine-bench: %" PRIu64 " x %zu B values, sync %s, in %s\n", cfg.num,
	        cfg.value_bytes, cfg.sync ? "on" : "off", tmp);
	rc = bench_run(&cfg, db_dir);
	dir_remove(tmp);
	return rc;
}
