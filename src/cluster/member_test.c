/*
 * member_test.c - membership under a deterministic simulator: nodes in one
 * process, a seeded network with delay, loss and partitions, kills and
 * restarts, simulated time in 10 ms steps. Detection and agreement times
 * are printed (docs/cluster.md quotes them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "cluster/member.h"

#define NODES_MAX 8
#define STEP_MS   10
#define NET_MAX   100000

struct packet {
	uint64_t at_ms;
	int to;
	struct member_msg msg; /* owns msg.updates */
};

struct sim {
	int n;
	struct membership node[NODES_MAX];
	bool up[NODES_MAX];
	bool cut[NODES_MAX][NODES_MAX]; /* cut[a][b]: a's packets to b are dropped */
	uint64_t incarnation[NODES_MAX];
	struct packet *net;
	size_t net_len;
	uint64_t now_ms;
	struct env_rng rng;
	unsigned loss_per_mille;
	struct member_config cfg;
};

static void node_info(int i, struct member_info *out, uint64_t incarnation)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "n%d", i);
	snprintf(out->addr, sizeof(out->addr), "127.0.0.%d:7000", 11 + i);
	snprintf(out->zone, sizeof(out->zone), "z%d", i % 3);
	out->weight = 1;
	out->incarnation = incarnation;
}

static int addr_node(const struct sim *s, const char *addr)
{
	for (int i = 0; i < s->n; i++) {
		struct member_info info;
		node_info(i, &info, 0);
		if (strcmp(info.addr, addr) == 0)
			return i;
	}
	return -1;
}

static void start_node(struct sim *s, int i, bool join)
{
	struct member_info self;
	node_info(i, &self, ++s->incarnation[i] * 1000);
	assert_int_equal(membership_init(&s->node[i], &self, &s->cfg, 77 + (uint64_t)i), 0);
	s->up[i] = true;
	if (join && i != 0) {
		struct member_info seed;
		node_info(0, &seed, 0);
		assert_int_equal(membership_join(&s->node[i], seed.addr, s->now_ms), 0);
	}
}

static void sim_init(struct sim *s, int n, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->net = calloc(NET_MAX, sizeof(*s->net));
	env_rng_seed(&s->rng, seed);
	s->cfg.probe_interval_ms = 500;
	s->cfg.probe_timeout_ms = 200;
	s->cfg.sync_interval_ms = 5000;
	for (int i = 0; i < n; i++)
		start_node(s, i, true);
}

static void sim_deinit(struct sim *s)
{
	for (int i = 0; i < s->n; i++)
		if (s->node[i].recs)
			membership_deinit(&s->node[i]);
	for (size_t i = 0; i < s->net_len; i++)
		free(s->net[i].msg.updates);
	free(s->net);
}

static void kill_node(struct sim *s, int i)
{
	s->up[i] = false;
	membership_deinit(&s->node[i]);
}

/* Moves node i's outbox onto the network. */
static void collect(struct sim *s, int i)
{
	struct membership *m = &s->node[i];
	for (size_t k = 0; k < m->out_count; k++) {
		struct member_msg *msg = &m->outbox[k];
		int to = addr_node(s, msg->to_addr);
		bool drop = to < 0 || s->cut[i][to] ||
		    env_rng_next(&s->rng) % 1000 < s->loss_per_mille || s->net_len == NET_MAX;
		if (drop)
			continue;
		struct packet *p = &s->net[s->net_len++];
		p->at_ms = s->now_ms + 1 + env_rng_next(&s->rng) % 5;
		p->to = to;
		p->msg = *msg;
		p->msg.updates = malloc((msg->update_count ? msg->update_count : 1) *
		                        sizeof(struct member_info));
		memcpy(p->msg.updates, msg->updates, msg->update_count * sizeof(struct member_info));
	}
	membership_clear_out(m);
}

static void step(struct sim *s)
{
	s->now_ms += STEP_MS;
	for (size_t k = 0; k < s->net_len;) {
		struct packet *p = &s->net[k];
		if (p->at_ms > s->now_ms) {
			k++;
			continue;
		}
		struct packet pk = *p;
		s->net[k] = s->net[--s->net_len];
		if (s->up[pk.to])
			(void)membership_recv(&s->node[pk.to], &pk.msg, s->now_ms);
		free(pk.msg.updates);
	}
	for (int i = 0; i < s->n; i++) {
		if (!s->up[i])
			continue;
		membership_tick(&s->node[i], s->now_ms);
		collect(s, i);
	}
}

static void run(struct sim *s, uint64_t ms)
{
	for (uint64_t end = s->now_ms + ms; s->now_ms < end;)
		step(s);
}

static enum member_status view(struct sim *s, int observer, int subject)
{
	char name[16];
	snprintf(name, sizeof(name), "n%d", subject);
	const struct member_info *i = membership_find(&s->node[observer], name);
	return i ? i->status : (enum member_status)-1;
}

/* Runs until every live node sees subject as st; returns the time taken,
 * or fails after limit_ms. first_ms: when the first one did. */
static uint64_t until_all_see(struct sim *s, int subject, enum member_status st, uint64_t limit_ms,
                              uint64_t *first_ms)
{
	uint64_t start = s->now_ms;
	*first_ms = 0;
	while (s->now_ms - start <= limit_ms) {
		int seen = 0, live = 0;
		for (int i = 0; i < s->n; i++) {
			if (!s->up[i] || i == subject)
				continue;
			live++;
			seen += view(s, i, subject) == st;
		}
		if (seen && !*first_ms)
			*first_ms = s->now_ms - start;
		if (seen == live)
			return s->now_ms - start;
		step(s);
	}
	fail_msg("n%d not seen %s by all within %llu ms", subject, member_status_name(st),
	         (unsigned long long)limit_ms);
	return 0;
}

static void all_alive(struct sim *s)
{
	for (int i = 0; i < s->n; i++)
		for (int j = 0; j < s->n; j++)
			if (i != j && s->up[i] && s->up[j])
				assert_int_equal(view(s, i, j), MEMBER_ALIVE);
}

static void test_five_nodes_form_a_cluster_through_one_seed(void **state)
{
	(void)state;
	struct sim s;
	sim_init(&s, 5, 1);
	run(&s, 3000);
	all_alive(&s);
	for (int i = 0; i < 5; i++)
		assert_int_equal(membership_count(&s.node[i]), 4);
	sim_deinit(&s);
}

static void test_a_killed_node_is_detected_and_agreed_on(void **state)
{
	(void)state;
	uint64_t worst_first = 0, worst_all = 0;
	for (uint64_t seed = 1; seed <= 5; seed++) {
		struct sim s;
		sim_init(&s, 5, seed);
		run(&s, 3000);
		kill_node(&s, 3);
		uint64_t first, all = until_all_see(&s, 3, MEMBER_DEAD, 15000, &first);
		worst_first = first > worst_first ? first : worst_first;
		worst_all = all > worst_all ? all : worst_all;
		for (int i = 0; i < 5; i++)
			if (i != 3)
				assert_int_equal(s.node[i].deaths >= 1, true);
		sim_deinit(&s);
	}
	fprintf(stderr,
	        "  5 nodes, probe 500 ms: a killed node is first marked down after at most "
	        "%llu ms, by all after at most %llu ms (5 seeds)\n",
	        (unsigned long long)worst_first, (unsigned long long)worst_all);
	assert_true(worst_all <= 10000);
}

static void test_no_false_down_over_ten_minutes_with_loss(void **state)
{
	(void)state;
	struct sim s;
	sim_init(&s, 5, 9);
	s.loss_per_mille = 10; /* 1% of packets lost */
	run(&s, 600000);
	uint64_t suspicions = 0, deaths = 0;
	for (int i = 0; i < 5; i++) {
		suspicions += s.node[i].suspicions;
		deaths += s.node[i].deaths;
	}
	fprintf(stderr, "  10 simulated minutes, 5 nodes, 1%% loss: %llu suspicions, %llu down\n",
	        (unsigned long long)suspicions, (unsigned long long)deaths);
	assert_int_equal(deaths, 0);
	all_alive(&s);
	sim_deinit(&s);
}

static void test_a_briefly_cut_node_refutes_its_suspicion(void **state)
{
	(void)state;
	struct sim s;
	sim_init(&s, 5, 3);
	run(&s, 3000);
	uint64_t inc = membership_find(&s.node[2], "n2")->incarnation;
	for (int j = 0; j < 5; j++)
		s.cut[2][j] = s.cut[j][2] = j != 2;
	uint64_t first;
	until_all_see(&s, 2, MEMBER_SUSPECT, 5000, &first);
	memset(s.cut, 0, sizeof(s.cut));
	until_all_see(&s, 2, MEMBER_ALIVE, 5000, &first);
	assert_true(membership_find(&s.node[2], "n2")->incarnation > inc);
	for (int i = 0; i < 5; i++)
		assert_int_equal(s.node[i].deaths, 0);
	sim_deinit(&s);
}

static void test_a_restarted_node_comes_back_up(void **state)
{
	(void)state;
	struct sim s;
	sim_init(&s, 5, 4);
	run(&s, 3000);
	kill_node(&s, 1);
	uint64_t first;
	until_all_see(&s, 1, MEMBER_DEAD, 15000, &first);
	start_node(&s, 1, true); /* a higher incarnation, as after a restart */
	until_all_see(&s, 1, MEMBER_ALIVE, 5000, &first);
	run(&s, 3000);
	all_alive(&s);
	sim_deinit(&s);
}

static void test_a_healed_partition_converges(void **state)
{
	(void)state;
	struct sim s;
	sim_init(&s, 5, 5);
	run(&s, 3000);
	for (int a = 0; a < 5; a++)
		for (int b = 0; b < 5; b++)
			s.cut[a][b] = (a < 2) != (b < 2);
	/* Each side declares the other down. */
	for (int t = 0; t < 3000 && !(view(&s, 0, 4) == MEMBER_DEAD && view(&s, 1, 4) == MEMBER_DEAD &&
	                             view(&s, 4, 0) == MEMBER_DEAD && view(&s, 2, 1) == MEMBER_DEAD);
	     t++)
		step(&s);
	assert_int_equal(view(&s, 0, 4), MEMBER_DEAD);
	assert_int_equal(view(&s, 4, 0), MEMBER_DEAD);
	memset(s.cut, 0, sizeof(s.cut));
	uint64_t start = s.now_ms;
	bool converged = false;
	while (!converged && s.now_ms - start < 60000) {
		step(&s);
		converged = true;
		for (int a = 0; a < 5; a++)
			for (int b = 0; b < 5; b++)
				converged &= a == b || view(&s, a, b) == MEMBER_ALIVE;
	}
	fprintf(stderr, "  a 2/3 partition healed: all up everywhere after %llu ms\n",
	        (unsigned long long)(s.now_ms - start));
	all_alive(&s);
	sim_deinit(&s);
}

static void test_a_clean_leave_is_seen_as_left(void **state)
{
	(void)state;
	struct sim s;
	sim_init(&s, 4, 6);
	run(&s, 3000);
	membership_leave(&s.node[3], s.now_ms);
	collect(&s, 3);
	s.up[3] = false;
	uint64_t first;
	until_all_see(&s, 3, MEMBER_LEFT, 2000, &first);
	sim_deinit(&s);
}

static void test_malformed_messages_are_ignored(void **state)
{
	(void)state;
	struct membership m;
	struct member_info self;
	node_info(0, &self, 1);
	assert_int_equal(membership_init(&m, &self, NULL, 1), 0);
	struct member_msg msg;
	memset(&msg, 0, sizeof(msg));
	msg.type = MEMBER_MSG_PING;
	assert_int_equal(membership_recv(&m, &msg, 0), ERR_INVALID); /* no sender */
	memset(msg.from, 'x', sizeof(msg.from));                     /* not terminated */
	assert_int_equal(membership_recv(&m, &msg, 0), ERR_INVALID);
	struct member_info bad[2];
	memset(bad, 0, sizeof(bad));
	snprintf(msg.from, sizeof(msg.from), "n9");
	snprintf(msg.from_addr, sizeof(msg.from_addr), "127.0.0.20:7000");
	memset(bad[0].name, 'y', sizeof(bad[0].name)); /* overlong name */
	bad[1].status = 99;                             /* unknown status, empty name */
	msg.updates = bad;
	msg.update_count = 2;
	msg.type = 77;
	assert_int_equal(membership_recv(&m, &msg, 0), ERR_INVALID);
	assert_int_equal(membership_count(&m), 0);
	membership_deinit(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_five_nodes_form_a_cluster_through_one_seed),
	    cmocka_unit_test(test_a_killed_node_is_detected_and_agreed_on),
	    cmocka_unit_test(test_no_false_down_over_ten_minutes_with_loss),
	    cmocka_unit_test(test_a_briefly_cut_node_refutes_its_suspicion),
	    cmocka_unit_test(test_a_restarted_node_comes_back_up),
	    cmocka_unit_test(test_a_healed_partition_converges),
	    cmocka_unit_test(test_a_clean_leave_is_seen_as_left),
	    cmocka_unit_test(test_malformed_messages_are_ignored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
