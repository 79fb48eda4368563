/*
 * hotpath_test.c - once a connection exists, serving GET, SET (of a value
 * of similar size), MGET, INCR and EXISTS never calls the allocator.
 *
 * The test drives the real parser and dispatcher in-process (no sockets),
 * and counts calls to malloc/calloc/realloc through the linker's --wrap
 * (see CMakeLists.txt), which catches every allocation made by the
 * ringkv_core objects linked into this binary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "engine/engine.h"
#include "keyspace/keyspace.h"
#include "proto/resp.h"

static long allocations;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
	allocations++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	allocations++;
	return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	allocations++;
	return __real_realloc(p, n);
}

static void no_set_name(struct node *n, struct client *c, struct bytes name)
{
	(void)n;
	memcpy(c->name, name.ptr, name.len);
	c->name[name.len] = '\0';
}

static const struct node_hooks hooks = {.client_set_name = no_set_name};

struct fixture {
	struct config cfg;
	struct log log;
	struct node node;
	struct client client;
	struct resp_parser parser;
};

static void setup(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(config_init(&f->cfg, 1), 0);
	log_open(&f->log, NULL, LOG_WARNING);
	f->node.cfg = &f->cfg;
	f->node.log = &f->log;
	f->node.hooks = &hooks;
	f->node.ks = ks_create(engine_mem_create(KEYSPACE_STRIPES));
	assert_non_null(f->node.ks);
	f->node.thread_count = 1;
	f->node.threads = calloc(1, sizeof(struct cmd_thread));
	assert_int_equal(cmd_thread_init(&f->node.threads[0], 0), 0);
	assert_int_equal(cmd_node_init(&f->node), 0);
	client_init(&f->client, &f->node, &f->node.threads[0], 1);
	struct resp_limits limits = {1024 * 1024, 512 * 1024 * 1024, 64 * 1024};
	resp_parser_init(&f->parser, &limits);
}

static void teardown(struct fixture *f)
{
	resp_parser_deinit(&f->parser);
	client_deinit(&f->client);
	cmd_node_deinit(&f->node);
	cmd_thread_deinit(&f->node.threads[0]);
	free(f->node.threads);
	ks_destroy(f->node.ks);
	config_deinit(&f->cfg);
}

/* Parses and executes every command in text, then drops the replies as a
 * connection does after writing them. */
static void run(struct fixture *f, const char *text)
{
	const uint8_t *p = (const uint8_t *)text;
	size_t len = strlen(text), pos = 0;
	while (pos < len) {
		size_t used;
		assert_int_equal(resp_parse(&f->parser, p + pos, len - pos, &used), RESP_DONE);
		f->client.argv = f->parser.argv;
		f->client.argc = f->parser.argc;
		cmd_dispatch(&f->client);
		resp_parser_reset(&f->parser);
		pos += used;
	}
	assert_int_equal(f->client.out.err, 0);
	assert_true(f->client.out.buf.len > 0);
	assert_int_not_equal(f->client.out.buf.data[0], '-');
	f->client.out.buf.len = 0;
}

static void test_steady_state_requests_do_not_allocate(void **state)
{
	struct fixture f;
	setup(&f);
	const char *batch = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
	                    "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
	                    "*4\r\n$4\r\nMGET\r\n$3\r\nkey\r\n$1\r\na\r\n$1\r\nb\r\n"
	                    "*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n"
	                    "*3\r\n$6\r\nEXISTS\r\n$3\r\nkey\r\n$3\r\nctr\r\n"
	                    "PING\r\n";
	/* Warm-up: creates the keys and sizes the buffers. */
	for (int i = 0; i < 10; i++)
		run(&f, batch);
	allocations = 0;
	for (int i = 0; i < 10000; i++)
		run(&f, batch);
	assert_int_equal(allocations, 0);
	teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_steady_state_requests_do_not_allocate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
