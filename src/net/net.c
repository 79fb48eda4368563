/*
 * net.c - event loops, listeners, the client registry and the hooks that
 * commands use; see net.h for the threading model.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/err.h"
#include "keyspace/keyspace.h"
#include "net/net_internal.h"

#define EVENTS_PER_WAIT   256
#define ACCEPTS_PER_EVENT 64
/* Time per cron run for table upkeep (incremental rehash while idle). */
#define MAINTAIN_BUDGET_US 1000

/* epoll user data: a listener index (tagged) or a conn pointer. */
#define TAG_LISTEN 1u
#define TAG_WAKE   3u

static const char DENIED_MSG[] =
    "-DENIED ringkv is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from "
    "the loopback interface. If you want to connect from external computers to ringkv you may "
    "adopt one of the following solutions: 1) Set a password with 'requirepass' (or CONFIG SET "
    "requirepass from a loopback client), 2) Disable protected mode with 'protected-mode no' if "
    "you are sure the server is not reachable from untrusted networks.\r\n";
static const char MAXCLIENTS_MSG[] = "-ERR max number of clients reached\r\n";

/* ---- Registry -------------------------------------------------------------- */

void registry_add(struct net *net, struct conn *cn)
{
	env_mutex_lock(&net->reg_mu);
	cn->reg_prev = NULL;
	cn->reg_next = net->registry;
	if (net->registry)
		net->registry->reg_prev = cn;
	net->registry = cn;
	env_mutex_unlock(&net->reg_mu);
}

void registry_remove(struct net *net, struct conn *cn)
{
	env_mutex_lock(&net->reg_mu);
	if (cn->reg_prev)
		cn->reg_prev->reg_next = cn->reg_next;
	else
		net->registry = cn->reg_next;
	if (cn->reg_next)
		cn->reg_next->reg_prev = cn->reg_prev;
	cn->reg_prev = cn->reg_next = NULL;
	env_mutex_unlock(&net->reg_mu);
	atomic_fetch_sub(&net->connected, 1);
}

static struct net *net_of(struct node *n)
{
	return n->net;
}

static int format_client(struct buf *dst, struct conn *cn, int64_t now_ms)
{
	struct client *c = &cn->client;
	char line[1024];
	int n = snprintf(
	    line, sizeof(line),
	    "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=%s db=0 "
	    "sub=0 psub=0 ssub=0 multi=%lld qbuf=%zu qbuf-free=%zu argv-mem=0 "
	    "multi-mem=0 rbs=%zu rbp=0 obl=0 oll=0 omem=%zu tot-mem=%zu events=%s "
	    "cmd=%s user=default redir=-1 resp=%d\n",
	    (unsigned long long)c->id, c->addr, c->laddr, cn->fd, c->name,
	    (long long)((now_ms - c->ctime_ms) / 1000),
	    (long long)((now_ms - c->last_cmd_ms) / 1000), (c->flags & CLIENT_MULTI) ? "x" : "N",
	    (c->flags & CLIENT_MULTI) ? (long long)c->queue_len : -1LL, cn->in.len,
	    cn->in.cap - cn->in.len, cn->in.cap, c->out.buf.len, cn->in.cap + c->out.buf.cap,
	    cn->want_write ? "rw" : "r", c->last_cmd_name, c->out.proto);
	if (n < 0)
		return 0;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (buf_reserve(dst, len, SIZE_MAX) != 0)
		return ERR_NOMEM;
	buf_put(dst, line, len);
	return 0;
}

static bool id_listed(uint64_t id, const uint64_t *ids, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static int hook_client_list(struct node *n, struct buf *dst, const uint64_t *ids, size_t id_count)
{
	struct net *net = net_of(n);
	int64_t now = env_wall_ms();
	int rc = 0;
	env_mutex_lock(&net->reg_mu);
	/* The registry is newest first; CLIENT LIST shows oldest first. */
	struct conn *last = net->registry;
	while (last && last->reg_next)
		last = last->reg_next;
	for (struct conn *cn = last; cn && rc == 0; cn = cn->reg_prev)
		if (!atomic_load_explicit(&cn->kill, memory_order_acquire) &&
		    (id_count == 0 || id_listed(cn->client.id, ids, id_count)))
			rc = format_client(dst, cn, now);
	env_mutex_unlock(&net->reg_mu);
	return rc;
}

static uint64_t hook_client_kill(struct node *n, struct client *self, uint64_t id, const char *addr,
                                 const char *laddr, bool skip_self)
{
	struct net *net = net_of(n);
	uint64_t killed = 0;
	env_mutex_lock(&net->reg_mu);
	for (struct conn *cn = net->registry; cn; cn = cn->reg_next) {
		struct client *c = &cn->client;
		/* A client already being killed is gone as far as commands can
		 * tell, although its loop has not closed it yet. */
		if (atomic_load_explicit(&cn->kill, memory_order_acquire))
			continue;
		if ((id && c->id != id) || (addr && strcmp(c->addr, addr) != 0) ||
		    (laddr && strcmp(c->laddr, laddr) != 0) || (skip_self && c == self))
			continue;
		atomic_store_explicit(&cn->kill, true, memory_order_release);
		uint64_t one = 1;
		ssize_t w = write(cn->loop->wakefd, &one, sizeof(one));
		(void)w;
		killed++;
	}
	env_mutex_unlock(&net->reg_mu);
	return killed;
}

static void hook_client_set_name(struct node *n, struct client *c, struct bytes name)
{
	struct net *net = net_of(n);
	size_t len = name.len < CLIENT_NAME_BYTES_MAX ? name.len : CLIENT_NAME_BYTES_MAX;
	env_mutex_lock(&net->reg_mu);
	memcpy(c->name, name.ptr, len);
	c->name[len] = '\0';
	env_mutex_unlock(&net->reg_mu);
}

static uint64_t hook_client_count(struct node *n)
{
	return atomic_load(&net_of(n)->connected);
}

static void hook_shutdown(struct node *n)
{
	net_request_shutdown(net_of(n));
}

static void hook_info_stats(struct node *n, struct buf *dst)
{
	struct net *net = net_of(n);
	char text[512];
	int len = snprintf(text, sizeof(text),
	                   "total_connections_received:%llu\r\nrejected_connections:%llu\r\n"
	                   "total_net_input_bytes:%llu\r\ntotal_net_output_bytes:%llu\r\n",
	                   (unsigned long long)atomic_load(&net->total_connections),
	                   (unsigned long long)atomic_load(&net->rejected_connections),
	                   (unsigned long long)atomic_load(&net->net_input_bytes),
	                   (unsigned long long)atomic_load(&net->net_output_bytes));
	if (len > 0 && buf_reserve(dst, (size_t)len, SIZE_MAX) == 0)
		buf_put(dst, text, (size_t)len);
}

static void hook_reset_stats(struct node *n)
{
	struct net *net = net_of(n);
	atomic_store(&net->total_connections, 0);
	atomic_store(&net->rejected_connections, 0);
	atomic_store(&net->net_input_bytes, 0);
	atomic_store(&net->net_output_bytes, 0);
}

const struct node_hooks net_node_hooks = {
    .reset_stats = hook_reset_stats,
    .client_list = hook_client_list,
    .client_kill = hook_client_kill,
    .client_set_name = hook_client_set_name,
    .client_count = hook_client_count,
    .shutdown = hook_shutdown,
    .info_stats = hook_info_stats,
};

/* ---- Listeners --------------------------------------------------------------- */

int net_listen_socket(const char *addr, int port, int backlog, char *err, size_t errcap)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	const char *host = addr[0] == '*' ? "0.0.0.0" : addr;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, host[0] == '-' ? host + 1 : host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		len = sizeof(*v6);
	} else {
		snprintf(err, errcap, "bind address '%s' is not an IPv4 or IPv6 address", addr);
		return ERR_INVALID;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errcap, "socket: %s", strerror(errno));
		return ERR_IO;
	}
	/* SO_REUSEADDR (restart while old connections linger in TIME_WAIT),
	 * never SO_REUSEPORT: with it a second server started on the same
	 * port by mistake would silently share it and split the clients. */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
		snprintf(err, errcap, "could not listen on %s:%d: %s", addr, port, strerror(errno));
		close(fd);
		return ERR_IO;
	}
	return fd;
}

/* Splits the bind setting into addresses. */
static unsigned split_bind(char *s, char *addrs[BIND_ADDRS_MAX])
{
	unsigned n = 0;
	for (char *save = NULL, *tok = strtok_r(s, " ", &save); tok && n < BIND_ADDRS_MAX;
	     tok = strtok_r(NULL, " ", &save))
		addrs[n++] = tok;
	return n;
}

/* Opens one listening socket per bind address, shared by every loop. */
static int net_listen(struct net *net, char *err, size_t errcap)
{
	struct config *cfg = net->node->cfg;
	char bind_s[512];
	config_get_str(cfg, CFG_BIND, bind_s, sizeof(bind_s));
	char *addrs[BIND_ADDRS_MAX];
	unsigned n = split_bind(bind_s, addrs);
	if (n == 0) {
		snprintf(err, errcap, "no bind address");
		return ERR_INVALID;
	}
	int port = (int)config_get(cfg, CFG_PORT);
	int backlog = (int)config_get(cfg, CFG_TCP_BACKLOG);
	for (unsigned i = 0; i < n; i++) {
		int fd = net_listen_socket(addrs[i], port, backlog, err, errcap);
		if (fd < 0)
			return fd;
		net->listen_fds[net->listen_count++] = fd;
	}
	return 0;
}

/* Every loop waits on every listener; EPOLLEXCLUSIVE wakes one loop per
 * new connection rather than all of them, which spreads accepts over the
 * threads without SO_REUSEPORT. */
static void loop_watch_listeners(struct loop *lp)
{
	struct net *net = lp->net;
	for (unsigned i = 0; i < net->listen_count; i++) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
		                         .data.u64 = ((uint64_t)i << 2) | TAG_LISTEN};
		epoll_ctl(lp->epfd, EPOLL_CTL_ADD, net->listen_fds[i], &ev);
	}
}

/* Closes the listeners once (the first loop to stop does it), so that new
 * clients are refused from the moment shutdown begins. */
static void net_close_listeners(struct net *net)
{
	if (atomic_exchange(&net->listeners_closed, true))
		return;
	for (unsigned i = 0; i < net->listen_count; i++)
		close(net->listen_fds[i]);
}

/* ---- Loop ------------------------------------------------------------------- */

void loop_update_events(struct loop *lp, struct conn *cn)
{
	if (cn->closed)
		return;
	struct epoll_event ev = {.events = (cn->reading ? EPOLLIN : 0u) |
	                             (cn->want_write ? EPOLLOUT : 0u),
	                         .data.ptr = cn};
	epoll_ctl(lp->epfd, EPOLL_CTL_MOD, cn->fd, &ev);
}

void loop_add_pending(struct loop *lp, struct conn *cn)
{
	if (cn->pending)
		return;
	cn->pending = true;
	cn->pending_next = lp->pending;
	lp->pending = cn;
}

void loop_add_write(struct loop *lp, struct conn *cn)
{
	if (cn->write_queued)
		return;
	cn->write_queued = true;
	cn->write_next = lp->writes;
	lp->writes = cn;
}

static void run_writes(struct loop *lp)
{
	struct conn *list = lp->writes;
	lp->writes = NULL;
	/* The turn's writes reach the OS before their replies leave (engine.h,
	 * flush_log). If they cannot, no reply of this turn can be trusted to
	 * tell the truth: the clients are disconnected instead, so a write is
	 * never reported done that a crash of the process could lose. */
	struct node *node = lp->net->node;
	int err = list ? ks_flush_log(node->ks) : 0;
	if (err)
		LOG_W(node->log, "the write-ahead log could not be written (%s): closing the clients "
		                 "of this turn, whose writes have an unknown outcome%s",
		      err_str(err),
		      err == ERR_NOSPACE ? "; writes resume once disk space is freed"
		                         : "; writes now fail until the server is restarted");
	while (list) {
		struct conn *cn = list;
		list = cn->write_next;
		if (err) {
			cn->write_queued = false;
			conn_close(cn);
		} else {
			conn_flush_deferred(cn);
		}
	}
}

static void format_addr(const struct sockaddr_storage *ss, char *dst, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
		snprintf(dst, cap, "%s:%d", ip, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
		snprintf(dst, cap, "[%s]:%d", ip, port);
	} else {
		snprintf(dst, cap, "?:0");
	}
}

/* Redis's rule: only 127.0.0.1 and ::1 count as local for protected mode. */
static bool is_loopback_peer(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		return ntohl(a->sin_addr.s_addr) == INADDR_LOOPBACK;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
	}
	return false;
}

static void refuse(struct net *net, int fd, const char *msg, size_t len)
{
	ssize_t w = write(fd, msg, len);
	(void)w;
	close(fd);
	atomic_fetch_add(&net->rejected_connections, 1);
}

static void accept_one(struct loop *lp, int fd, const struct sockaddr_storage *peer)
{
	struct net *net = lp->net;
	struct node *node = net->node;
	atomic_fetch_add(&net->total_connections, 1);
	if (config_get(node->cfg, CFG_PROTECTED_MODE) && !atomic_load(&node->requirepass_set) &&
	    !is_loopback_peer(peer)) {
		refuse(net, fd, DENIED_MSG, sizeof(DENIED_MSG) - 1);
		return;
	}
	uint64_t now_connected = atomic_fetch_add(&net->connected, 1) + 1;
	if (now_connected > (uint64_t)config_get(node->cfg, CFG_MAXCLIENTS)) {
		atomic_fetch_sub(&net->connected, 1);
		refuse(net, fd, MAXCLIENTS_MSG, sizeof(MAXCLIENTS_MSG) - 1);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	char addr[64], laddr[64];
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	format_addr(peer, addr, sizeof(addr));
	if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0)
		format_addr(&local, laddr, sizeof(laddr));
	else
		snprintf(laddr, sizeof(laddr), "?:0");
	struct conn *cn = conn_create(lp, fd, addr, laddr);
	if (!cn) {
		atomic_fetch_sub(&net->connected, 1);
		close(fd);
		return;
	}
	registry_add(net, cn);
	cn->loop_next = lp->conns;
	if (lp->conns)
		lp->conns->loop_prev = cn;
	lp->conns = cn;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cn};
	epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Gives a new connection to the next loop in turn: whichever thread the
 * kernel woke for the accept, connections end up spread evenly. The queue
 * is touched only on connect, never on the request path. */
static void hand_off(struct loop *lp, int fd, const struct sockaddr_storage *peer)
{
	struct net *net = lp->net;
	unsigned target = (unsigned)(atomic_fetch_add(&net->next_loop, 1) % net->loop_count);
	struct loop *to = &net->loops[target];
	if (to == lp) {
		accept_one(lp, fd, peer);
		return;
	}
	env_mutex_lock(&to->handoff_mu);
	bool queued = to->handoff_len < HANDOFF_MAX;
	if (queued)
		to->handoff[to->handoff_len++] = (struct handoff){fd, *peer};
	env_mutex_unlock(&to->handoff_mu);
	if (!queued) {
		accept_one(lp, fd, peer); /* the target is swamped: keep it here */
		return;
	}
	uint64_t one = 1;
	ssize_t w = write(to->wakefd, &one, sizeof(one));
	(void)w;
}

/* Takes the connections other loops handed to this one. */
static void take_handoffs(struct loop *lp)
{
	struct handoff batch[HANDOFF_MAX];
	env_mutex_lock(&lp->handoff_mu);
	size_t n = lp->handoff_len;
	memcpy(batch, lp->handoff, n * sizeof(batch[0]));
	lp->handoff_len = 0;
	env_mutex_unlock(&lp->handoff_mu);
	for (size_t i = 0; i < n; i++) {
		if (lp->stopping)
			close(batch[i].fd);
		else
			accept_one(lp, batch[i].fd, &batch[i].peer);
	}
}

static void on_accept(struct loop *lp, int lfd)
{
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd =
		    accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				LOG_W(lp->net->node->log, "accept: %s", strerror(errno));
			return;
		}
		hand_off(lp, fd, &peer);
	}
}

/* Frees the connections closed during this turn (a closed conn still on
 * the resume list waits one more turn). */
static void loop_reap(struct loop *lp)
{
	struct conn *keep = NULL;
	struct conn *cn = lp->closed;
	lp->closed = NULL;
	while (cn) {
		struct conn *next = cn->closed_next;
		if (cn->pending || cn->write_queued) {
			cn->closed_next = keep;
			keep = cn;
		} else {
			if (cn->loop_prev)
				cn->loop_prev->loop_next = cn->loop_next;
			else
				lp->conns = cn->loop_next;
			if (cn->loop_next)
				cn->loop_next->loop_prev = cn->loop_prev;
			client_deinit(&cn->client);
			resp_parser_deinit(&cn->parser);
			buf_deinit(&cn->in);
			free(cn);
		}
		cn = next;
	}
	lp->closed = keep;
}

static void run_pending(struct loop *lp)
{
	struct conn *list = lp->pending;
	lp->pending = NULL;
	while (list) {
		struct conn *cn = list;
		list = cn->pending_next;
		cn->pending = false;
		conn_resume(cn);
	}
}

static void loop_cron(struct loop *lp, int64_t now_ms)
{
	struct net *net = lp->net;
	struct node *node = net->node;
	int64_t hz = config_get(node->cfg, CFG_HZ);
	int64_t period_ms = 1000 / (hz > 0 ? hz : 10);
	if (now_ms < lp->next_cron_ms)
		return;
	lp->next_cron_ms = now_ms + period_ms;
	lp->thr->now_ms = now_ms;
	if (config_get(node->cfg, CFG_ACTIVE_EXPIRE)) {
		uint64_t budget_us = (uint64_t)period_ms * 1000 * EXPIRE_CPU_PERCENT / 100;
		ks_active_expire(node->ks, lp->index, net->loop_count, now_ms, budget_us,
		                 env_rng_next(&lp->thr->rng));
	}
	ks_maintain(node->ks, lp->index, net->loop_count, MAINTAIN_BUDGET_US);
	if (lp->index == 0)
		cmd_node_cron(node, now_ms);
	for (struct conn *cn = lp->conns; cn; cn = cn->loop_next)
		if (!cn->closed)
			conn_cron(cn, now_ms);
}

/* The park queue's wake-up (any thread): the loop's eventfd. */
static void loop_wake(void *arg)
{
	struct loop *lp = arg;
	uint64_t one = 1;
	ssize_t w = write(lp->wakefd, &one, sizeof(one));
	(void)w;
}

/* Hands completed tickets to their parked conns (those still open). The
 * list is bounded by this loop's parked conns: each is queued once. */
static void deliver_parks(struct loop *lp)
{
	struct park *p = park_queue_take(&lp->parks);
	while (p) {
		struct park *next = park_next(p);
		struct conn *cn = park_owner(p);
		if (cn)
			conn_unpark(cn, p);
		park_release(p);
		p = next;
	}
}

static void drain_wakefd(struct loop *lp)
{
	uint64_t v;
	ssize_t r = read(lp->wakefd, &v, sizeof(v));
	(void)r;
	/* A wake-up means: shutdown, a connection handed over, a parked
	 * command completed, or a CLIENT KILL for one of ours. */
	take_handoffs(lp);
	deliver_parks(lp);
	for (struct conn *cn = lp->conns; cn; cn = cn->loop_next)
		if (!cn->closed && atomic_load_explicit(&cn->kill, memory_order_acquire))
			conn_close(cn);
}

static void handle_event(struct loop *lp, struct epoll_event *ev)
{
	uint64_t tag = ev->data.u64 & 3u;
	if (tag == TAG_WAKE) {
		drain_wakefd(lp);
		return;
	}
	if (tag == TAG_LISTEN) {
		if (!lp->stopping)
			on_accept(lp, lp->net->listen_fds[ev->data.u64 >> 2]);
		return;
	}
	struct conn *cn = ev->data.ptr;
	if (cn->closed)
		return;
	if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		conn_on_writable(cn);
	if (!cn->closed && (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && cn->reading)
		conn_on_readable(cn);
	/* A parked conn that stopped reading (its query buffer is full) would
	 * otherwise see a dead peer's ERR/HUP again on every wait. */
	if (!cn->closed && cn->park && !cn->reading && (ev->events & (EPOLLERR | EPOLLHUP)))
		conn_close(cn);
}

static void begin_stop(struct loop *lp, int64_t now_ms)
{
	lp->stopping = true;
	lp->stop_deadline_ms = now_ms + SHUTDOWN_FLUSH_MS;
	for (unsigned i = 0; i < lp->net->listen_count; i++)
		epoll_ctl(lp->epfd, EPOLL_CTL_DEL, lp->net->listen_fds[i], NULL);
	net_close_listeners(lp->net);
}

/* While stopping: true once every reply is flushed or the deadline passed. */
static bool stop_done(struct loop *lp, int64_t now_ms)
{
	bool all_flushed = true;
	(void)ks_flush_log(lp->net->node->ks); /* as run_writes: the log first */
	for (struct conn *cn = lp->conns; cn; cn = cn->loop_next)
		if (!conn_flush_for_shutdown(cn))
			all_flushed = false;
	return all_flushed || now_ms >= lp->stop_deadline_ms;
}

/* Waits for events. Right after a turn that had work, the loop first
 * polls without sleeping for up to busy-poll-us: a client answered a
 * moment ago is likely to send again within microseconds, and catching
 * that without going to sleep spares both sides a wake-up (on loopback the
 * sender pays for waking the receiver). The spin ends as soon as anything
 * arrives, is bounded, and happens only while the thread is busy. */
static int loop_wait(struct loop *lp, struct epoll_event *events, int timeout)
{
	int64_t spin_us = config_get(lp->net->node->cfg, CFG_BUSY_POLL_US);
	if (timeout != 0 && lp->busy && spin_us > 0) {
		uint64_t until = env_mono_us() + (uint64_t)spin_us;
		do {
			int n = epoll_wait(lp->epfd, events, EVENTS_PER_WAIT, 0);
			if (n != 0)
				return n;
		} while (env_mono_us() < until);
	}
	return epoll_wait(lp->epfd, events, EVENTS_PER_WAIT, timeout);
}

static void *loop_main(void *arg)
{
	struct loop *lp = arg;
	struct net *net = lp->net;
	struct epoll_event events[EVENTS_PER_WAIT];
	for (;;) {
		int64_t now = env_wall_ms();
		if (!lp->stopping && atomic_load(&net->shutdown))
			begin_stop(lp, now);
		if (lp->stopping && stop_done(lp, now))
			break;
		int timeout =
		    lp->pending ? 0 : (int)(lp->next_cron_ms > now ? lp->next_cron_ms - now : 0);
		if (lp->stopping)
			timeout = 10;
		int n = loop_wait(lp, events, timeout);
		lp->busy = n > 0;
		lp->thr->now_ms = env_wall_ms();
		for (int i = 0; i < n; i++)
			if (!lp->stopping || (events[i].data.u64 & 3u) == TAG_WAKE ||
			    (events[i].events & EPOLLOUT))
				handle_event(lp, &events[i]);
		if (!lp->stopping)
			run_pending(lp);
		run_writes(lp);
		loop_cron(lp, lp->thr->now_ms);
		loop_reap(lp);
	}
	/* Parked clients are closed with the rest; completions that arrive
	 * from now on find their tickets detached and are dropped. */
	for (struct conn *cn = lp->conns; cn; cn = cn->loop_next)
		conn_close(cn);
	for (struct conn *cn = lp->conns; cn; cn = cn->loop_next)
		cn->pending = cn->write_queued = false;
	loop_reap(lp);
	deliver_parks(lp); /* only releases: no conn is attached any more */
	return NULL;
}

/* ---- Life cycle --------------------------------------------------------------- */

static int loop_init(struct loop *lp, struct net *net, unsigned index, char *err, size_t errcap)
{
	lp->net = net;
	lp->index = index;
	lp->thr = &net->node->threads[index];
	env_mutex_init(&lp->handoff_mu);
	park_queue_init(&lp->parks, loop_wake, lp);
	lp->epfd = epoll_create1(EPOLL_CLOEXEC);
	lp->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lp->epfd < 0 || lp->wakefd < 0) {
		snprintf(err, errcap, "epoll/eventfd: %s", strerror(errno));
		return ERR_IO;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
	epoll_ctl(lp->epfd, EPOLL_CTL_ADD, lp->wakefd, &ev);
	loop_watch_listeners(lp);
	return 0;
}

static void loop_deinit(struct loop *lp)
{
	for (size_t i = 0; i < lp->handoff_len; i++)
		close(lp->handoff[i].fd);
	lp->handoff_len = 0;
	if (lp->net) {
		env_mutex_deinit(&lp->handoff_mu);
		park_queue_deinit(&lp->parks);
	}
	if (lp->wakefd >= 0)
		close(lp->wakefd);
	if (lp->epfd >= 0)
		close(lp->epfd);
}

int net_create(struct net **out, struct node *n, char *err, size_t errcap)
{
	struct net *net = calloc(1, sizeof(*net));
	if (!net) {
		snprintf(err, errcap, "out of memory");
		return ERR_NOMEM;
	}
	net->node = n;
	net->loop_count = n->thread_count;
	atomic_init(&net->next_client_id, 1);
	env_mutex_init(&net->reg_mu);
	park_timer_init(&net->park_timer);
	net->loops = calloc(net->loop_count, sizeof(*net->loops));
	if (!net->loops) {
		park_timer_deinit(&net->park_timer);
		env_mutex_deinit(&net->reg_mu);
		free(net);
		snprintf(err, errcap, "out of memory");
		return ERR_NOMEM;
	}
	for (unsigned i = 0; i < net->loop_count; i++)
		net->loops[i].epfd = net->loops[i].wakefd = -1;
	n->net = net;
	int rc = net_listen(net, err, errcap);
	if (rc != 0) {
		net_destroy(net);
		return rc;
	}
	for (unsigned i = 0; i < net->loop_count; i++) {
		rc = loop_init(&net->loops[i], net, i, err, errcap);
		if (rc != 0) {
			net_destroy(net);
			return rc;
		}
	}
	*out = net;
	return 0;
}

int net_run(struct net *net)
{
	unsigned started = 0;
	int rc = 0;
	for (; started < net->loop_count; started++) {
		char name[16];
		snprintf(name, sizeof(name), "ringkv-io-%u", started % 1000u);
		rc = env_thread_start(&net->loops[started].thread, name, loop_main,
		                      &net->loops[started]);
		if (rc != 0) {
			net_request_shutdown(net);
			break;
		}
	}
	for (unsigned i = 0; i < started; i++)
		env_thread_join(&net->loops[i].thread);
	return rc;
}

void net_request_shutdown(struct net *net)
{
	atomic_store(&net->shutdown, true);
	uint64_t one = 1;
	for (unsigned i = 0; i < net->loop_count; i++) {
		if (net->loops[i].wakefd >= 0) {
			ssize_t w = write(net->loops[i].wakefd, &one, sizeof(one));
			(void)w;
		}
	}
}

void net_destroy(struct net *net)
{
	if (!net)
		return;
	/* Completes what still waits on the timer; every conn has closed, so
	 * those replies are dropped and the loops' queues stay untouched. */
	park_timer_deinit(&net->park_timer);
	for (unsigned i = 0; i < net->loop_count; i++)
		loop_deinit(&net->loops[i]);
	net_close_listeners(net);
	env_mutex_deinit(&net->reg_mu);
	free(net->loops);
	free(net);
}
