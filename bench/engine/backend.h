/*
 * backend.h - the interface the engine benchmark drives: one vtable per
 * storage engine (RocksDB, LevelDB, and later ringkv's own engine).
 *
 * A backend opens one database directory with the options below, which the
 * harness sets identically for every engine, and offers put, get and close.
 * Everything else (key and value generation, timing, histograms, write
 * amplification, disk size) lives in the harness, so every engine is
 * measured by the same code.
 *
 * Errors: open, put and get return 0 or -1 and write a message into the
 * caller's buffer (err, err_bytes). A failed call ends the run for that
 * engine; the benchmark never retries.
 *
 * Threads: the harness calls a backend from one thread. Engines may run
 * their own background threads (flush, compaction); their disk writes are
 * counted because /proc/self/io sums every thread of the process.
 */
#ifndef RINGKV_BENCH_ENGINE_BACKEND_H
#define RINGKV_BENCH_ENGINE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The knobs every engine gets, with the same values. */
struct backend_opts {
	const char *dir;            /* database directory; created if missing */
	bool sync;                  /* fsync (fdatasync) the log on every put */
	size_t write_buffer_bytes;  /* memtable size before a flush */
	size_t cache_bytes;         /* block cache (LRU) */
	int bloom_bits_per_key;     /* bloom filter per table */
	bool compression;           /* false: no block compression */
};

struct backend {
	const char *name;

	/* A line for the report header: library and version. */
	void (*describe)(char *out, size_t out_bytes);

	/* Opens (creating when missing) the database at opts->dir. */
	int (*open)(const struct backend_opts *opts, void **db_out, char *err, size_t err_bytes);

	int (*put)(void *db, const char *key, size_t key_bytes, const char *value,
	           size_t value_bytes, char *err, size_t err_bytes);

	/* *found is set to whether the key exists; the value is read in full
	 * and discarded, so a get costs what a real read costs. */
	int (*get)(void *db, const char *key, size_t key_bytes, bool *found, char *err,
	           size_t err_bytes);

	/* Closes the database and waits for what the engine waits for on
	 * close (running background work); frees db. */
	void (*close)(void *db);

	/*
	 * Bytes this process has caused to be written to the device so far.
	 * Every backend must use bench_proc_write_bytes (the same source for
	 * all engines, see README); the field is here so the harness has one
	 * place to read it from and a backend cannot forget it.
	 */
	uint64_t (*disk_bytes_written)(void);
};

/* /proc/self/io write_bytes (all threads of the process), or UINT64_MAX if
 * it cannot be read. Defined in engine_bench.c. */
uint64_t bench_proc_write_bytes(void);

extern const struct backend backend_rocksdb;
extern const struct backend backend_leveldb;
/* RINGKV ENGINE: ringkv's own engine (backend_ringkv.c, over
 * src/engine/lsm.h), registered in engine_bench.c. */
extern const struct backend backend_ringkv;

#endif
