/*
 * net.h - the network layer of one node: event-loop threads, listening
 * sockets, client connections and their buffers.
 *
 * Model. --threads N event-loop threads share one listening socket per
 * bind address, each waiting on it with EPOLLEXCLUSIVE so that a new
 * connection wakes one thread; a thread owns the connections it accepted
 * for their whole life. (Not SO_REUSEPORT: it would let a second server
 * started on the same port by mistake share it silently.) A
 * connection's bytes are parsed, its commands executed (cmd_dispatch, which
 * locks only the keyspace stripes of the keys involved) and its replies
 * written, all on its thread. There is no global lock on that path; the
 * client registry (CLIENT LIST/KILL, client count) has a mutex taken only
 * on connect, disconnect and by those admin commands.
 *
 * Each thread also runs, every 1000/hz ms, active expiry and table upkeep
 * for its share of the keyspace stripes (stripe % N == thread index), and
 * client timeouts; thread 0 samples the command rate.
 *
 * Shutdown (net_request_shutdown, async-signal-safe): every thread closes
 * its listeners, stops reading, flushes the replies already produced (for
 * at most SHUTDOWN_FLUSH_MS) and exits; net_run then returns.
 */
#ifndef RINGKV_NET_NET_H
#define RINGKV_NET_NET_H

#include "cmd/cmd.h"

struct net;

/* Creates listeners and loops for node n (which the caller keeps alive).
 * Returns 0, or ERR_IO with a message in err (port in use, bad address). */
int net_create(struct net **out, struct node *n, char *err, size_t errcap);

/* Runs the loops on their threads until shutdown; returns 0 or ERR_NOMEM. */
int net_run(struct net *net);

/* Asks every loop to shut down; safe to call from a signal handler. */
void net_request_shutdown(struct net *net);

void net_destroy(struct net *net);

/* The hooks that commands use to reach the network layer. */
extern const struct node_hooks net_node_hooks;

#endif
