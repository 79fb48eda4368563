/*
 * conn.c - one client connection: read bytes, parse and execute the
 * commands they hold, write the replies.
 *
 * Flow control. Replies accumulate in the client's output buffer and are
 * written once per batch of input (one write for a whole pipeline). When
 * more than OUTPUT_SOFT_BYTES are waiting because the client does not read,
 * the connection stops executing its input and stops reading the socket
 * (backpressure) until the output drains; so a client that pipelines
 * without reading holds at most the soft limit plus one reply. A client
 * whose output makes no progress for client-output-stall-ms, or whose
 * pending output passes client-output-max-bytes, is disconnected.
 *
 * Input. The query buffer grows with the bytes that actually arrive, up to
 * client-query-buffer-limit; the parser never makes it allocate for an
 * announced length. A protocol error is answered with "-ERR Protocol
 * error: ..." and the connection is closed after that reply.
 *
 * Parking (cmd.h, client_park). A handler may park its client instead of
 * replying; the connection then executes none of its input until the
 * ticket's reply arrives through the loop's completion queue (conn_unpark),
 * so pipelined replies stay in order. Meanwhile it keeps reading, up to
 * client-query-buffer-limit, and then stops reading (backpressure, not a
 * disconnect: the wait is ours, not the client's fault). A parked client is
 * exempt from the idle timeout; a close (CLIENT KILL, shutdown, the peer)
 * detaches the ticket, and the completion is then dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "net/net_internal.h"

static void parser_limits(struct node *n, struct resp_limits *l)
{
	l->args_max = (size_t)config_get(n->cfg, CFG_MAX_ARGS);
	l->bulk_bytes_max = (size_t)config_get(n->cfg, CFG_PROTO_MAX_BULK_LEN);
	l->inline_bytes_max = (size_t)config_get(n->cfg, CFG_INLINE_MAX_BYTES);
}

struct conn *conn_create(struct loop *lp, int fd, const char *addr, const char *laddr)
{
	struct conn *cn = calloc(1, sizeof(*cn));
	if (!cn)
		return NULL;
	struct net *net = lp->net;
	cn->fd = fd;
	cn->loop = lp;
	uint64_t id = atomic_fetch_add(&net->next_client_id, 1);
	client_init(&cn->client, net->node, lp->thr, id);
	snprintf(cn->client.addr, sizeof(cn->client.addr), "%s", addr);
	snprintf(cn->client.laddr, sizeof(cn->client.laddr), "%s", laddr);
	buf_init(&cn->in);
	struct resp_limits limits;
	parser_limits(net->node, &limits);
	resp_parser_init(&cn->parser, &limits);
	cn->last_io_ms = lp->thr->now_ms;
	cn->reading = true;
	atomic_init(&cn->kill, false);
	return cn;
}

static size_t out_pending(const struct conn *cn)
{
	return cn->client.out.buf.len - cn->out_sent;
}

/* Writes as much pending output as the socket takes. Returns 0, or
 * ERR_IO when the connection is broken. */
static int write_out(struct conn *cn)
{
	struct buf *b = &cn->client.out.buf;
	struct net *net = cn->loop->net;
	while (cn->out_sent < b->len) {
		ssize_t n = write(cn->fd, b->data + cn->out_sent, b->len - cn->out_sent);
		if (n > 0) {
			cn->out_sent += (size_t)n;
			cn->last_io_ms = cn->loop->thr->now_ms;
			cn->out_since_ms = cn->last_io_ms;
			atomic_fetch_add_explicit(&net->net_output_bytes, (uint64_t)n,
			                          memory_order_relaxed);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return ERR_IO;
	}
	if (cn->out_sent == b->len) {
		b->len = 0;
		cn->out_sent = 0;
	} else if (cn->out_sent > b->len / 2) {
		buf_consume(b, cn->out_sent);
		cn->out_sent = 0;
	}
	return 0;
}

/* True while a parked client's query buffer is full: reading waits for the
 * reply, which lets the held input run. */
static bool parked_input_full(const struct conn *cn)
{
	if (!cn->park)
		return false;
	struct node *node = cn->loop->net->node;
	return cn->in.len >= (size_t)config_get(node->cfg, CFG_CLIENT_QUERY_BUFFER_LIMIT);
}

/* Writes output and sets the socket's interest to match. Returns false if
 * the connection was closed. */
static bool flush(struct conn *cn)
{
	if (out_pending(cn) > 0 && write_out(cn) != 0) {
		conn_close(cn);
		return false;
	}
	if (out_pending(cn) == 0) {
		if (cn->close_after_flush) {
			conn_close(cn);
			return false;
		}
		if (cn->client.out.buf.cap > IDLE_BUFFER_KEEP_BYTES)
			buf_shrink(&cn->client.out.buf, IDLE_BUFFER_KEEP_BYTES);
	}
	/* Replies held back the input (paused) and have drained here rather
	 * than on EPOLLOUT (conn_on_writable): read again, and run what is
	 * already buffered; else nothing would ever wake this client up. */
	if (cn->paused && !cn->loop->stopping && out_pending(cn) < OUTPUT_SOFT_BYTES) {
		cn->paused = false;
		if (cn->in.len)
			loop_add_pending(cn->loop, cn);
	}
	bool want_write = out_pending(cn) > 0;
	bool reading = !cn->paused && !cn->close_after_flush && !parked_input_full(cn);
	if (want_write != cn->want_write || reading != cn->reading) {
		if (want_write && !cn->want_write)
			cn->out_since_ms = cn->loop->thr->now_ms;
		cn->want_write = want_write;
		cn->reading = reading;
		loop_update_events(cn->loop, cn);
	}
	return true;
}

static void reply_protocol_error(struct conn *cn)
{
	resp_w_errorf(&cn->client.out, "ERR %s", cn->parser.errmsg);
	cn->close_after_flush = true;
}

/* Executes one parsed command. */
static void execute(struct conn *cn)
{
	struct client *c = &cn->client;
	c->argv = cn->parser.argv;
	c->argc = cn->parser.argc;
	atomic_store_explicit(&cn->loop->executing, cn, memory_order_relaxed);
	cmd_dispatch(c);
	atomic_store_explicit(&cn->loop->executing, NULL, memory_order_relaxed);
	if (c->flags & CLIENT_CLOSE_AFTER_REPLY)
		cn->close_after_flush = true;
}

/* True when execution must stop for now because the client is not reading
 * its replies. Tries a write first. */
static bool output_over_soft_limit(struct conn *cn)
{
	if (out_pending(cn) < OUTPUT_SOFT_BYTES)
		return false;
	if (write_out(cn) != 0) {
		cn->close_after_flush = true;
		return true;
	}
	return out_pending(cn) >= OUTPUT_SOFT_BYTES;
}

/* Parses and executes the buffered input, a bounded number of commands.
 * Returns false if the connection was closed. */
static bool process_input(struct conn *cn)
{
	struct client *c = &cn->client;
	size_t pos = 0;
	unsigned executed = 0;
	if (cn->park) {
		/* Input waits for the parked reply; flush() decides whether to
		 * keep reading. */
		loop_add_write(cn->loop, cn);
		return true;
	}
	cn->paused = false;
	c->thr->now_ms = env_wall_ms();
	/* The output cap may have changed at run time (CONFIG SET). */
	c->out.cap_bytes = (size_t)config_get(c->node->cfg, CFG_CLIENT_OUTPUT_MAX_BYTES);
	while (pos < cn->in.len && !cn->close_after_flush) {
		if (executed == COMMANDS_PER_TURN) {
			loop_add_pending(cn->loop, cn);
			break;
		}
		size_t used = 0;
		int rc = resp_parse(&cn->parser, cn->in.data + pos, cn->in.len - pos, &used);
		if (rc == RESP_MORE)
			break;
		if (rc == ERR_PROTO) {
			reply_protocol_error(cn);
			break;
		}
		if (rc != RESP_DONE) {
			conn_close(cn); /* out of memory for this client's arguments */
			return false;
		}
		if (cn->parser.argc > 0) {
			execute(cn);
			executed++;
		}
		pos += used;
		resp_parser_reset(&cn->parser);
		if (c->out.err) {
			conn_close(cn); /* output over client-output-max-bytes */
			return false;
		}
		if (cn->park)
			break; /* the rest runs after its reply (conn_unpark) */
		if (output_over_soft_limit(cn)) {
			cn->paused = true;
			break;
		}
	}
	buf_consume(&cn->in, pos);
	if (cn->in.len == 0 && cn->in.cap > IDLE_BUFFER_KEEP_BYTES)
		buf_shrink(&cn->in, IDLE_BUFFER_KEEP_BYTES);
	/* Replies are written once all ready connections have been served
	 * (conn_flush_deferred), as Redis does before it sleeps: every client
	 * of a turn gets its replies at about the same moment. */
	loop_add_write(cn->loop, cn);
	return true;
}

void conn_flush_deferred(struct conn *cn)
{
	cn->write_queued = false;
	if (!cn->closed)
		flush(cn);
}

/* Bytes to ask read() for: more while a large bulk is arriving. */
static size_t read_size(struct conn *cn)
{
	size_t wanted = resp_parser_bytes_wanted(&cn->parser, cn->in.len);
	if (wanted <= READ_CHUNK_BYTES)
		return READ_CHUNK_BYTES;
	return wanted < READ_BULK_CHUNK_BYTES ? wanted : READ_BULK_CHUNK_BYTES;
}

void conn_on_readable(struct conn *cn)
{
	struct node *node = cn->loop->net->node;
	size_t want = read_size(cn);
	size_t cap = (size_t)config_get(node->cfg, CFG_CLIENT_QUERY_BUFFER_LIMIT);
	int rc = buf_reserve(&cn->in, want, cap);
	if (rc == ERR_LIMIT && cn->in.len < cap)
		rc = buf_reserve(&cn->in, cap - cn->in.len, cap);
	if (rc != 0) {
		LOG_W(node->log, "Closing client id=%llu addr=%s: %s",
		      (unsigned long long)cn->client.id, cn->client.addr,
		      rc == ERR_LIMIT ? "it reached the max query buffer length"
		                      : "out of memory for its query buffer");
		conn_close(cn);
		return;
	}
	ssize_t n = read(cn->fd, cn->in.data + cn->in.len, cn->in.cap - cn->in.len);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(cn);
		return;
	}
	cn->in.len += (size_t)n;
	cn->last_io_ms = cn->loop->thr->now_ms;
	atomic_fetch_add_explicit(&cn->loop->net->net_input_bytes, (uint64_t)n,
	                          memory_order_relaxed);
	/* Limits may have changed at run time (CONFIG SET). */
	parser_limits(node, &cn->parser.limits);
	process_input(cn);
}

void conn_on_writable(struct conn *cn)
{
	cn->loop->thr->now_ms = env_wall_ms();
	if (write_out(cn) != 0) {
		conn_close(cn);
		return;
	}
	if (cn->paused && !cn->loop->stopping && out_pending(cn) < OUTPUT_SOFT_BYTES) {
		process_input(cn); /* resume the input held back */
		return;
	}
	flush(cn);
}

void conn_resume(struct conn *cn)
{
	if (!cn->closed && !cn->paused)
		process_input(cn);
}

void conn_close(struct conn *cn)
{
	if (cn->closed)
		return;
	cn->closed = true;
	struct loop *lp = cn->loop;
	epoll_ctl(lp->epfd, EPOLL_CTL_DEL, cn->fd, NULL);
	close(cn->fd);
	cn->fd = -1;
	if (cn->park) {
		park_detach(cn->park); /* its completion, if any, is dropped */
		cn->park = NULL;
		atomic_fetch_sub(&lp->net->parked, 1);
	}
	registry_remove(lp->net, cn);
	cn->closed_next = lp->closed;
	lp->closed = cn;
	/* Unlinking from the loop's list and freeing happen in the loop
	 * (loop_reap), so a conn pointer held by the current event stays
	 * valid until the end of the turn. */
}

bool conn_cron(struct conn *cn, int64_t now_ms)
{
	struct node *node = cn->loop->net->node;
	if (atomic_load_explicit(&cn->kill, memory_order_acquire)) {
		conn_close(cn);
		return true;
	}
	/* A parked client is not idle: it waits for us. */
	int64_t timeout_s = config_get(node->cfg, CFG_TIMEOUT);
	if (timeout_s > 0 && !cn->park && out_pending(cn) == 0 &&
	    now_ms - cn->last_io_ms > timeout_s * 1000) {
		conn_close(cn);
		return true;
	}
	int64_t stall_ms = config_get(node->cfg, CFG_CLIENT_OUTPUT_STALL_MS);
	if (out_pending(cn) > 0 && now_ms - cn->out_since_ms > stall_ms) {
		LOG_N(node->log,
		      "Closing client id=%llu addr=%s: its output made no progress for %lld ms",
		      (unsigned long long)cn->client.id, cn->client.addr, (long long)stall_ms);
		conn_close(cn);
		return true;
	}
	return false;
}

bool conn_flush_for_shutdown(struct conn *cn)
{
	if (cn->closed)
		return true;
	if (out_pending(cn) > 0 && write_out(cn) != 0)
		return true;
	return out_pending(cn) == 0;
}

/* ---- Parking ---------------------------------------------------------------- */

struct park *client_park(struct client *c)
{
	struct node *n = c->node;
	if (n->hooks != &net_node_hooks || !n->net)
		return NULL;
	struct net *net = n->net;
	unsigned index = c->thr->index;
	if (index >= net->loop_count || net->loops[index].thr != c->thr)
		return NULL;
	struct loop *lp = &net->loops[index];
	/* Only the client whose command this loop is executing right now is a
	 * connection that can wait: any other client (an internal one, say)
	 * has no input to hold back. */
	struct conn *cn = atomic_load_explicit(&lp->executing, memory_order_relaxed);
	if (!cn || &cn->client != c || cn->park || cn->closed)
		return NULL;
	if ((c->flags & CLIENT_MULTI) || c->held)
		return NULL;
	struct park *p = park_create(&lp->parks, &net->park_timer, cn, c->out.proto);
	if (!p)
		return NULL;
	cn->park = p;
	atomic_fetch_add(&net->parked, 1);
	return p;
}

uint64_t park_count(struct node *n)
{
	if (n->hooks != &net_node_hooks || !n->net)
		return 0;
	return atomic_load(&((struct net *)n->net)->parked);
}

void conn_unpark(struct conn *cn, struct park *p)
{
	ASSERT(cn->park == p);
	ASSERT(!cn->closed); /* conn_close detaches the ticket */
	/* Valid until the caller's park_release. */
	struct bytes reply = park_reply(p);
	cn->park = NULL;
	park_detach(p);
	atomic_fetch_sub(&cn->loop->net->parked, 1);
	uint8_t *dst = resp_w_reserve(&cn->client.out, reply.len);
	if (!dst) {
		conn_close(cn); /* output over client-output-max-bytes */
		return;
	}
	memcpy(dst, reply.ptr, reply.len);
	cn->last_io_ms = cn->loop->thr->now_ms;
	/* As any reply: written at the end of the turn, after the input held
	 * meanwhile had its chance to run (and add its replies behind it). */
	if (cn->in.len)
		loop_add_pending(cn->loop, cn);
	loop_add_write(cn->loop, cn);
}
