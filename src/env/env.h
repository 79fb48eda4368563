/*
 * env.h - the one door to the operating system for clocks, randomness,
 * threads and locks (files join it with the durable engine).
 *
 * Everything above src/env/ and src/net/ reaches the OS only through this
 * header, so that tests and the simulator can substitute time and
 * randomness. The lock and thread types wrap pthreads and are complete
 * types so callers can embed them (caller-allocated objects, no hidden
 * mallocs).
 */
#ifndef RINGKV_ENV_ENV_H
#define RINGKV_ENV_ENV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock time in milliseconds since the Unix epoch (expiry times are
 * absolute wall-clock times, as in Redis). */
int64_t env_wall_ms(void);

/* Wall-clock time in microseconds since the Unix epoch. */
int64_t env_wall_us(void);

/* Monotonic time in nanoseconds, for durations and latency. */
uint64_t env_mono_ns(void);

static inline uint64_t env_mono_us(void)
{
	return env_mono_ns() / 1000;
}

/* 64 bits from the OS entropy source, for seeding PRNGs. */
uint64_t env_random_seed(void);

/* CPU time used by the process, in microseconds (user, system). */
void env_cpu_usage_us(int64_t *user_us, int64_t *sys_us);

/* Process id, for INFO and logs. */
int64_t env_pid(void);

/* Number of online CPUs (at least 1). */
int env_cpu_count(void);

/* Peak resident set size in bytes (from getrusage). */
uint64_t env_rss_peak_bytes(void);

/* Bytes the allocator has handed out and not taken back: jemalloc's
 * stats.allocated (after refreshing its "epoch") when the server is linked
 * with jemalloc; under AddressSanitizer, the sanitizer allocator's own count
 * (__sanitizer_get_current_allocated_bytes); else glibc's mallinfo2 in-use
 * bytes. Exact, but costs a few microseconds: not for every command. */
uint64_t env_allocated_bytes(void);

/* The calling thread's own cumulative allocation counters, maintained by
 * the allocator itself (jemalloc's "thread.allocatedp" and
 * "thread.deallocatedp"): reading them is two loads, no call. Only the
 * thread that initialised it may use one. */
struct env_alloc_thread {
	const uint64_t *allocated;
	const uint64_t *deallocated;
};

/* Binds t to the calling thread's counters; false (t zeroed) when the
 * allocator keeps none (no jemalloc: sanitizer and unit-test builds). */
bool env_alloc_thread_init(struct env_alloc_thread *t);

/* Bytes this thread allocated minus bytes it freed since it started (may
 * be negative: a thread can free what others allocated). 0 if unbound. */
static inline int64_t env_alloc_thread_net(const struct env_alloc_thread *t)
{
	if (!t->allocated)
		return 0;
	return (int64_t)(*t->allocated - *t->deallocated);
}

/* Name of the allocator in use, for INFO. */
const char *env_allocator_name(void);

/* Current resident set size in bytes (from /proc/self/statm), 0 if unknown. */
uint64_t env_rss_bytes(void);

/* Creates the directory if missing (one level) and makes it the working
 * directory. 0 or ERR_IO with the reason in err. */
int env_dir_enter(const char *path, char *err, size_t errcap);

struct env_mutex {
	pthread_mutex_t m;
};

void env_mutex_init(struct env_mutex *mu);
void env_mutex_deinit(struct env_mutex *mu);

static inline void env_mutex_lock(struct env_mutex *mu)
{
	pthread_mutex_lock(&mu->m);
}

static inline void env_mutex_unlock(struct env_mutex *mu)
{
	pthread_mutex_unlock(&mu->m);
}

/* A condition variable for env_mutex (group commit, the flush thread). */
struct env_cond {
	pthread_cond_t c;
};

void env_cond_init(struct env_cond *cv);
void env_cond_deinit(struct env_cond *cv);
/* Atomically releases mu and waits; mu is held again on return. Spurious
 * wake-ups happen: callers wait in a loop on their predicate. */
void env_cond_wait(struct env_cond *cv, struct env_mutex *mu);
/* As env_cond_wait, for at most timeout_ms; true if it timed out. */
bool env_cond_timedwait_ms(struct env_cond *cv, struct env_mutex *mu, uint64_t timeout_ms);
void env_cond_signal(struct env_cond *cv);
void env_cond_broadcast(struct env_cond *cv);

struct env_thread {
	pthread_t t;
};

typedef void *env_thread_fn(void *arg);

/* Starts fn(arg) on a new thread named name (<= 15 chars, for top/gdb).
 * Returns 0 or ERR_NOMEM/ERR_IO; on failure no thread runs. */
int env_thread_start(struct env_thread *t, const char *name, env_thread_fn *fn, void *arg);
void env_thread_join(struct env_thread *t);
/* Sets the calling thread's nice value (0..19: higher yields the CPU to
 * normal threads sooner). Returns 0 or ERR_IO (then nothing changed). */
int env_thread_set_nice(int nice);

/* A small, fast PRNG (xoshiro256**-style generator of our own seeding):
 * one per thread or per object, never shared, seeded by the caller. */
struct env_rng {
	uint64_t s[4];
};

void env_rng_seed(struct env_rng *r, uint64_t seed);
uint64_t env_rng_next(struct env_rng *r);

#endif
