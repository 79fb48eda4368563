/*
 * env_posix.c - env.h on Linux.
 */
#include "env/env.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/err.h"

int64_t env_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t env_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t env_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t env_random_seed(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = env_mono_ns() ^ ((uint64_t)getpid() << 32);
	return v;
}

void env_cpu_usage_us(int64_t *user_us, int64_t *sys_us)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	*user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
	*sys_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

int64_t env_pid(void)
{
	return (int64_t)getpid();
}

int env_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

uint64_t env_rss_peak_bytes(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_maxrss * 1024;
}

uint64_t env_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	unsigned long size = 0, resident = 0;
	int n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	if (n != 2)
		return 0;
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

void env_mutex_init(struct env_mutex *mu)
{
	int rc = pthread_mutex_init(&mu->m, NULL);
	ASSERT(rc == 0);
}

void env_mutex_deinit(struct env_mutex *mu)
{
	pthread_mutex_destroy(&mu->m);
}

/* Monotonic clock, so a wall-clock jump neither cuts a wait short nor
 * stretches it. */
void env_cond_init(struct env_cond *cv)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&cv->c, &attr);
	pthread_condattr_destroy(&attr);
	ASSERT(rc == 0);
}

void env_cond_deinit(struct env_cond *cv)
{
	pthread_cond_destroy(&cv->c);
}

void env_cond_wait(struct env_cond *cv, struct env_mutex *mu)
{
	pthread_cond_wait(&cv->c, &mu->m);
}

bool env_cond_timedwait_ms(struct env_cond *cv, struct env_mutex *mu, uint64_t timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ns = (uint64_t)ts.tv_nsec + (timeout_ms % 1000) * 1000000u;
	ts.tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	return pthread_cond_timedwait(&cv->c, &mu->m, &ts) == ETIMEDOUT;
}

void env_cond_signal(struct env_cond *cv)
{
	pthread_cond_signal(&cv->c);
}

void env_cond_broadcast(struct env_cond *cv)
{
	pthread_cond_broadcast(&cv->c);
}

int env_thread_start(struct env_thread *t, const char *name, env_thread_fn *fn, void *arg)
{
	int rc = pthread_create(&t->t, NULL, fn, arg);
	if (rc != 0)
		return ERR_NOMEM;
	char short_name[16];
	snprintf(short_name, sizeof(short_name), "%s", name);
	pthread_setname_np(t->t, short_name);
	return 0;
}

void env_thread_join(struct env_thread *t)
{
	pthread_join(t->t, NULL);
}

int env_thread_set_nice(int nice)
{
	/* On Linux a nice value belongs to a thread, named by its id. */
	return setpriority(PRIO_PROCESS, (id_t)gettid(), nice) == 0 ? 0 : ERR_IO;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void env_rng_seed(struct env_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t env_rng_next(struct env_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

int env_dir_enter(const char *path, char *err, size_t errcap)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errcap, "cannot create directory '%s': %s", path, strerror(errno));
		return ERR_IO;
	}
	if (chdir(path) != 0) {
		snprintf(err, errcap, "cannot enter directory '%s': %s", path, strerror(errno));
		return ERR_IO;
	}
	return 0;
}

/* jemalloc's control interface, present only when the binary links it. */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

/* AddressSanitizer's allocator statistics, present only in ASan builds. */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

uint64_t env_allocated_bytes(void)
{
	if (__sanitizer_get_current_allocated_bytes)
		return __sanitizer_get_current_allocated_bytes();
	if (mallctl) {
		uint64_t epoch = 1;
		size_t sz = sizeof(epoch);
		mallctl("epoch", &epoch, &sz, &epoch, sz); /* refresh the statistics */
		size_t allocated = 0;
		sz = sizeof(allocated);
		if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0) {
			/* jemalloc counts objects parked in thread caches as
			 * allocated; the application has freed them, and the
			 * per-thread counters (env_alloc_thread_net) agree. 4096 is
			 * MALLCTL_ARENAS_ALL: the sum over arenas. */
			size_t cached = 0;
			sz = sizeof(cached);
			if (mallctl("stats.arenas.4096.tcache_bytes", &cached, &sz, NULL, 0) == 0 &&
			    cached < allocated)
				allocated -= cached;
			return allocated;
		}
	}
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

bool env_alloc_thread_init(struct env_alloc_thread *t)
{
	t->allocated = NULL;
	t->deallocated = NULL;
	if (!mallctl)
		return false;
	uint64_t *a = NULL, *d = NULL;
	size_t sz = sizeof(a);
	if (mallctl("thread.allocatedp", &a, &sz, NULL, 0) != 0 || !a)
		return false;
	sz = sizeof(d);
	if (mallctl("thread.deallocatedp", &d, &sz, NULL, 0) != 0 || !d)
		return false;
	t->allocated = a;
	t->deallocated = d;
	return true;
}

const char *env_allocator_name(void)
{
	if (__sanitizer_get_current_allocated_bytes)
		return "sanitizer";
	return mallctl ? "jemalloc" : "libc";
}
