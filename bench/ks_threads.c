/*
 * ks_threads.c - does the command path scale with threads? Runs the real
 * dispatcher, keyspace and memory engine (everything but the sockets) on
 * 1..N threads at once, each issuing GET and SET (50/50) on random keys of
 * a shared keyspace, and prints operations per second per thread count.
 *
 * This isolates what --threads relies on: no global lock between the event
 * loops. The network path is measured by bench/vs-redis.sh; on a 2-core
 * machine a network benchmark cannot show scaling, because the load
 * generator needs the cores too.
 *
 * Usage: ringkv-ks-bench [max_threads] [seconds_per_step] [keys]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "engine/engine.h"
#include "env/env.h"
#include "keyspace/keyspace.h"

static void set_name(struct node *n, struct client *c, struct bytes name)
{
	(void)n;
	(void)c;
	(void)name;
}

static const struct node_hooks hooks = {.client_set_name = set_name};

struct worker {
	struct node *node;
	struct client client;
	struct env_thread t;
	uint64_t keys;
	uint64_t deadline_us;
	uint64_t ops;
	unsigned index;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct client *c = &w->client;
	char key[32];
	char value[64];
	memset(value, 'v', sizeof(value));
	struct bytes argv[3];
	uint64_t ops = 0;
	while (env_mono_us() < w->deadline_us) {
		for (int i = 0; i < 1024; i++) {
			uint64_t r = env_rng_next(&c->thr->rng);
			int n = snprintf(key, sizeof(key), "key:%012llu",
			                 (unsigned long long)(r % w->keys));
			bool is_set = (r >> 63) != 0;
			argv[0] = bytes_cstr(is_set ? "SET" : "GET");
			argv[1] = bytes_make(key, (size_t)n);
			argv[2] = bytes_make(value, sizeof(value));
			c->argv = argv;
			c->argc = is_set ? 3 : 2;
			cmd_dispatch(c);
			c->out.buf.len = 0;
		}
		ops += 1024;
		c->thr->now_ms = env_wall_ms();
	}
	w->ops = ops;
	return NULL;
}

static void fill(struct worker *w, uint64_t keys)
{
	char key[32], value[64];
	memset(value, 'v', sizeof(value));
	for (uint64_t i = 0; i < keys; i++) {
		int len = snprintf(key, sizeof(key), "key:%012llu", (unsigned long long)i);
		struct bytes argv[3] = {bytes_cstr("SET"), bytes_make(key, (size_t)len),
		                        bytes_make(value, sizeof(value))};
		w->client.argv = argv;
		w->client.argc = 3;
		cmd_dispatch(&w->client);
		w->client.out.buf.len = 0;
	}
}

int main(int argc, char **argv)
{
	unsigned max_threads = argc > 1 ? (unsigned)atoi(argv[1]) : (unsigned)env_cpu_count();
	double seconds = argc > 2 ? atof(argv[2]) : 3.0;
	uint64_t keys = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
	if (max_threads < 1 || max_threads > 256 || seconds <= 0 || keys == 0) {
		fprintf(stderr, "usage: ringkv-ks-bench [max_threads] [seconds] [keys]\n");
		return 2;
	}
	struct config cfg;
	struct log log;
	config_init(&cfg, 1);
	log_open(&log, NULL, LOG_WARNING);
	struct node node = {.cfg = &cfg, .log = &log, .hooks = &hooks};
	node.ks = ks_create(engine_mem_create(KEYSPACE_STRIPES));
	node.thread_count = max_threads;
	struct worker *w = calloc(max_threads, sizeof(*w));
	node.threads = calloc(max_threads, sizeof(struct cmd_thread));
	if (!node.ks || !w || !node.threads || cmd_node_init(&node) != 0) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (unsigned i = 0; i < max_threads; i++) {
		cmd_thread_init(&node.threads[i], i);
		node.threads[i].now_ms = env_wall_ms();
		client_init(&w[i].client, &node, &node.threads[i], i + 1);
		w[i].node = &node;
		w[i].keys = keys;
		w[i].index = i;
	}
	fill(&w[0], keys);
	printf("threads  ops/s        per-thread  speed-up   (%llu keys, 50%% GET / 50%% SET, %d "
	       "cores)\n",
	       (unsigned long long)keys, env_cpu_count());
	double base = 0;
	for (unsigned t = 1; t <= max_threads; t++) {
		uint64_t deadline = env_mono_us() + (uint64_t)(seconds * 1e6);
		uint64_t start = env_mono_us();
		for (unsigned i = 0; i < t; i++) {
			w[i].deadline_us = deadline;
			env_thread_start(&w[i].t, "ks-bench", work, &w[i]);
		}
		uint64_t total = 0;
		for (unsigned i = 0; i < t; i++) {
			env_thread_join(&w[i].t);
			total += w[i].ops;
		}
		double rate = (double)total / ((double)(env_mono_us() - start) / 1e6);
		if (t == 1)
			base = rate;
		printf("%7u  %11.0f  %10.0f  %8.2fx\n", t, rate, rate / t, rate / base);
	}
	return 0;
}
