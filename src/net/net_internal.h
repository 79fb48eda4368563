/*
 * net_internal.h - shared by net.c (loops, listeners, registry) and conn.c
 * (one connection's input, execution and output).
 */
#ifndef RINGKV_NET_NET_INTERNAL_H
#define RINGKV_NET_NET_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "cmd/cmd.h"
#include "env/env.h"
#include "net/net.h"
#include "net/park.h"
#include "proto/resp.h"

#define BIND_ADDRS_MAX    8
#define SHUTDOWN_FLUSH_MS 5000

struct loop;

struct conn {
	int fd;
	struct loop *loop;
	struct client client;
	struct buf in;
	struct resp_parser parser;
	size_t out_sent;        /* bytes of client.out.buf already written */
	int64_t last_io_ms;     /* last read or write progress */
	int64_t out_since_ms;   /* when output last started to wait, for the stall check */
	bool want_write;        /* EPOLLOUT registered */
	bool reading;           /* EPOLLIN registered */
	bool paused;            /* output over the soft limit: not executing input */
	bool pending;           /* on the loop's resume list */
	bool close_after_flush; /* QUIT, protocol error, SHUTDOWN */
	bool closed;
	atomic_bool kill; /* CLIENT KILL from any thread */
	/* Parked: waiting for park_complete, input held (conn.c). */
	struct park *park;
	/* Registry links (under net->reg_mu). */
	struct conn *reg_prev, *reg_next;
	/* The loop's list of its connections. */
	struct conn *loop_prev, *loop_next;
	struct conn *pending_next;
	struct conn *closed_next; /* the loop's list of closed conns to free */
	struct conn *write_next;  /* the loop's list of conns with replies to write */
	bool write_queued;
};

/* A connection accepted by one loop and handed to another. */
struct handoff {
	int fd;
	struct sockaddr_storage peer;
};

/* Connections waiting in one loop's hand-off queue; past this the
 * accepting loop keeps the connection itself. */
#define HANDOFF_MAX 256

struct loop {
	struct net *net;
	unsigned index;
	int epfd;
	int wakefd;
	struct env_thread thread;
	struct env_mutex handoff_mu; /* guards handoff[] */
	struct handoff handoff[HANDOFF_MAX];
	size_t handoff_len;
	struct cmd_thread *thr;
	struct conn *conns;   /* all connections of this loop */
	struct conn *pending; /* connections with input left to execute */
	struct conn *closed;  /* closed this turn, freed at its end */
	struct conn *writes;  /* replies to write at the end of the turn */
	/* Completed tickets of this loop's parked conns. */
	struct park_queue parks;
	/* The conn whose command runs now (client_park checks it); written by
	 * this loop only, atomic so that a check from elsewhere is no race. */
	_Atomic(struct conn *) executing;
	int64_t next_cron_ms;
	bool stopping;
	bool busy; /* the last wait returned events */
	int64_t stop_deadline_ms;
};

struct net {
	struct node *node;
	struct loop *loops;
	unsigned loop_count;
	atomic_bool shutdown;
	atomic_uint_fast64_t next_client_id;
	atomic_uint next_loop; /* round-robin target of new connections */
	atomic_uint_fast64_t connected;
	atomic_uint_fast64_t total_connections;
	atomic_uint_fast64_t rejected_connections;
	atomic_uint_fast64_t net_input_bytes;
	atomic_uint_fast64_t net_output_bytes;
	/* Parked clients (INFO parked_clients), and park_complete_later's
	 * timer thread. */
	atomic_uint_fast64_t parked;
	struct park_timer park_timer;
	int listen_fds[BIND_ADDRS_MAX]; /* shared by the loops */
	unsigned listen_count;
	atomic_bool listeners_closed;
	struct env_mutex reg_mu;
	struct conn *registry;
};

/* conn.c */
struct conn *conn_create(struct loop *lp, int fd, const char *addr, const char *laddr);
void conn_on_readable(struct conn *cn);
void conn_on_writable(struct conn *cn);
/* Runs buffered input left over from an earlier turn. */
void conn_resume(struct conn *cn);
/* Writes replies queued by loop_add_write. */
void conn_flush_deferred(struct conn *cn);
/* Closes and frees. */
void conn_close(struct conn *cn);
/* Cron checks: idle timeout, output stall, kill flag. Returns true if closed. */
bool conn_cron(struct conn *cn, int64_t now_ms);
/* During shutdown: tries to flush; true when nothing is left to send. */
bool conn_flush_for_shutdown(struct conn *cn);
/* Takes the reply of cn's completed ticket p and resumes cn's input. */
void conn_unpark(struct conn *cn, struct park *p);

/* net.c */
/* A non-blocking listening TCP socket on addr:port (IPv4 or IPv6, "*" for
 * any); returns the fd, or ERR_INVALID/ERR_IO with the reason in err. */
int net_listen_socket(const char *addr, int port, int backlog, char *err, size_t errcap);
void loop_update_events(struct loop *lp, struct conn *cn);
void loop_add_pending(struct loop *lp, struct conn *cn);
void loop_add_write(struct loop *lp, struct conn *cn);
void registry_add(struct net *net, struct conn *cn);
void registry_remove(struct net *net, struct conn *cn);

#endif
