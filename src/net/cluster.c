/*
 * cluster.c - the cluster's I/O shell; see cluster.h.
 */
#include "net/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/hash.h"
#include "cluster/member_codec.h"
#include "cluster/ring.h"
#include "cluster/wire.h"
#include "env/env.h"
#include "net/cluster_internal.h"
#include "net/cnet.h"

/* ---- Frames ------------------------------------------------------------ */

static void send_frame(struct cluster *c, const char *addr, uint8_t type, const struct buf *payload)
{
	c->frame.len = 0;
	if (wire_frame_encode(&c->frame, WIRE_CONTROL_BYTES_MAX + 64, type, 0, 0,
	                      bytes_make(payload->data, payload->len)) == 0)
		(void)cnet_send(c->net, addr, c->frame.data, c->frame.len);
}

static void send_ring(struct cluster *c, const char *addr)
{
	if (c->ring.member_count == 0)
		return;
	struct buf b;
	buf_init(&b);
	if (ring_encode(&c->ring, &b, WIRE_CONTROL_BYTES_MAX) == 0)
		send_frame(c, addr, FRAME_RING, &b);
	buf_deinit(&b);
}

/* Sends the membership outbox (and the ring with every full exchange). */
static void flush_outbox(struct cluster *c)
{
	struct buf b;
	buf_init(&b);
	for (size_t i = 0; i < c->m.out_count; i++) {
		const struct member_msg *msg = &c->m.outbox[i];
		b.len = 0;
		if (member_msg_encode(msg, &b) == 0)
			send_frame(c, msg->to_addr, FRAME_MEMBER, &b);
		if (msg->type == MEMBER_MSG_SYNC || msg->type == MEMBER_MSG_SYNC_REPLY)
			send_ring(c, msg->to_addr);
	}
	buf_deinit(&b);
	for (size_t i = 0; i < c->m.event_count; i++) {
		const struct member_event *e = &c->m.events[i];
		LOG_N(c->log, "cluster: member %s is %s%s", e->name, member_status_name(e->status),
		      e->joined ? " (joined)" : "");
	}
	membership_clear_out(&c->m);
}

/* ---- Members by ring id -------------------------------------------------- */

static bool ring_member_is(const struct ring_member *rm, const char *name)
{
	return rm->name_len == strlen(name) && memcmp(rm->name, name, rm->name_len) == 0;
}

uint16_t cluster_self_id(const struct cluster *c)
{
	for (uint32_t i = 0; i < c->ring.member_count; i++)
		if (ring_member_is(&c->ring.members[i], c->name))
			return c->ring.members[i].id;
	return RING_MEMBER_NONE;
}

bool cluster_member_up(const struct cluster *c, uint16_t member)
{
	const struct ring_member *rm = ring_member_find(&c->ring, member);
	if (!rm)
		return false;
	if (ring_member_is(rm, c->name))
		return true;
	for (size_t i = 0; i < membership_count(&c->m); i++) {
		const struct member_info *mi = membership_at(&c->m, i);
		if (ring_member_is(rm, mi->name))
			return mi->status == MEMBER_ALIVE || mi->status == MEMBER_SUSPECT;
	}
	return false;
}

int cluster_send_to(struct cluster *c, uint16_t member, const struct buf *frame)
{
	const struct ring_member *rm = ring_member_find(&c->ring, member);
	if (!rm || !rm->addr_len)
		return ERR_NOT_FOUND;
	char addr[RING_ADDR_BYTES_MAX + 1];
	memcpy(addr, rm->addr, rm->addr_len);
	addr[rm->addr_len] = 0;
	return cnet_send(c->net, addr, frame->data, frame->len);
}

/* ---- The ring's claimant ----------------------------------------------- */

static bool is_claimant(const struct cluster *c)
{
	for (size_t i = 0; i < membership_count(&c->m); i++) {
		const struct member_info *mi = membership_at(&c->m, i);
		if (mi->status == MEMBER_ALIVE && strcmp(mi->name, c->name) < 0)
			return false;
	}
	return true;
}

static uint16_t free_id(const struct ring *r)
{
	for (uint16_t id = 0; id < RING_MEMBER_NONE; id++)
		if (!ring_member_find(r, id))
			return id;
	return RING_MEMBER_NONE;
}

static bool ring_has(const struct ring *r, const char *name)
{
	for (uint32_t i = 0; i < r->member_count; i++)
		if (r->members[i].name_len == strlen(name) &&
		    memcmp(r->members[i].name, name, r->members[i].name_len) == 0)
			return true;
	return false;
}

static void add_to_ring(struct cluster *c, const struct member_info *mi)
{
	struct ring_member_spec spec = {
	    .id = free_id(&c->ring),
	    .weight = (uint16_t)(mi->weight ? mi->weight : 1),
	    .name = bytes_cstr(mi->name),
	    .addr = bytes_cstr(mi->addr),
	    .zone = bytes_cstr(mi->zone),
	};
	int err = ring_add_member(&c->ring, &spec);
	if (err)
		LOG_W(c->log, "cluster: cannot add %s to the ring: %s", mi->name, err_str(err));
	else
		LOG_N(c->log, "cluster: ring version %llu: %s added (%u partitions)",
		      (unsigned long long)c->ring.version, mi->name,
		      ring_owned_count(&c->ring, spec.id));
}

/* The claimant adds every live member the ring lacks, self included. */
static void claim(struct cluster *c)
{
	if (!c->ring_heard || !is_claimant(c))
		return;
	if (!ring_has(&c->ring, c->name))
		add_to_ring(c, &c->m.self);
	for (size_t i = 0; i < membership_count(&c->m); i++) {
		const struct member_info *mi = membership_at(&c->m, i);
		if (mi->status == MEMBER_ALIVE && !ring_has(&c->ring, mi->name))
			add_to_ring(c, mi);
	}
}

/* ---- cnet handlers (cluster thread) ------------------------------------ */

static void on_tick(void *ctx, uint64_t now_ms)
{
	struct cluster *c = ctx;
	env_mutex_lock(&c->mu);
	/* The seed may not be up yet: ask again every second until some
	 * member is known. */
	if (c->join_pending && membership_count(&c->m) > 0)
		c->join_pending = false;
	if (c->join_pending && now_ms >= c->join_sent_ms + 1000) {
		if (c->join_sent_ms == 0)
			LOG_N(c->log, "cluster: joining through %s", c->join_addr);
		c->join_sent_ms = now_ms;
		(void)membership_join(&c->m, c->join_addr, now_ms);
	}
	membership_tick(&c->m, now_ms);
	claim(c);
	if (c->ks) {
		ckv_run_jobs(c, now_ms);
		ckv_tick(c, now_ms);
	}
	flush_outbox(c);
	/* A changed ring goes to every live member at once (full exchanges
	 * carry it too, which repairs whatever this misses). */
	if (c->ring.version != c->ring_sent_version) {
		c->ring_sent_version = c->ring.version;
		for (size_t i = 0; i < membership_count(&c->m); i++) {
			const struct member_info *mi = membership_at(&c->m, i);
			if (mi->status == MEMBER_ALIVE)
				send_ring(c, mi->addr);
		}
	}
	env_mutex_unlock(&c->mu);
}

static void on_frame(struct cluster *c, const struct wire_frame *f, uint64_t now_ms)
{
	uint8_t type = f->type;
	struct bytes payload = f->payload;
	if (c->ks && ckv_on_frame(c, f, now_ms))
		return;
	if (type == FRAME_MEMBER) {
		struct member_msg msg;
		if (member_msg_decode(payload, &msg) != 0)
			return;
		(void)membership_recv(&c->m, &msg, now_ms);
		free(msg.updates);
	} else if (type == FRAME_RING) {
		struct ring r;
		if (ring_decode(&r, payload.ptr, payload.len) != 0)
			return;
		bool replaced = false;
		c->ring_heard = true;
		if (r.partition_count == c->ring.partition_count &&
		    ring_merge(&c->ring, &r, &replaced) == 0 && replaced)
			LOG_N(c->log, "cluster: ring version %llu adopted (%u members)",
			      (unsigned long long)c->ring.version, c->ring.member_count);
		ring_deinit(&r);
	}
}

static int on_input(void *ctx, struct cnet_conn *conn, struct buf *in)
{
	struct cluster *c = ctx;
	void **slot = cnet_conn_user(conn);
	if (!*slot) {
		struct wire_decoder *d = malloc(sizeof(*d));
		if (!d)
			return ERR_NOMEM;
		/* Data frames carry values (membership and ring frames stay
		 * capped at WIRE_CONTROL_BYTES_MAX by the decoder). */
		wire_decoder_init(d, WIRE_FRAME_BYTES_DEFAULT);
		*slot = d;
	}
	struct wire_decoder *d = *slot;
	uint64_t now_ms = env_mono_us() / 1000;
	int bad = 0;
	size_t off = 0;
	env_mutex_lock(&c->mu);
	while (off < in->len) {
		struct wire_frame f;
		size_t used = 0;
		int rc = wire_decoder_step(d, in->data + off, in->len - off, &used, &f);
		off += used;
		if (rc < 0) { /* bad magic, version, checksum or size: drop the peer */
			LOG_W(c->log, "cluster: closing %s: %s", cnet_conn_peer(conn),
			      wire_decoder_reason(d) ? wire_decoder_reason(d) : err_str(rc));
			bad = rc;
			break;
		}
		if (rc == WIRE_FRAME_READY)
			on_frame(c, &f, now_ms);
	}
	buf_consume(in, off);
	flush_outbox(c);
	env_mutex_unlock(&c->mu);
	return bad;
}

static void on_close(void *ctx, struct cnet_conn *conn)
{
	(void)ctx;
	void **slot = cnet_conn_user(conn);
	if (*slot) {
		wire_decoder_deinit(*slot);
		free(*slot);
		*slot = NULL;
	}
}

static void on_wake(void *ctx)
{
	struct cluster *c = ctx;
	if (!c->ks)
		return;
	env_mutex_lock(&c->mu);
	ckv_run_jobs(c, env_mono_us() / 1000);
	env_mutex_unlock(&c->mu);
}

/* ---- Life cycle --------------------------------------------------------- */

int cluster_create(struct cluster **out, struct config *cfg, struct log *log, char *err,
                   size_t err_cap)
{
	*out = NULL;
	char cname[MEMBER_NAME_BYTES];
	if (config_get_str(cfg, CFG_CLUSTER_NAME, cname, sizeof(cname)) == 0)
		return 0;
	struct cluster *c = calloc(1, sizeof(*c));
	if (!c)
		return ERR_NOMEM;
	c->cfg = cfg;
	c->log = log;
	env_mutex_init(&c->mu);
	buf_init(&c->frame);
	char bind[40]; /* an IPv4 address */
	config_get_str(cfg, CFG_BIND, bind, sizeof(bind));
	if (strchr(bind, ' ')) {
		snprintf(err, err_cap, "cluster: bind must be one IPv4 address, not '%s'", bind);
		free(c);
		return ERR_INVALID;
	}
	int64_t port = config_get(cfg, CFG_PORT);
	int64_t cport = config_get(cfg, CFG_CLUSTER_PORT);
	if (!cport)
		cport = port + 10000;
	if (cport > 65535) {
		snprintf(err, err_cap, "cluster: cluster-port %lld out of range (set it)", (long long)cport);
		free(c);
		return ERR_INVALID;
	}
	struct member_info self;
	memset(&self, 0, sizeof(self));
	if (config_get_str(cfg, CFG_NODE_NAME, self.name, sizeof(self.name)) == 0)
		snprintf(self.name, sizeof(self.name), "%s:%lld", bind, (long long)port);
	snprintf(self.addr, sizeof(self.addr), "%s:%lld", bind, (long long)cport);
	config_get_str(cfg, CFG_ZONE, self.zone, sizeof(self.zone));
	self.weight = (uint32_t)config_get(cfg, CFG_WEIGHT);
	/* A restarted node must come back above any incarnation it had: the
	 * wall clock in ms does that without persisting anything. */
	self.incarnation = (uint64_t)env_wall_ms();
	snprintf(c->name, sizeof(c->name), "%s", self.name);
	uint32_t q = (uint32_t)config_get(cfg, CFG_CLUSTER_PARTITIONS);
	int rc = ring_init(&c->ring, q);
	if (rc) {
		snprintf(err, err_cap, "cluster: cluster-partitions %u must be a power of two", q);
		free(c);
		return rc;
	}
	rc = membership_init(&c->m, &self, NULL, env_random_seed());
	if (rc == 0) {
		struct cnet_handler h = {on_input, on_tick, on_wake, on_close};
		rc = cnet_open(&c->net, bind, (uint16_t)cport, &h, c, err, err_cap);
	}
	if (rc) {
		cluster_destroy(c, NULL);
		return rc;
	}
	char join[MEMBER_ADDR_BYTES];
	if (config_get_str(cfg, CFG_JOIN, join, sizeof(join)) > 0)
		(void)cluster_join(c, join);
	else
		c->ring_heard = true; /* a new cluster: this node makes its ring */
	LOG_N(log, "cluster %s: node %s, internode %s%s%s", cname, self.name, self.addr,
	      *join ? ", joining through " : " (a new cluster)", *join ? join : "");
	*out = c;
	return 0;
}

int cluster_attach(struct cluster *c, struct keyspace *ks, char *err, size_t err_cap)
{
	/* The server runs in its data directory (env_dir_enter). */
	int rc = cluster_replica_id_load(c->cfg, c->log, &c->self, err, err_cap);
	if (rc)
		return rc;
	rc = ckv_init(c);
	if (rc) {
		snprintf(err, err_cap, "cluster: coordinator: %s", err_str(rc));
		return rc;
	}
	c->ks = ks; /* from here cluster_destroy deinits the data path */
	rc = hints_init(c, err, err_cap);
	if (rc)
		return rc;
	rc = gc_init(c);
	if (rc) {
		snprintf(err, err_cap, "cluster: tombstone collection: %s", err_str(rc));
		return rc;
	}
	LOG_N(c->log, "cluster: replica id %016llx", (unsigned long long)c->self.id);
	return 0;
}

int cluster_start(struct cluster *c)
{
	return cnet_start(c->net);
}

void cluster_destroy(struct cluster *c, struct replica_self *self)
{
	if (!c)
		return;
	cnet_close(c->net);
	if (self) /* the cluster thread, which raises the floor, has stopped */
		*self = c->self;
	if (c->ks)
		ckv_deinit(c);
	if (c->m.recs)
		membership_deinit(&c->m);
	ring_deinit(&c->ring);
	buf_deinit(&c->frame);
	env_mutex_deinit(&c->mu);
	free(c);
}

int cluster_join(struct cluster *c, const char *addr)
{
	if (!*addr || strlen(addr) >= sizeof(c->join_addr) || !strchr(addr, ':'))
		return ERR_INVALID;
	env_mutex_lock(&c->mu);
	snprintf(c->join_addr, sizeof(c->join_addr), "%s", addr);
	c->join_pending = true;
	c->join_sent_ms = 0;
	env_mutex_unlock(&c->mu);
	if (c->net)
		cnet_wake(c->net);
	return 0;
}

/* ---- Views --------------------------------------------------------------- */

static void row_of(const struct cluster *c, const struct member_info *mi, struct cluster_row *r)
{
	snprintf(r->name, sizeof(r->name), "%s", mi->name);
	snprintf(r->addr, sizeof(r->addr), "%s", mi->addr);
	snprintf(r->zone, sizeof(r->zone), "%s", mi->zone);
	r->status = mi->status;
	r->incarnation = mi->incarnation;
	r->in_ring = false;
	r->partitions = 0;
	for (uint32_t i = 0; i < c->ring.member_count; i++) {
		const struct ring_member *rm = &c->ring.members[i];
		if (rm->name_len == strlen(mi->name) && memcmp(rm->name, mi->name, rm->name_len) == 0) {
			r->in_ring = true;
			r->partitions = ring_owned_count(&c->ring, rm->id);
		}
	}
}

void cluster_view(struct cluster *c, struct cluster_view *out)
{
	memset(out, 0, sizeof(*out));
	config_get_str(c->cfg, CFG_CLUSTER_NAME, out->cluster_name, sizeof(out->cluster_name));
	env_mutex_lock(&c->mu);
	snprintf(out->self, sizeof(out->self), "%s", c->name);
	out->ring_version = c->ring.version;
	out->partitions = c->ring.partition_count;
	row_of(c, &c->m.self, &out->rows[out->count++]);
	for (size_t i = 0; i < membership_count(&c->m) && out->count < MEMBERS_MAX + 1; i++)
		row_of(c, membership_at(&c->m, i), &out->rows[out->count++]);
	out->pings = c->m.pings_sent;
	out->acks = c->m.acks_received;
	out->indirect_probes = c->m.indirect_probes;
	out->suspicions = c->m.suspicions;
	out->refutations = c->m.refutations;
	out->downs = c->m.deaths;
	ckv_view(c, out);
	env_mutex_unlock(&c->mu);
	ckv_latency_view(c, out);
	struct cnet_stats ns;
	cnet_get_stats(c->net, &ns);
	out->bytes_in = ns.bytes_in;
	out->bytes_out = ns.bytes_out;
	out->dropped = ns.frames_dropped;
}

uint32_t cluster_key_nodes(struct cluster *c, struct bytes key, unsigned n,
                           char (*names)[MEMBER_NAME_BYTES])
{
	uint16_t ids[RING_REPLICAS_MAX];
	if (n > RING_REPLICAS_MAX)
		n = RING_REPLICAS_MAX;
	env_mutex_lock(&c->mu);
	uint32_t got = 0;
	if (c->ring.member_count)
		got = ring_preference_list(&c->ring, ring_partition_of_key(&c->ring, key), n, ids);
	for (uint32_t k = 0; k < got; k++) {
		const struct ring_member *rm = ring_member_find(&c->ring, ids[k]);
		snprintf(names[k], MEMBER_NAME_BYTES, "%.*s", rm ? (int)rm->name_len : 0,
		         rm ? rm->name : "");
	}
	env_mutex_unlock(&c->mu);
	return got;
}

uint32_t cluster_ring_names(struct cluster *c, unsigned n, char (*names)[MEMBER_NAME_BYTES],
                            size_t cap, uint64_t *version)
{
	env_mutex_lock(&c->mu);
	uint32_t q = c->ring.member_count ? c->ring.partition_count : 0;
	*version = c->ring.version;
	if ((size_t)q * n > cap)
		q = 0;
	for (uint32_t p = 0; p < q; p++) {
		uint16_t ids[RING_REPLICAS_MAX];
		uint32_t got = ring_preference_list(&c->ring, p, n, ids);
		for (unsigned k = 0; k < n; k++) {
			char *dst = names[(size_t)p * n + k];
			dst[0] = 0;
			const struct ring_member *rm = k < got ? ring_member_find(&c->ring, ids[k]) : NULL;
			if (rm)
				snprintf(dst, MEMBER_NAME_BYTES, "%.*s", (int)rm->name_len, rm->name);
		}
	}
	env_mutex_unlock(&c->mu);
	return q;
}
