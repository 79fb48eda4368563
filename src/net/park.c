/*
 * park.c - parked-command tickets, completion queues and the delay timer;
 * see park.h for the states and the threads, cmd/cmd.h for the contract.
 */
#include "net/park.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"

/* The reply a completion leaves when its copy cannot be allocated: the
 * client still gets an answer, and its later input still runs. */
static const char NOMEM_REPLY[] = "-ERR out of memory while completing a parked command\r\n";

/* Longest message park_complete_error sends (as resp_w_errorf). */
#define PARK_ERROR_BYTES_MAX 512

struct park {
	struct env_mutex mu; /* guards attached, completed and the push */
	atomic_int refs;     /* the owner's and the completer's */
	bool attached;
	bool completed;
	int resp_version;
	struct park_queue *q;
	struct park_timer *timer;
	void *owner;    /* owner's thread only; NULL once detached */
	uint8_t *reply; /* set by park_complete; NULL: reply_static */
	const uint8_t *reply_static;
	size_t reply_len;
	struct park *next; /* on the queue */
};

struct park_delayed {
	struct park_delayed *next;
	uint64_t due_ns; /* env_mono_ns */
	struct park *p;
	size_t len;
	uint8_t bytes[];
};

/* ---- Tickets ------------------------------------------------------------- */

struct park *park_create(struct park_queue *q, struct park_timer *timer, void *owner,
                         int resp_version)
{
	ASSERT(owner);
	struct park *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	env_mutex_init(&p->mu);
	atomic_init(&p->refs, 2);
	p->attached = true;
	p->resp_version = resp_version;
	p->q = q;
	p->timer = timer;
	p->owner = owner;
	return p;
}

static void park_unref(struct park *p)
{
	int before = atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel);
	ASSERT(before >= 1);
	if (before > 1)
		return;
	env_mutex_deinit(&p->mu);
	free(p->reply);
	free(p);
}

int park_resp_version(const struct park *p)
{
	return p->resp_version;
}

void *park_owner(const struct park *p)
{
	return p->owner;
}

struct bytes park_reply(const struct park *p)
{
	ASSERT(p->completed);
	const uint8_t *ptr = p->reply ? p->reply : p->reply_static;
	return (struct bytes){ptr, p->reply_len};
}

struct park *park_next(const struct park *p)
{
	return p->next;
}

void park_detach(struct park *p)
{
	env_mutex_lock(&p->mu);
	ASSERT(p->attached);
	p->attached = false;
	p->owner = NULL;
	env_mutex_unlock(&p->mu);
	park_unref(p);
}

void park_release(struct park *p)
{
	park_unref(p);
}

/* Appends p to q and wakes its loop. Called with p->mu held, which keeps
 * the owner (and with it the loop and q) from going away meanwhile. */
static void queue_push(struct park_queue *q, struct park *p)
{
	p->next = NULL;
	env_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = p;
	else
		q->head = p;
	q->tail = p;
	env_mutex_unlock(&q->mu);
	q->wake(q->wake_arg);
}

void park_complete(struct park *p, const void *resp, size_t len)
{
	/* Copy before locking: the owner's loop never waits on an allocation. */
	uint8_t *copy = malloc(len ? len : 1);
	if (copy)
		memcpy(copy, resp, len);
	env_mutex_lock(&p->mu);
	ASSERT(!p->completed);
	p->completed = true;
	bool queued = p->attached;
	if (queued) {
		p->reply = copy;
		p->reply_len = copy ? len : sizeof(NOMEM_REPLY) - 1;
		p->reply_static = copy ? NULL : (const uint8_t *)NOMEM_REPLY;
		queue_push(p->q, p); /* the queue now holds our reference */
	}
	env_mutex_unlock(&p->mu);
	if (!queued) {
		free(copy);
		park_unref(p);
	}
}

void park_complete_error(struct park *p, const char *msg)
{
	char line[PARK_ERROR_BYTES_MAX + 3];
	size_t n = strlen(msg);
	if (n > PARK_ERROR_BYTES_MAX)
		n = PARK_ERROR_BYTES_MAX;
	line[0] = '-';
	for (size_t i = 0; i < n; i++)
		line[1 + i] = (msg[i] == '\r' || msg[i] == '\n') ? ' ' : msg[i];
	line[n + 1] = '\r';
	line[n + 2] = '\n';
	park_complete(p, line, n + 3);
}

/* ---- Queues -------------------------------------------------------------- */

void park_queue_init(struct park_queue *q, void (*wake)(void *arg), void *wake_arg)
{
	env_mutex_init(&q->mu);
	q->head = q->tail = NULL;
	q->wake = wake;
	q->wake_arg = wake_arg;
}

void park_queue_deinit(struct park_queue *q)
{
	ASSERT(q->head == NULL);
	env_mutex_deinit(&q->mu);
}

struct park *park_queue_take(struct park_queue *q)
{
	env_mutex_lock(&q->mu);
	struct park *list = q->head;
	q->head = q->tail = NULL;
	env_mutex_unlock(&q->mu);
	return list;
}

/* ---- Timer --------------------------------------------------------------- */

void park_timer_init(struct park_timer *t)
{
	memset(t, 0, sizeof(*t));
	env_mutex_init(&t->mu);
	env_cond_init(&t->cv);
}

/* Removes and returns the first entry if it is due (or stopping), else
 * NULL with *wait_ms set to the time until it is. */
static struct park_delayed *timer_pop_due_locked(struct park_timer *t, uint64_t now_ns,
                                                 uint64_t *wait_ms)
{
	struct park_delayed *d = t->head;
	*wait_ms = 1000;
	if (!d)
		return NULL;
	if (d->due_ns > now_ns && !t->stopping) {
		*wait_ms = (d->due_ns - now_ns + 999999) / 1000000;
		return NULL;
	}
	t->head = d->next;
	t->count--;
	return d;
}

static void *timer_main(void *arg)
{
	struct park_timer *t = arg;
	env_mutex_lock(&t->mu);
	while (!t->stopping) {
		uint64_t wait_ms;
		struct park_delayed *d = timer_pop_due_locked(t, env_mono_ns(), &wait_ms);
		if (!d) {
			env_cond_timedwait_ms(&t->cv, &t->mu, wait_ms);
			continue;
		}
		env_mutex_unlock(&t->mu);
		park_complete(d->p, d->bytes, d->len);
		free(d);
		env_mutex_lock(&t->mu);
	}
	env_mutex_unlock(&t->mu);
	return NULL;
}

/* Inserts d in due order. Bounded by PARK_TIMER_PENDING_MAX entries. */
static void timer_insert_locked(struct park_timer *t, struct park_delayed *d)
{
	struct park_delayed **at = &t->head;
	while (*at && (*at)->due_ns <= d->due_ns)
		at = &(*at)->next;
	d->next = *at;
	*at = d;
	t->count++;
}

static bool park_detached(struct park *p)
{
	env_mutex_lock(&p->mu);
	bool detached = !p->attached;
	env_mutex_unlock(&p->mu);
	return detached;
}

/* Unlinks the entries whose owners have gone (killed, disconnected): they
 * would hold their place until due, up to a minute, for nobody. Returns
 * them for the caller to complete (drop) outside the lock. Bounded by
 * PARK_TIMER_PENDING_MAX entries. Lock order: timer, then ticket. */
static struct park_delayed *timer_unlink_detached_locked(struct park_timer *t)
{
	struct park_delayed *gone = NULL;
	struct park_delayed **at = &t->head;
	while (*at) {
		struct park_delayed *d = *at;
		if (park_detached(d->p)) {
			*at = d->next;
			d->next = gone;
			gone = d;
			t->count--;
		} else {
			at = &d->next;
		}
	}
	return gone;
}

int park_complete_later(struct park *p, uint32_t delay_ms, const void *resp, size_t len)
{
	struct park_timer *t = p->timer;
	struct park_delayed *d = malloc(sizeof(*d) + len);
	if (!d)
		return ERR_NOMEM;
	d->p = p;
	d->len = len;
	memcpy(d->bytes, resp, len);
	d->due_ns = env_mono_ns() + (uint64_t)delay_ms * 1000000u;
	int rc = 0;
	struct park_delayed *gone = NULL;
	env_mutex_lock(&t->mu);
	if (t->count >= PARK_TIMER_PENDING_MAX)
		gone = timer_unlink_detached_locked(t);
	if (t->stopping || t->count >= PARK_TIMER_PENDING_MAX)
		rc = ERR_LIMIT;
	else if (!t->started && env_thread_start(&t->thread, "ringkv-park", timer_main, t) != 0)
		rc = ERR_NOMEM;
	if (rc == 0) {
		t->started = true;
		timer_insert_locked(t, d);
		env_cond_signal(&t->cv);
	}
	env_mutex_unlock(&t->mu);
	if (rc != 0)
		free(d);
	while (gone) {
		struct park_delayed *g = gone;
		gone = g->next;
		park_complete(g->p, g->bytes, g->len); /* detached: only frees */
		free(g);
	}
	return rc;
}

void park_timer_deinit(struct park_timer *t)
{
	env_mutex_lock(&t->mu);
	t->stopping = true;
	env_cond_broadcast(&t->cv);
	bool started = t->started;
	env_mutex_unlock(&t->mu);
	if (started)
		env_thread_join(&t->thread);
	/* Each pending ticket is owed exactly one completion: give it now. */
	while (t->head) {
		struct park_delayed *d = t->head;
		t->head = d->next;
		park_complete(d->p, d->bytes, d->len);
		free(d);
	}
	t->count = 0;
	env_cond_deinit(&t->cv);
	env_mutex_deinit(&t->mu);
}
