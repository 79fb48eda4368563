/*
 * member.h - cluster membership and failure detection, as a state machine
 * without I/O (SWIM, Das et al. 2002, with Lifeguard-style refutation).
 *
 * Each node runs one struct membership. The I/O shell feeds it received
 * messages (membership_recv) and timer ticks (membership_tick), both with
 * the current monotonic time, and sends the messages it leaves in the
 * outbox; nothing here reads a clock, a socket or a random source other
 * than the seeded PRNG it is given, so a simulator can drive many nodes
 * deterministically (member_test.c does).
 *
 * Protocol. Every probe interval a node pings the next member of a
 * shuffled round-robin order. No ack within the probe timeout: it asks
 * `indirect` other members to ping the target for it (PING_REQ), and they
 * relay the ack. No ack by the end of the interval: the target becomes
 * SUSPECT; a suspect not refuted within the suspicion timeout becomes
 * DEAD. A member that hears it is suspected refutes it by raising its
 * incarnation and announcing itself ALIVE. State changes travel piggybacked
 * on pings and acks (each update is sent a bounded number of times, about
 * log2 of the cluster size, times a factor), and a full state exchange
 * (SYNC) runs on join and every sync interval, so that members converge
 * even after a partition.
 *
 * Precedence of updates about one member (SWIM's): a higher incarnation
 * wins; at equal incarnation DEAD > SUSPECT > ALIVE; LEFT (a clean leave)
 * is final for that incarnation. A node that restarts comes back with an
 * incarnation above any it had (the shell persists it, or uses the clock),
 * so its ALIVE overrides the DEAD the others hold.
 */
#ifndef RINGKV_CLUSTER_MEMBER_H
#define RINGKV_CLUSTER_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env/env.h"

#define MEMBER_NAME_BYTES 64 /* node names, with the NUL */
#define MEMBER_ADDR_BYTES 64 /* "host:port" of the internode listener */
#define MEMBER_ZONE_BYTES 32
#define MEMBERS_MAX       256
/* Updates piggybacked on one message. */
#define MEMBER_PIGGYBACK_MAX 8

enum member_status {
	MEMBER_ALIVE = 0,
	MEMBER_SUSPECT = 1,
	MEMBER_DEAD = 2,
	MEMBER_LEFT = 3,
};

/* What is known of one member, and what gossip carries. */
struct member_info {
	char name[MEMBER_NAME_BYTES];
	char addr[MEMBER_ADDR_BYTES];
	char zone[MEMBER_ZONE_BYTES];
	uint32_t weight;
	uint64_t incarnation;
	enum member_status status;
};

enum member_msg_type {
	MEMBER_MSG_PING = 1,
	MEMBER_MSG_ACK = 2,
	MEMBER_MSG_PING_REQ = 3, /* ping target for me */
	MEMBER_MSG_SYNC = 4,     /* full state; answered by SYNC_REPLY */
	MEMBER_MSG_SYNC_REPLY = 5,
};

/* One message, in or out. Which fields matter depends on type. The
 * updates are piggybacked member states (at most MEMBER_PIGGYBACK_MAX), or
 * every member for SYNC and SYNC_REPLY; an outgoing message owns its array
 * (freed by membership_clear_out), an incoming one is the caller's. */
struct member_msg {
	enum member_msg_type type;
	char to_addr[MEMBER_ADDR_BYTES];   /* out: where to send it */
	char from[MEMBER_NAME_BYTES];      /* the sender's name */
	char from_addr[MEMBER_ADDR_BYTES]; /* where to answer */
	uint64_t seq;                      /* PING, ACK, PING_REQ */
	char target[MEMBER_NAME_BYTES];    /* PING_REQ: whom to ping */
	char target_addr[MEMBER_ADDR_BYTES];
	size_t update_count;
	struct member_info *updates;
};

/* A change the rest of the node must know about (ring, coordinator). */
struct member_event {
	char name[MEMBER_NAME_BYTES];
	enum member_status status;
	bool joined; /* first time this member is seen */
};

struct member_config {
	uint64_t probe_interval_ms;  /* 0: 500 */
	uint64_t probe_timeout_ms;   /* 0: 200; direct ping's deadline */
	uint64_t suspect_timeout_ms; /* 0: 4 x probe interval x log2(n+1) (at least 2 s) */
	uint64_t sync_interval_ms;   /* 0: 10000 */
	unsigned indirect;           /* PING_REQ fan-out; 0: 3 */
	unsigned retransmit_mult;    /* piggyback count = mult x log2(n+1); 0: 4 */
};

struct member_rec; /* private */
struct member_probe;

struct membership {
	struct member_config cfg;
	struct member_info self;
	unsigned self_transmits_left; /* piggyback budget of our own latest change */
	struct member_rec *recs;      /* every other member ever heard of */
	size_t count;
	size_t order_pos; /* probe round robin */
	uint32_t *order;
	size_t order_len;
	struct member_probe *probe; /* the probe of this interval, or NULL */
	struct member_probe *relays; /* PING_REQs we are serving */
	size_t relay_count;
	uint64_t next_probe_ms, next_sync_ms;
	uint64_t seq;
	struct env_rng rng;
	/* Out: messages to send and events to apply, cleared by the caller. */
	struct member_msg *outbox;
	size_t out_count, out_cap;
	struct member_event *events;
	size_t event_count, event_cap;
	/* Counters for INFO and tests. */
	uint64_t pings_sent, acks_received, indirect_probes, suspicions, refutations, deaths;
};

/* Sets up self (status ALIVE, the given incarnation) with no other member.
 * ERR_NOMEM, ERR_INVALID (empty or overlong name, address or zone). */
int membership_init(struct membership *m, const struct member_info *self,
                    const struct member_config *cfg, uint64_t seed);
void membership_deinit(struct membership *m);

/* Asks to join through a seed's address: queues a SYNC to it. */
int membership_join(struct membership *m, const char *seed_addr, uint64_t now_ms);

/* Announces a clean leave (LEFT) to every live member. */
int membership_leave(struct membership *m, uint64_t now_ms);

/* Timers: probes, their timeouts, suspicion expiry, periodic sync. */
int membership_tick(struct membership *m, uint64_t now_ms);

/* A message received (any sender; malformed content is ignored). */
int membership_recv(struct membership *m, const struct member_msg *msg, uint64_t now_ms);

/* What is known of a member by name (self included); NULL if unknown. */
const struct member_info *membership_find(const struct membership *m, const char *name);

/* Members other than self, in no particular order. */
size_t membership_count(const struct membership *m);
const struct member_info *membership_at(const struct membership *m, size_t i);

/* Drops the outbox and events (after the shell has handled them). */
void membership_clear_out(struct membership *m);

const char *member_status_name(enum member_status s);

#endif
