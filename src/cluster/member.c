/*
 * member.c - SWIM membership as a state machine; see member.h.
 */
#include "cluster/member.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"

struct member_rec {
	struct member_info info;
	uint64_t since_ms;       /* when the status last changed */
	unsigned transmits_left; /* piggyback budget of the latest change */
};

/* A probe: ours (the interval's ping), or one we relay for a PING_REQ. */
struct member_probe {
	char target[MEMBER_NAME_BYTES];
	uint64_t seq;
	uint64_t sent_ms;
	bool acked, indirect_sent;
	char requester_addr[MEMBER_ADDR_BYTES]; /* relays: whom to tell */
	uint64_t requester_seq;
};

#define RELAYS_MAX 64

static const struct member_config defaults = {
    .probe_interval_ms = 500,
    .probe_timeout_ms = 200,
    .suspect_timeout_ms = 0,
    .sync_interval_ms = 10000,
    .indirect = 3,
    .retransmit_mult = 4,
};

const char *member_status_name(enum member_status s)
{
	switch (s) {
	case MEMBER_ALIVE:
		return "up";
	case MEMBER_SUSPECT:
		return "suspect";
	case MEMBER_DEAD:
		return "down";
	case MEMBER_LEFT:
		return "left";
	}
	return "?";
}

static bool valid_text(const char *s, size_t cap, bool may_be_empty)
{
	size_t n = strnlen(s, cap);
	return n < cap && (may_be_empty || n > 0);
}

static bool valid_info(const struct member_info *i)
{
	return valid_text(i->name, sizeof(i->name), false) &&
	    valid_text(i->addr, sizeof(i->addr), false) &&
	    valid_text(i->zone, sizeof(i->zone), true) && i->status <= MEMBER_LEFT;
}

int membership_init(struct membership *m, const struct member_info *self,
                    const struct member_config *cfg, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	if (!valid_info(self))
		return ERR_INVALID;
	m->cfg = cfg ? *cfg : defaults;
	if (!m->cfg.probe_interval_ms)
		m->cfg.probe_interval_ms = defaults.probe_interval_ms;
	if (!m->cfg.probe_timeout_ms)
		m->cfg.probe_timeout_ms = defaults.probe_timeout_ms;
	if (!m->cfg.sync_interval_ms)
		m->cfg.sync_interval_ms = defaults.sync_interval_ms;
	if (!m->cfg.indirect)
		m->cfg.indirect = defaults.indirect;
	if (!m->cfg.retransmit_mult)
		m->cfg.retransmit_mult = defaults.retransmit_mult;
	m->self = *self;
	m->self.status = MEMBER_ALIVE;
	m->recs = calloc(MEMBERS_MAX, sizeof(*m->recs));
	m->order = calloc(MEMBERS_MAX, sizeof(*m->order));
	m->probe = calloc(1, sizeof(*m->probe));
	m->relays = calloc(RELAYS_MAX, sizeof(*m->relays));
	if (!m->recs || !m->order || !m->probe || !m->relays) {
		membership_deinit(m);
		return ERR_NOMEM;
	}
	m->probe->seq = 0; /* no probe in flight */
	env_rng_seed(&m->rng, seed);
	return 0;
}

void membership_clear_out(struct membership *m)
{
	for (size_t i = 0; i < m->out_count; i++)
		free(m->outbox[i].updates);
	m->out_count = 0;
	m->event_count = 0;
}

void membership_deinit(struct membership *m)
{
	membership_clear_out(m);
	free(m->outbox);
	free(m->events);
	free(m->recs);
	free(m->order);
	free(m->probe);
	free(m->relays);
	memset(m, 0, sizeof(*m));
}

/* ---- Lookups and budgets ------------------------------------------------ */

static struct member_rec *find(struct membership *m, const char *name)
{
	for (size_t i = 0; i < m->count; i++)
		if (strcmp(m->recs[i].info.name, name) == 0)
			return &m->recs[i];
	return NULL;
}

const struct member_info *membership_find(const struct membership *m, const char *name)
{
	if (strcmp(m->self.name, name) == 0)
		return &m->self;
	struct member_rec *r = find((struct membership *)m, name);
	return r ? &r->info : NULL;
}

size_t membership_count(const struct membership *m)
{
	return m->count;
}

const struct member_info *membership_at(const struct membership *m, size_t i)
{
	return i < m->count ? &m->recs[i].info : NULL;
}

static unsigned log2_ceil(size_t n)
{
	unsigned l = 0;
	while (((size_t)1 << l) < n)
		l++;
	return l;
}

/* How many times a change is piggybacked: mult x log2(n + 1). */
static unsigned budget(const struct membership *m)
{
	unsigned l = log2_ceil(m->count + 2);
	return m->cfg.retransmit_mult * (l ? l : 1);
}

static uint64_t suspect_timeout(const struct membership *m)
{
	if (m->cfg.suspect_timeout_ms)
		return m->cfg.suspect_timeout_ms;
	unsigned l = log2_ceil(m->count + 2);
	uint64_t t = 3 * m->cfg.probe_interval_ms * (l ? l : 1);
	return t < 2000 ? 2000 : t;
}

static int rank(enum member_status s)
{
	return (int)s; /* ALIVE < SUSPECT < DEAD < LEFT */
}

/* ---- Output ------------------------------------------------------------- */

static int event(struct membership *m, const char *name, enum member_status st, bool joined)
{
	if (m->event_count == m->event_cap) {
		size_t cap = m->event_cap ? 2 * m->event_cap : 16;
		struct member_event *e = realloc(m->events, cap * sizeof(*e));
		if (!e)
			return ERR_NOMEM;
		m->events = e;
		m->event_cap = cap;
	}
	struct member_event *e = &m->events[m->event_count++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->status = st;
	e->joined = joined;
	return 0;
}

/* Picks the changes still to be spread, most recent budget first. */
static size_t piggyback(struct membership *m, struct member_info *out, size_t cap,
                        unsigned *self_left)
{
	size_t n = 0;
	if (*self_left && n < cap) {
		out[n++] = m->self;
		(*self_left)--;
	}
	while (n < cap) {
		struct member_rec *best = NULL;
		for (size_t i = 0; i < m->count; i++) {
			struct member_rec *r = &m->recs[i];
			if (r->transmits_left && (!best || r->transmits_left > best->transmits_left)) {
				bool taken = false;
				for (size_t j = 0; j < n; j++)
					taken |= strcmp(out[j].name, r->info.name) == 0;
				if (!taken)
					best = r;
			}
		}
		if (!best)
			break;
		out[n++] = best->info;
		best->transmits_left--;
	}
	return n;
}

/* Queues a message to addr; with all, carries every member (SYNC). */
static int send(struct membership *m, enum member_msg_type type, const char *addr, uint64_t seq,
                const char *target, const char *target_addr, bool all)
{
	if (m->out_count == m->out_cap) {
		size_t cap = m->out_cap ? 2 * m->out_cap : 16;
		struct member_msg *o = realloc(m->outbox, cap * sizeof(*o));
		if (!o)
			return ERR_NOMEM;
		m->outbox = o;
		m->out_cap = cap;
	}
	size_t cap = all ? m->count + 1 : MEMBER_PIGGYBACK_MAX;
	struct member_info *u = malloc(cap * sizeof(*u));
	if (!u)
		return ERR_NOMEM;
	struct member_msg *msg = &m->outbox[m->out_count++];
	memset(msg, 0, sizeof(*msg));
	msg->type = type;
	snprintf(msg->to_addr, sizeof(msg->to_addr), "%s", addr);
	snprintf(msg->from, sizeof(msg->from), "%s", m->self.name);
	snprintf(msg->from_addr, sizeof(msg->from_addr), "%s", m->self.addr);
	msg->seq = seq;
	if (target)
		snprintf(msg->target, sizeof(msg->target), "%s", target);
	if (target_addr)
		snprintf(msg->target_addr, sizeof(msg->target_addr), "%s", target_addr);
	msg->updates = u;
	if (all) {
		u[0] = m->self;
		for (size_t i = 0; i < m->count; i++)
			u[i + 1] = m->recs[i].info;
		msg->update_count = m->count + 1;
	} else {
		msg->update_count = piggyback(m, u, cap, &m->self_transmits_left);
	}
	return 0;
}

/* ---- State changes ------------------------------------------------------ */

static void set_status(struct membership *m, struct member_rec *r, enum member_status st,
                       uint64_t now_ms)
{
	bool changed = r->info.status != st;
	r->info.status = st;
	r->since_ms = now_ms;
	r->transmits_left = budget(m);
	if (changed)
		(void)event(m, r->info.name, st, false);
}

static void refute(struct membership *m, uint64_t incarnation)
{
	if (incarnation >= m->self.incarnation)
		m->self.incarnation = incarnation + 1;
	m->self_transmits_left = budget(m);
	m->refutations++;
}

/* Merges what another member says about someone (SWIM's precedence). */
static void apply_update(struct membership *m, const struct member_info *u, uint64_t now_ms)
{
	if (!valid_info(u))
		return;
	if (strcmp(u->name, m->self.name) == 0) {
		if ((u->status == MEMBER_SUSPECT || u->status == MEMBER_DEAD) &&
		    u->incarnation >= m->self.incarnation)
			refute(m, u->incarnation);
		return;
	}
	struct member_rec *r = find(m, u->name);
	if (!r) {
		if (m->count == MEMBERS_MAX)
			return;
		r = &m->recs[m->count];
		r->info = *u;
		r->since_ms = now_ms;
		m->order[m->order_len++] = (uint32_t)m->count;
		m->count++;
		r->transmits_left = budget(m);
		(void)event(m, u->name, u->status, true);
		return;
	}
	bool newer = u->incarnation > r->info.incarnation ||
	    (u->incarnation == r->info.incarnation && rank(u->status) > rank(r->info.status));
	if (!newer)
		return;
	snprintf(r->info.addr, sizeof(r->info.addr), "%s", u->addr);
	snprintf(r->info.zone, sizeof(r->info.zone), "%s", u->zone);
	r->info.weight = u->weight;
	r->info.incarnation = u->incarnation;
	if (u->status == MEMBER_DEAD && r->info.status != MEMBER_DEAD)
		m->deaths++;
	set_status(m, r, u->status, now_ms);
}

static void apply_updates(struct membership *m, const struct member_msg *msg, uint64_t now_ms)
{
	size_t n = msg->update_count;
	if (msg->type != MEMBER_MSG_SYNC && msg->type != MEMBER_MSG_SYNC_REPLY &&
	    n > MEMBER_PIGGYBACK_MAX)
		n = MEMBER_PIGGYBACK_MAX;
	if (n > MEMBERS_MAX + 1)
		n = MEMBERS_MAX + 1;
	for (size_t i = 0; i < n && msg->updates; i++)
		apply_update(m, &msg->updates[i], now_ms);
}

/* ---- Probing -------------------------------------------------------------- */

static bool probe_candidate(const struct member_rec *r)
{
	return r->info.status == MEMBER_ALIVE || r->info.status == MEMBER_SUSPECT;
}

/* The next member to probe in a round robin reshuffled at each round. */
static struct member_rec *next_target(struct membership *m)
{
	for (size_t tries = 0; tries < 2 * m->order_len + 1; tries++) {
		if (m->order_pos >= m->order_len) {
			m->order_pos = 0;
			for (size_t i = m->order_len; i > 1; i--) { /* Fisher-Yates */
				size_t j = (size_t)(env_rng_next(&m->rng) % i);
				uint32_t t = m->order[i - 1];
				m->order[i - 1] = m->order[j];
				m->order[j] = t;
			}
		}
		if (m->order_len == 0)
			return NULL;
		struct member_rec *r = &m->recs[m->order[m->order_pos++]];
		if (probe_candidate(r))
			return r;
	}
	return NULL;
}

static void indirect_probe(struct membership *m, struct member_rec *target)
{
	size_t live[MEMBERS_MAX], n = 0;
	for (size_t i = 0; i < m->count; i++)
		if (m->recs[i].info.status == MEMBER_ALIVE && &m->recs[i] != target)
			live[n++] = i;
	for (unsigned k = 0; k < m->cfg.indirect && n > 0; k++) {
		size_t j = (size_t)(env_rng_next(&m->rng) % n);
		struct member_rec *via = &m->recs[live[j]];
		live[j] = live[--n];
		(void)send(m, MEMBER_MSG_PING_REQ, via->info.addr, m->probe->seq, target->info.name,
		           target->info.addr, false);
		m->indirect_probes++;
	}
}

static void suspect(struct membership *m, struct member_rec *r, uint64_t now_ms)
{
	if (r->info.status != MEMBER_ALIVE)
		return;
	m->suspicions++;
	set_status(m, r, MEMBER_SUSPECT, now_ms);
}

static void tick_probe(struct membership *m, uint64_t now_ms)
{
	struct member_probe *p = m->probe;
	if (p->seq) {
		struct member_rec *t = find(m, p->target);
		if (!p->acked && t && !p->indirect_sent &&
		    now_ms >= p->sent_ms + m->cfg.probe_timeout_ms) {
			p->indirect_sent = true;
			indirect_probe(m, t);
		}
		if (now_ms < p->sent_ms + m->cfg.probe_interval_ms)
			return;
		if (!p->acked && t)
			suspect(m, t, now_ms);
		p->seq = 0;
	}
	if (now_ms < m->next_probe_ms)
		return;
	m->next_probe_ms = now_ms + m->cfg.probe_interval_ms;
	struct member_rec *t = next_target(m);
	if (!t)
		return;
	memset(p, 0, sizeof(*p));
	snprintf(p->target, sizeof(p->target), "%s", t->info.name);
	p->seq = ++m->seq;
	p->sent_ms = now_ms;
	(void)send(m, MEMBER_MSG_PING, t->info.addr, p->seq, NULL, NULL, false);
	m->pings_sent++;
}

int membership_tick(struct membership *m, uint64_t now_ms)
{
	tick_probe(m, now_ms);
	uint64_t timeout = suspect_timeout(m);
	for (size_t i = 0; i < m->count; i++) {
		struct member_rec *r = &m->recs[i];
		if (r->info.status == MEMBER_SUSPECT && now_ms >= r->since_ms + timeout) {
			m->deaths++;
			set_status(m, r, MEMBER_DEAD, now_ms);
		}
	}
	for (size_t i = 0; i < m->relay_count;) /* relays live one interval */
		if (now_ms >= m->relays[i].sent_ms + m->cfg.probe_interval_ms)
			m->relays[i] = m->relays[--m->relay_count];
		else
			i++;
	if (now_ms >= m->next_sync_ms) {
		m->next_sync_ms = now_ms + m->cfg.sync_interval_ms;
		/* Mostly with a live member; one time in three with a dead one,
		 * so that two sides of a healed partition find each other again
		 * (the dead one learns it was declared dead and refutes it). */
		size_t live[MEMBERS_MAX], dead[MEMBERS_MAX], n = 0, nd = 0;
		for (size_t i = 0; i < m->count; i++) {
			if (m->recs[i].info.status == MEMBER_ALIVE)
				live[n++] = i;
			else if (m->recs[i].info.status == MEMBER_DEAD)
				dead[nd++] = i;
		}
		uint64_t r = env_rng_next(&m->rng);
		struct member_rec *to = NULL;
		if (nd && (n == 0 || r % 3 == 0))
			to = &m->recs[dead[(r / 3) % nd]];
		else if (n)
			to = &m->recs[live[(r / 3) % n]];
		if (to)
			(void)send(m, MEMBER_MSG_SYNC, to->info.addr, 0, NULL, NULL, true);
	}
	return 0;
}

int membership_join(struct membership *m, const char *seed_addr, uint64_t now_ms)
{
	(void)now_ms;
	if (!valid_text(seed_addr, MEMBER_ADDR_BYTES, false))
		return ERR_INVALID;
	return send(m, MEMBER_MSG_SYNC, seed_addr, 0, NULL, NULL, true);
}

int membership_leave(struct membership *m, uint64_t now_ms)
{
	(void)now_ms;
	m->self.status = MEMBER_LEFT;
	m->self_transmits_left = budget(m);
	for (size_t i = 0; i < m->count; i++)
		if (probe_candidate(&m->recs[i]))
			(void)send(m, MEMBER_MSG_SYNC, m->recs[i].info.addr, 0, NULL, NULL, true);
	return 0;
}

int membership_recv(struct membership *m, const struct member_msg *msg, uint64_t now_ms)
{
	if (!valid_text(msg->from, sizeof(msg->from), false) ||
	    !valid_text(msg->from_addr, sizeof(msg->from_addr), false))
		return ERR_INVALID;
	apply_updates(m, msg, now_ms);
	switch (msg->type) {
	case MEMBER_MSG_PING:
		return send(m, MEMBER_MSG_ACK, msg->from_addr, msg->seq, NULL, NULL, false);
	case MEMBER_MSG_ACK:
		if (m->probe->seq && msg->seq == m->probe->seq) {
			m->probe->acked = true;
			m->acks_received++;
			return 0;
		}
		for (size_t i = 0; i < m->relay_count; i++) {
			struct member_probe *r = &m->relays[i];
			if (r->seq == msg->seq) { /* relay the ack to whoever asked */
				int err = send(m, MEMBER_MSG_ACK, r->requester_addr, r->requester_seq,
				               NULL, NULL, false);
				m->relays[i] = m->relays[--m->relay_count];
				return err;
			}
		}
		return 0;
	case MEMBER_MSG_PING_REQ: {
		if (!valid_text(msg->target_addr, sizeof(msg->target_addr), false) ||
		    m->relay_count == RELAYS_MAX)
			return 0;
		struct member_probe *r = &m->relays[m->relay_count++];
		memset(r, 0, sizeof(*r));
		snprintf(r->target, sizeof(r->target), "%.*s", (int)sizeof(r->target) - 1,
		         msg->target);
		r->seq = ++m->seq;
		r->sent_ms = now_ms;
		snprintf(r->requester_addr, sizeof(r->requester_addr), "%s", msg->from_addr);
		r->requester_seq = msg->seq;
		return send(m, MEMBER_MSG_PING, msg->target_addr, r->seq, NULL, NULL, false);
	}
	case MEMBER_MSG_SYNC:
		return send(m, MEMBER_MSG_SYNC_REPLY, msg->from_addr, 0, NULL, NULL, true);
	case MEMBER_MSG_SYNC_REPLY:
		return 0;
	}
	return ERR_INVALID;
}
