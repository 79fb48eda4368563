/*
 * cmd_cluster.c - the CLUSTER command family (ringkv's own: Redis Cluster's
 * subcommands are not implemented, and these names are not Redis's):
 *
 *   CLUSTER STATUS      one row per member: name, address, zone, state
 *                       (up, suspect, down, left), incarnation, partitions
 *                       owned in the ring, then the hints this node holds
 *                       for it: count, bytes, age of the oldest in ms
 *   CLUSTER RING [N]    the ring version, then per partition its
 *                       preference list of N (default 3) member names
 *   CLUSTER NODESFOR KEY [N]
 *                       the key's preference list: the N (default 3)
 *                       members that hold it, owner first
 *   CLUSTER JOIN ADDR   joins the cluster through a member's internode
 *                       address (host:port)
 *   CLUSTER HELP
 *
 * A node started without cluster-name answers them with an error that
 * says so. INFO cluster shows the counters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/strconv.h"
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

static bool in_cluster(struct client *c)
{
	if (c->node->cluster)
		return true;
	resp_w_error(&c->out, "ERR this node is not in a cluster (start it with --cluster-name)");
	return false;
}

static int64_t hint_age_ms(uint64_t oldest_ms)
{
	int64_t now = env_wall_ms();
	return oldest_ms && now > (int64_t)oldest_ms ? now - (int64_t)oldest_ms : 0;
}

static void reply_status(struct client *c)
{
	struct cluster_view *v = malloc(sizeof(*v));
	if (!v) {
		reply_nomem(c);
		return;
	}
	c->node->cluster->view(c->node->cluster_ctx, v);
	resp_w_array(&c->out, v->count);
	for (size_t i = 0; i < v->count; i++) {
		const struct cluster_row *r = &v->rows[i];
		resp_w_array(&c->out, 9);
		resp_w_bulk_cstr(&c->out, r->name);
		resp_w_bulk_cstr(&c->out, r->addr);
		resp_w_bulk_cstr(&c->out, r->zone);
		resp_w_bulk_cstr(&c->out, member_status_name(r->status));
		resp_w_int(&c->out, (int64_t)r->incarnation);
		resp_w_int(&c->out, r->in_ring ? (int64_t)r->partitions : -1);
		resp_w_int(&c->out, (int64_t)r->hints);
		resp_w_int(&c->out, (int64_t)r->hint_bytes);
		resp_w_int(&c->out, hint_age_ms(r->oldest_hint_ms));
	}
	free(v);
}

static void reply_ring(struct client *c)
{
	int64_t n = 3;
	if (c->argc == 3 && (!strconv_i64(c->argv[2], &n) || n < 1 || n > 5)) {
		resp_w_error(&c->out, "ERR N must be between 1 and 5");
		return;
	}
	if (c->argc > 3) {
		reply_syntax_error(c);
		return;
	}
	size_t cap = 65536 * (size_t)n;
	char(*names)[MEMBER_NAME_BYTES] = malloc(cap * MEMBER_NAME_BYTES);
	if (!names) {
		reply_nomem(c);
		return;
	}
	uint64_t version;
	uint32_t q = c->node->cluster->ring_names(c->node->cluster_ctx, (unsigned)n, names, cap,
	                                          &version);
	resp_w_array(&c->out, 1 + (size_t)q);
	resp_w_int(&c->out, (int64_t)version);
	for (uint32_t p = 0; p < q; p++) {
		size_t k = 0;
		while (k < (size_t)n && names[(size_t)p * (size_t)n + k][0])
			k++;
		resp_w_array(&c->out, k);
		for (size_t j = 0; j < k; j++)
			resp_w_bulk_cstr(&c->out, names[(size_t)p * (size_t)n + j]);
	}
	free(names);
}

static void reply_nodes_for(struct client *c)
{
	int64_t n = 3;
	if (c->argc == 4 && (!strconv_i64(c->argv[3], &n) || n < 1 || n > RING_REPLICAS_MAX)) {
		resp_w_errorf(&c->out, "ERR N must be between 1 and %d", RING_REPLICAS_MAX);
		return;
	}
	char names[RING_REPLICAS_MAX][MEMBER_NAME_BYTES];
	uint32_t got = c->node->cluster->key_nodes(c->node->cluster_ctx, c->argv[2], (unsigned)n,
	                                           names);
	resp_w_array(&c->out, got);
	for (uint32_t i = 0; i < got; i++)
		resp_w_bulk_cstr(&c->out, names[i]);
}

void cmd_cluster(struct client *c)
{
	struct bytes sub = c->argv[1];
	if (bytes_eq_nocase(sub, "help") && c->argc == 2) {
		static const char *const lines[] = {
		    "CLUSTER <subcommand> [<arg> ...]. Subcommands are:",
		    "STATUS",
		    "    Members: name, address, zone, state, incarnation, partitions owned,",
		    "    and the hints held for each: count, bytes, age of the oldest (ms).",
		    "RING [<n>]",
		    "    The ring version, then each partition's preference list of n members.",
		    "NODESFOR <key> [<n>]",
		    "    The n members (default 3) that hold key, its owner first.",
		    "JOIN <host:port>",
		    "    Join the cluster through a member's internode address.",
		    "HELP",
		    "    Print this help.",
		};
		reply_lines(c, lines, ARRAY_LEN(lines));
	} else if (bytes_eq_nocase(sub, "status") && c->argc == 2) {
		if (in_cluster(c))
			reply_status(c);
	} else if (bytes_eq_nocase(sub, "ring") && c->argc <= 3) {
		if (in_cluster(c))
			reply_ring(c);
	} else if (bytes_eq_nocase(sub, "nodesfor") && (c->argc == 3 || c->argc == 4)) {
		if (in_cluster(c))
			reply_nodes_for(c);
	} else if (bytes_eq_nocase(sub, "join") && c->argc == 3) {
		if (!in_cluster(c))
			return;
		char addr[MEMBER_ADDR_BYTES];
		if (c->argv[2].len >= sizeof(addr)) {
			resp_w_error(&c->out, "ERR address too long");
			return;
		}
		memcpy(addr, c->argv[2].ptr, c->argv[2].len);
		addr[c->argv[2].len] = 0;
		if (c->node->cluster->join(c->node->cluster_ctx, addr) != 0)
			resp_w_error(&c->out, "ERR address must be host:port");
		else
			resp_w_ok(&c->out);
	} else {
		resp_w_errorf(&c->out,
		              "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try "
		              "CLUSTER HELP.",
		              (int)(sub.len > 64 ? 64 : sub.len), (const char *)sub.ptr);
	}
}

/* cluster_latency_<op>_<r|w><q>: count and percentiles in microseconds,
 * for each operation and quorum that ran. */
static void info_latency(struct buf *b, const struct cluster_view *v)
{
	for (unsigned k = 0; k < CLUSTER_LAT_OPS; k++)
		for (unsigned q = 0; q < CLUSTER_LAT_QUORUMS; q++) {
			const struct cluster_latency *l = &v->latency[k][q];
			if (!l->count)
				continue;
			bool read = cluster_op_is_read((enum cluster_op_kind)k);
			infof(b, "cluster_latency_%s_%c%u%s:count=%llu,p50=%.3f,p99=%.3f,p99.9=%.3f",
			      cluster_op_name((enum cluster_op_kind)k), read ? 'r' : 'w', q + 1,
			      q + 1 == CLUSTER_LAT_QUORUMS ? "plus" : "", (unsigned long long)l->count,
			      (double)l->p50_ns / 1e3, (double)l->p99_ns / 1e3, (double)l->p999_ns / 1e3);
		}
}

void cluster_info_section(struct node *n, struct buf *b)
{
	infof(b, "# Cluster");
	if (!n->cluster) {
		infof(b, "cluster_enabled:0");
		return;
	}
	struct cluster_view *v = malloc(sizeof(*v));
	if (!v)
		return;
	n->cluster->view(n->cluster_ctx, v);
	size_t up = 0, suspect = 0, down = 0;
	for (size_t i = 0; i < v->count; i++) {
		up += v->rows[i].status == MEMBER_ALIVE;
		suspect += v->rows[i].status == MEMBER_SUSPECT;
		down += v->rows[i].status == MEMBER_DEAD;
	}
	infof(b, "cluster_enabled:1");
	infof(b, "cluster_name:%s", v->cluster_name);
	infof(b, "node_name:%s", v->self);
	infof(b, "members:%zu", v->count);
	infof(b, "members_up:%zu", up);
	infof(b, "members_suspect:%zu", suspect);
	infof(b, "members_down:%zu", down);
	infof(b, "ring_version:%llu", (unsigned long long)v->ring_version);
	infof(b, "ring_partitions:%u", v->partitions);
	infof(b, "probes_sent:%llu", (unsigned long long)v->pings);
	infof(b, "probe_acks:%llu", (unsigned long long)v->acks);
	infof(b, "indirect_probes:%llu", (unsigned long long)v->indirect_probes);
	infof(b, "suspicions:%llu", (unsigned long long)v->suspicions);
	infof(b, "refutations:%llu", (unsigned long long)v->refutations);
	infof(b, "members_marked_down:%llu", (unsigned long long)v->downs);
	infof(b, "internode_bytes_in:%llu", (unsigned long long)v->bytes_in);
	infof(b, "internode_bytes_out:%llu", (unsigned long long)v->bytes_out);
	infof(b, "internode_messages_dropped:%llu", (unsigned long long)v->dropped);
	infof(b, "coordinated_requests:%llu", (unsigned long long)v->requests);
	infof(b, "forwarded_writes:%llu", (unsigned long long)v->forwarded);
	infof(b, "quorum_ok:%llu", (unsigned long long)v->quorum_ok);
	infof(b, "quorum_not_found:%llu", (unsigned long long)v->quorum_not_found);
	infof(b, "quorum_failures:%llu", (unsigned long long)v->quorum_failures);
	infof(b, "read_repairs:%llu", (unsigned long long)v->read_repairs);
	infof(b, "requests_in_flight:%llu", (unsigned long long)v->inflight);
	infof(b, "replica_requests:%llu", (unsigned long long)v->replica_requests);
	infof(b, "replica_errors:%llu", (unsigned long long)v->replica_errors);
	infof(b, "late_forwards_refused:%llu", (unsigned long long)v->late_forwards);
	infof(b, "sibling_reads:%llu", (unsigned long long)v->sibling_reads);
	infof(b, "siblings_max:%llu", (unsigned long long)v->siblings_max);
	infof(b, "sibling_warnings:%llu", (unsigned long long)v->sibling_warnings);
	infof(b, "hints_stored:%llu", (unsigned long long)v->hints_stored);
	infof(b, "hints_refused:%llu", (unsigned long long)v->hints_refused);
	infof(b, "hints_delivered:%llu", (unsigned long long)v->hints_delivered);
	infof(b, "hints_expired:%llu", (unsigned long long)v->hints_expired);
	infof(b, "hints_corrupt:%llu", (unsigned long long)v->hints_corrupt);
	infof(b, "hints_dropped:%llu", (unsigned long long)v->hints_dropped);
	infof(b, "hints_pending:%llu", (unsigned long long)v->hints_pending);
	infof(b, "hint_bytes_pending:%llu", (unsigned long long)v->hint_bytes_pending);
	infof(b, "replication_lag_ms:%llu", (unsigned long long)v->hint_lag_ms);
	infof(b, "tombstone_grace_ms:%llu", (unsigned long long)v->gc_grace_ms);
	infof(b, "tombstone_scan_keys:%llu", (unsigned long long)v->gc_examined);
	infof(b, "tombstone_scan_passes:%llu", (unsigned long long)v->gc_passes);
	infof(b, "tombstone_checks:%llu", (unsigned long long)v->gc_checks);
	infof(b, "tombstones_collected:%llu", (unsigned long long)v->gc_collected);
	infof(b, "tombstone_checks_blocked:%llu", (unsigned long long)v->gc_blocked);
	infof(b, "tombstone_repairs:%llu", (unsigned long long)v->gc_repaired);
	infof(b, "dot_floor:%llu", (unsigned long long)v->dot_floor);
	info_latency(b, v);
	free(v);
}
