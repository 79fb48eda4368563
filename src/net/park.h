/*
 * park.h - tickets of parked commands (the public half is in cmd/cmd.h),
 * each loop's queue of completed tickets, and the timer thread behind
 * park_complete_later.
 *
 * A ticket is shared by two parties that may act in either order, on any
 * threads: the owner (a connection, on its loop thread) and the completer
 * (whoever calls park_complete, exactly once). Each holds one reference;
 * the ticket is freed when both have let go.
 *
 * States of a ticket, under its mutex:
 *   parked     attached, not completed   (park_create)
 *   queued     attached, completed       (park_complete: pushed on the
 *                                          owner's queue, which now holds
 *                                          the completer's reference)
 *   detached   not attached              (park_detach: the owner closed,
 *                                          or took its reply); a later
 *                                          park_complete drops the reply.
 * The completer reaches the owner's queue only while the ticket is
 * attached, and the owner detaches under the same mutex before its loop
 * and queue go away; so a completion may arrive at any time, even after the
 * network layer is destroyed, without touching freed memory.
 *
 * Threads: park_create, park_detach, park_owner and park_queue_take belong
 * to the owner's loop thread; park_complete* to any thread; a park_queue's
 * push side to any thread.
 */
#ifndef RINGKV_NET_PARK_H
#define RINGKV_NET_PARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "cmd/cmd.h"
#include "env/env.h"

/* Delayed completions waiting in one park_timer: DEBUG PARK's bound on
 * sleeping tickets (each holds a copy of its reply). */
#define PARK_TIMER_PENDING_MAX 1024

/* Completed tickets of one loop, pushed from any thread and taken by the
 * loop when wake() (its eventfd) fires. Its length is bounded by the
 * loop's parked connections: an attached ticket is pushed at most once. */
struct park_queue {
	struct env_mutex mu;
	struct park *head, *tail;
	void (*wake)(void *arg); /* called after a push; must not block */
	void *wake_arg;
};

struct park_delayed;

/* A thread that completes tickets after a delay (park_complete_later),
 * started on first use. */
struct park_timer {
	struct env_mutex mu;
	struct env_cond cv;
	struct env_thread thread;
	struct park_delayed *head; /* by due time, earliest first */
	size_t count;
	bool started;
	bool stopping;
};

void park_queue_init(struct park_queue *q, void (*wake)(void *arg), void *wake_arg);
/* Requires an empty queue (park_queue_take after every owner detached). */
void park_queue_deinit(struct park_queue *q);

/* Takes every completed ticket (linked by park_next), oldest first; for
 * each the caller delivers the reply if park_owner is still set, then calls
 * park_release. */
struct park *park_queue_take(struct park_queue *q);
struct park *park_next(const struct park *p);

/* A parked ticket for owner, whose completion goes to q; resp_version is
 * the client's protocol at park time. NULL when out of memory. */
struct park *park_create(struct park_queue *q, struct park_timer *timer, void *owner,
                         int resp_version);

/* The owner, or NULL once detached. Owner's thread only. */
void *park_owner(const struct park *p);

/* The completed reply, valid until the taker's park_release. */
struct bytes park_reply(const struct park *p);

/* The owner lets go: after this a completion is dropped. Drops the owner's
 * reference (p may be freed). Owner's thread only. */
void park_detach(struct park *p);

/* Drops the reference that park_queue_take handed over. */
void park_release(struct park *p);

void park_timer_init(struct park_timer *t);
/* Stops the thread and completes every pending ticket at once (whose
 * owners, at shutdown, have detached: the replies are dropped). */
void park_timer_deinit(struct park_timer *t);

#endif
