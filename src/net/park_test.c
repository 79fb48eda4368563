/*
 * park_test.c - parked-command tickets: a completion reaches an attached
 * owner through its queue, is dropped once the owner detached, races
 * between completion and detachment in either order free the ticket once
 * (ASan builds check use-after-free and leaks), and the delay timer keeps
 * its bound, completes in due order and completes what is pending when it
 * stops.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "base/err.h"
#include "net/park.h"

/* The owner side of the tests: stands for a conn and its loop. */
struct fake_loop {
	struct park_queue q;
	struct park_timer timer;
	atomic_int wakes;
	int owner; /* its address is the owner pointer */
};

static void fake_wake(void *arg)
{
	struct fake_loop *l = arg;
	atomic_fetch_add(&l->wakes, 1);
}

static void fake_init(struct fake_loop *l)
{
	memset(l, 0, sizeof(*l));
	park_queue_init(&l->q, fake_wake, l);
	park_timer_init(&l->timer);
}

/* Takes every queued ticket as a loop does: delivers to an attached owner
 * (compared with want, if any), releases. Returns how many were taken. */
static int fake_deliver(struct fake_loop *l, const char *want)
{
	int n = 0;
	for (struct park *p = park_queue_take(&l->q), *next; p; p = next, n++) {
		next = park_next(p);
		if (park_owner(p)) {
			struct bytes r = park_reply(p);
			if (want) {
				assert_int_equal(r.len, strlen(want));
				assert_memory_equal(r.ptr, want, r.len);
			}
			park_detach(p);
		}
		park_release(p);
	}
	return n;
}

static void fake_deinit(struct fake_loop *l)
{
	park_timer_deinit(&l->timer);
	fake_deliver(l, NULL);
	park_queue_deinit(&l->q);
}

static void test_park_completion_reaches_an_attached_owner(void **state)
{
	(void)state;
	struct fake_loop l;
	fake_init(&l);
	struct park *p = park_create(&l.q, &l.timer, &l.owner, 3);
	assert_non_null(p);
	assert_int_equal(park_resp_version(p), 3);
	assert_int_equal(fake_deliver(&l, NULL), 0);
	park_complete(p, "$2\r\nhi\r\n", 8);
	assert_int_equal(atomic_load(&l.wakes), 1);
	assert_int_equal(fake_deliver(&l, "$2\r\nhi\r\n"), 1);
	fake_deinit(&l);
}

static void test_park_completion_after_detach_is_dropped(void **state)
{
	(void)state;
	struct fake_loop l;
	fake_init(&l);
	struct park *p = park_create(&l.q, &l.timer, &l.owner, 2);
	park_detach(p);
	park_complete(p, "+late\r\n", 7);
	assert_int_equal(atomic_load(&l.wakes), 0);
	assert_int_equal(fake_deliver(&l, NULL), 0);
	fake_deinit(&l);
}

static void test_park_detach_while_queued_drops_the_reply(void **state)
{
	(void)state;
	struct fake_loop l;
	fake_init(&l);
	struct park *p = park_create(&l.q, &l.timer, &l.owner, 2);
	park_complete(p, "+x\r\n", 4);
	park_detach(p); /* the conn closed before its loop took the queue */
	struct park *taken = park_queue_take(&l.q);
	assert_ptr_equal(taken, p);
	assert_null(park_owner(taken));
	park_release(taken);
	fake_deinit(&l);
}

static void test_park_complete_error_encodes_one_line(void **state)
{
	(void)state;
	struct fake_loop l;
	fake_init(&l);
	struct park *p = park_create(&l.q, &l.timer, &l.owner, 2);
	park_complete_error(p, "ERR two\r\nlines");
	assert_int_equal(fake_deliver(&l, "-ERR two  lines\r\n"), 1);
	char long_msg[2000];
	memset(long_msg, 'e', sizeof(long_msg) - 1);
	long_msg[sizeof(long_msg) - 1] = '\0';
	p = park_create(&l.q, &l.timer, &l.owner, 2);
	park_complete_error(p, long_msg);
	struct park *taken = park_queue_take(&l.q);
	assert_int_equal(park_reply(taken).len, 1 + 512 + 2); /* cut at 512 bytes */
	park_detach(taken);
	park_release(taken);
	fake_deinit(&l);
}

/* One round of the race: a thread completes while the owner detaches. */
struct race {
	struct park *p;
	atomic_int go;
};

static void *race_complete(void *arg)
{
	struct race *r = arg;
	while (!atomic_load(&r->go))
		;
	park_complete(r->p, "+raced\r\n", 8);
	return NULL;
}

static void test_park_complete_races_detach_without_double_free(void **state)
{
	(void)state;
	struct fake_loop l;
	fake_init(&l);
	int delivered = 0;
	for (int i = 0; i < 2000; i++) {
		struct race r = {.p = park_create(&l.q, &l.timer, &l.owner, 2)};
		struct env_thread t;
		assert_int_equal(env_thread_start(&t, "park-race", race_complete, &r), 0);
		atomic_store(&r.go, 1);
		for (int spin = 0; spin < i % 64; spin++)
			__asm__ volatile("" ::: "memory");
		if (i % 2) {
			park_detach(r.p); /* the conn closes */
		} else {
			/* The loop delivers whatever has arrived, else the conn closes. */
			int n = fake_deliver(&l, "+raced\r\n");
			delivered += n;
			if (n == 0)
				park_detach(r.p);
		}
		env_thread_join(&t);
		fake_deliver(&l, "+raced\r\n"); /* a completion that came after the take */
	}
	assert_true(delivered <= 1000);
	fake_deinit(&l);
}

static void test_park_timer_completes_in_due_order(void **state)
{
	(void)state;
	struct fake_loop l;
	fake_init(&l);
	struct park *slow = park_create(&l.q, &l.timer, &l.owner, 2);
	struct park *fast = park_create(&l.q, &l.timer, &l.owner, 2);
	assert_int_equal(park_complete_later(slow, 100, "+slow\r\n", 7), 0);
	assert_int_equal(park_complete_later(fast, 10, "+fast\r\n", 7), 0);
	uint64_t start = env_mono_ns();
	struct park *got[2];
	int n = 0;
	while (n < 2 && env_mono_ns() - start < 5000000000ull)
		for (struct park *p = park_queue_take(&l.q); p; p = park_next(p))
			got[n++] = p;
	assert_int_equal(n, 2);
	assert_ptr_equal(got[0], fast);
	assert_ptr_equal(got[1], slow);
	assert_true(env_mono_ns() - start >= 90000000ull);
	for (int i = 0; i < 2; i++) {
		park_detach(got[i]);
		park_release(got[i]);
	}
	fake_deinit(&l);
}

static void test_park_timer_refuses_past_its_bound_and_purges_detached(void **state)
{
	(void)state;
	struct fake_loop l;
	fake_init(&l);
	struct park *ps[PARK_TIMER_PENDING_MAX];
	for (int i = 0; i < PARK_TIMER_PENDING_MAX; i++) {
		ps[i] = park_create(&l.q, &l.timer, &l.owner, 2);
		assert_int_equal(park_complete_later(ps[i], 60000, "+z\r\n", 4), 0);
	}
	struct park *extra = park_create(&l.q, &l.timer, &l.owner, 2);
	assert_int_equal(park_complete_later(extra, 0, "+z\r\n", 4), ERR_LIMIT);
	/* One owner goes away: its entry no longer holds a place. */
	park_detach(ps[0]);
	assert_int_equal(park_complete_later(extra, 0, "+z\r\n", 4), 0);
	for (int i = 1; i < PARK_TIMER_PENDING_MAX; i++)
		park_detach(ps[i]);
	/* Stopping completes the pending rest (dropped: detached). */
	park_timer_deinit(&l.timer);
	assert_int_equal(fake_deliver(&l, "+z\r\n"), 1); /* extra, still attached */
	park_queue_deinit(&l.q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_park_completion_reaches_an_attached_owner),
	    cmocka_unit_test(test_park_completion_after_detach_is_dropped),
	    cmocka_unit_test(test_park_detach_while_queued_drops_the_reply),
	    cmocka_unit_test(test_park_complete_error_encodes_one_line),
	    cmocka_unit_test(test_park_complete_races_detach_without_double_free),
	    cmocka_unit_test(test_park_timer_completes_in_due_order),
	    cmocka_unit_test(test_park_timer_refuses_past_its_bound_and_purges_detached),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
