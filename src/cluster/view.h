/*
 * view.h - what the cluster shows the rest of the node (CLUSTER STATUS,
 * INFO cluster, /metrics): plain data, filled by the I/O shell
 * (net/cluster.c) and read by the commands (cmd/cmd_cluster.c).
 */
#ifndef RINGKV_CLUSTER_VIEW_H
#define RINGKV_CLUSTER_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/member.h"

/* What CLUSTER STATUS shows: self first, then every member heard of. */
struct cluster_row {
	char name[MEMBER_NAME_BYTES];
	char addr[MEMBER_ADDR_BYTES];
	char zone[MEMBER_ZONE_BYTES];
	enum member_status status;
	uint64_t incarnation;
	uint32_t partitions; /* owned in the ring */
	bool in_ring;
};

struct cluster_view {
	char cluster_name[MEMBER_NAME_BYTES];
	char self[MEMBER_NAME_BYTES];
	uint64_t ring_version;
	uint32_t partitions;
	size_t count;
	struct cluster_row rows[MEMBERS_MAX + 1];
	/* Failure detector counters. */
	uint64_t pings, acks, indirect_probes, suspicions, refutations, downs;
	uint64_t bytes_in, bytes_out, dropped;
};

/* What the command layer may ask of the cluster (struct node's
 * cluster hooks; NULL when the node is not in a cluster). */
struct cluster_hooks {
	void (*view)(void *ctx, struct cluster_view *out);
	uint32_t (*ring_names)(void *ctx, unsigned n, char (*names)[MEMBER_NAME_BYTES], size_t cap,
	                       uint64_t *version);
	int (*join)(void *ctx, const char *addr);
};

#endif
