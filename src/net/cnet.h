/*
 * cnet.h - the cluster's own network: one thread with an epoll loop that
 * owns the internode listener and every internode connection.
 *
 * It knows nothing of frames: the owner gets each connection's input
 * buffer to consume (on_input) and hands whole messages to cnet_send,
 * which queues them on the outgoing connection to that address, opening
 * it (non-blocking, from the node's own bind address, so that a firewall
 * rule on the source address cuts exactly this node off) when needed.
 * Each ordered pair of nodes therefore uses one connection per direction:
 * a node sends on the connection it opened and reads what arrives on the
 * connections it accepted.
 *
 * Bounds: a connection's unsent output is capped (CNET_OUT_BYTES_MAX); a
 * send past it is dropped and counted (internode messages are datagrams
 * to the protocols above: gossip repeats, requests time out), so a slow
 * or dead peer never makes the node's memory grow. A failed connection is
 * closed with its queue and retried on the next send, at most every
 * CNET_RETRY_MS. Input is capped per connection by the owner's decoder.
 *
 * Threads: cnet_send and the handler run on the cluster thread only; any
 * thread may call cnet_wake (which runs on_wake on the cluster thread).
 */
#ifndef RINGKV_NET_CNET_H
#define RINGKV_NET_CNET_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define CNET_OUT_BYTES_MAX (64u * 1024 * 1024)
#define CNET_RETRY_MS      200
#define CNET_TICK_MS       10
#define CNET_CONNS_MAX     1024

struct cnet;
struct cnet_conn;

struct cnet_handler {
	/* Bytes arrived on an accepted connection: consume what forms whole
	 * messages from in (buf_consume). Return nonzero to close it (bad
	 * input). */
	int (*on_input)(void *ctx, struct cnet_conn *c, struct buf *in);
	/* Every CNET_TICK_MS or so, with the monotonic time. */
	void (*on_tick)(void *ctx, uint64_t now_ms);
	/* After cnet_wake. */
	void (*on_wake)(void *ctx);
	/* An accepted connection is gone: free what the owner hung on it
	 * (cnet_conn_user). May be NULL. */
	void (*on_close)(void *ctx, struct cnet_conn *c);
};

struct cnet_stats {
	uint64_t bytes_in, bytes_out, frames_dropped, connect_failures, conns_closed_bad_input;
};

/* Binds the listener on bind_ip:port (the source address of outgoing
 * connections too). err gets a message on failure. */
int cnet_open(struct cnet **out, const char *bind_ip, uint16_t port,
              const struct cnet_handler *h, void *ctx, char *err, size_t err_cap);
int cnet_start(struct cnet *n);
/* Stops the thread (after the current turn) and frees everything. */
void cnet_close(struct cnet *n);
void cnet_wake(struct cnet *n);
/* Queues len bytes for addr ("ip:port"); ERR_LIMIT when dropped (queue
 * full), ERR_INVALID for a bad address. Cluster thread only. */
int cnet_send(struct cnet *n, const char *addr, const void *p, size_t len);
/* A slot for the owner's per-connection state (a frame decoder). */
void **cnet_conn_user(struct cnet_conn *c);

/* The peer address of an accepted connection ("ip:port"), for logs. */
const char *cnet_conn_peer(const struct cnet_conn *c);
void cnet_get_stats(struct cnet *n, struct cnet_stats *out);

#endif
