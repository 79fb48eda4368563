/*
 * cnet.c - the cluster network thread; see cnet.h.
 */
#include "net/cnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"
#include "env/env.h"

#define READ_CHUNK   (64 * 1024)
#define IN_BYTES_MAX (CNET_OUT_BYTES_MAX + 1024 * 1024)
#define EVENTS_MAX   64
#define ADDR_BYTES   64

struct cnet_conn {
	int fd;
	bool outgoing, connecting, dead;
	char addr[ADDR_BYTES]; /* outgoing: the target; accepted: the peer */
	struct buf in, out;
	uint64_t failed_ms; /* outgoing: when it last failed (retry backoff) */
	void *user;         /* the owner's (cnet_conn_user) */
};

struct cnet {
	int epfd, lfd, wakefd;
	char bind_ip[INET6_ADDRSTRLEN];
	struct cnet_handler h;
	void *ctx;
	struct cnet_conn *conns[CNET_CONNS_MAX];
	size_t conn_count;
	struct env_thread thread;
	bool started;
	atomic_bool stop;
	/* Written by the cluster thread, read by any (relaxed atomics: each
	 * counter is exact, a snapshot of several is not a single instant). */
	struct {
		atomic_uint_fast64_t bytes_in, bytes_out, frames_dropped, connect_failures,
		    conns_closed_bad_input;
	} stats;
};

static int parse_addr(const char *addr, struct sockaddr_in *sa)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof(ip))
		return ERR_INVALID;
	memcpy(ip, addr, (size_t)(colon - addr));
	ip[colon - addr] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return ERR_INVALID;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : ERR_INVALID;
}

static void set_events(struct cnet *n, struct cnet_conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (c->connecting || c->out.len)
		ev.events |= EPOLLOUT;
	epoll_ctl(n->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static struct cnet_conn *conn_new(struct cnet *n, int fd, bool outgoing, const char *addr)
{
	if (n->conn_count == CNET_CONNS_MAX)
		return NULL;
	struct cnet_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->outgoing = outgoing;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	buf_init(&c->in);
	buf_init(&c->out);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (fd >= 0 && epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		free(c);
		return NULL;
	}
	n->conns[n->conn_count++] = c;
	return c;
}

/* Closes the socket; an outgoing conn stays (fd -1) to remember backoff. */
static void conn_fail(struct cnet *n, struct cnet_conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(n->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->in.len = 0;
	c->out.len = 0;
	c->connecting = false;
	c->failed_ms = env_mono_us() / 1000;
	if (!c->outgoing && !c->dead) {
		c->dead = true;
		if (n->h.on_close)
			n->h.on_close(n->ctx, c);
	}
}

static void reap(struct cnet *n)
{
	for (size_t i = 0; i < n->conn_count;) {
		struct cnet_conn *c = n->conns[i];
		if (!c->dead) {
			i++;
			continue;
		}
		buf_deinit(&c->in);
		buf_deinit(&c->out);
		free(c);
		n->conns[i] = n->conns[--n->conn_count];
	}
}

static int connect_out(struct cnet *n, struct cnet_conn *c)
{
	struct sockaddr_in to, from;
	if (parse_addr(c->addr, &to) != 0)
		return ERR_INVALID;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ERR_IO;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&from, 0, sizeof(from));
	from.sin_family = AF_INET;
	if (inet_pton(AF_INET, n->bind_ip, &from.sin_addr) == 1 &&
	    bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0) {
		close(fd);
		return ERR_IO;
	}
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 && errno != EINPROGRESS) {
		close(fd);
		return ERR_IO;
	}
	c->fd = fd;
	c->connecting = true;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		c->fd = -1;
		return ERR_IO;
	}
	return 0;
}

static void flush_out(struct cnet *n, struct cnet_conn *c)
{
	while (c->out.len) {
		ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_fail(n, c);
			return;
		}
		atomic_fetch_add_explicit(&n->stats.bytes_out, (uint64_t)w, memory_order_relaxed);
		buf_consume(&c->out, (size_t)w);
	}
	set_events(n, c);
}

int cnet_send(struct cnet *n, const char *addr, const void *p, size_t len)
{
	struct cnet_conn *c = NULL;
	for (size_t i = 0; i < n->conn_count; i++)
		if (n->conns[i]->outgoing && strcmp(n->conns[i]->addr, addr) == 0)
			c = n->conns[i];
	if (!c) {
		struct sockaddr_in sa;
		if (strlen(addr) >= ADDR_BYTES || parse_addr(addr, &sa) != 0)
			return ERR_INVALID;
		if (!(c = conn_new(n, -1, true, addr)))
			return ERR_NOMEM;
	}
	if (c->fd < 0) {
		uint64_t now_ms = env_mono_us() / 1000;
		if (c->failed_ms && now_ms < c->failed_ms + CNET_RETRY_MS) {
			atomic_fetch_add_explicit(&n->stats.frames_dropped, 1, memory_order_relaxed);
			return ERR_AGAIN;
		}
		if (connect_out(n, c) != 0) {
			atomic_fetch_add_explicit(&n->stats.connect_failures, 1, memory_order_relaxed);
			c->failed_ms = now_ms;
			atomic_fetch_add_explicit(&n->stats.frames_dropped, 1, memory_order_relaxed);
			return ERR_AGAIN;
		}
	}
	if (c->out.len + len > CNET_OUT_BYTES_MAX || buf_reserve(&c->out, len, CNET_OUT_BYTES_MAX)) {
		atomic_fetch_add_explicit(&n->stats.frames_dropped, 1, memory_order_relaxed);
		return ERR_LIMIT;
	}
	buf_put(&c->out, p, len);
	if (!c->connecting)
		flush_out(n, c);
	return 0;
}

static void on_writable(struct cnet *n, struct cnet_conn *c)
{
	if (c->connecting) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			atomic_fetch_add_explicit(&n->stats.connect_failures, 1, memory_order_relaxed);
			conn_fail(n, c);
			return;
		}
		c->connecting = false;
	}
	flush_out(n, c);
}

static void on_readable(struct cnet *n, struct cnet_conn *c)
{
	for (;;) {
		if (buf_reserve(&c->in, READ_CHUNK, IN_BYTES_MAX) != 0) {
			atomic_fetch_add_explicit(&n->stats.conns_closed_bad_input, 1, memory_order_relaxed);
			conn_fail(n, c);
			return;
		}
		ssize_t r = read(c->fd, c->in.data + c->in.len, READ_CHUNK);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			conn_fail(n, c);
			return;
		}
		if (r < 0)
			break;
		c->in.len += (size_t)r;
		atomic_fetch_add_explicit(&n->stats.bytes_in, (uint64_t)r, memory_order_relaxed);
		if (c->outgoing) { /* nothing is expected back on our own connections */
			c->in.len = 0;
			continue;
		}
		if (n->h.on_input(n->ctx, c, &c->in) != 0) {
			atomic_fetch_add_explicit(&n->stats.conns_closed_bad_input, 1, memory_order_relaxed);
			conn_fail(n, c);
			return;
		}
	}
}

static void on_accept(struct cnet *n)
{
	for (;;) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(n->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		char ip[INET_ADDRSTRLEN], peer[ADDR_BYTES];
		inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
		snprintf(peer, sizeof(peer), "%s:%u", ip, (unsigned)ntohs(sa.sin_port));
		if (!conn_new(n, fd, false, peer))
			close(fd);
	}
}

static void *cnet_main(void *arg)
{
	struct cnet *n = arg;
	struct epoll_event evs[EVENTS_MAX];
	uint64_t next_tick = 0;
	while (!atomic_load(&n->stop)) {
		int k = epoll_wait(n->epfd, evs, EVENTS_MAX, CNET_TICK_MS);
		for (int i = 0; i < k; i++) {
			void *p = evs[i].data.ptr;
			if (p == &n->lfd) {
				on_accept(n);
			} else if (p == &n->wakefd) {
				uint64_t v;
				if (read(n->wakefd, &v, sizeof(v)) > 0 && n->h.on_wake)
					n->h.on_wake(n->ctx);
			} else {
				struct cnet_conn *c = p;
				if (c->fd < 0)
					continue;
				if (evs[i].events & (EPOLLERR | EPOLLHUP) && c->connecting)
					on_writable(n, c);
				else if (evs[i].events & EPOLLOUT)
					on_writable(n, c);
				if (c->fd >= 0 && evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					on_readable(n, c);
			}
		}
		uint64_t now = env_mono_us() / 1000;
		if (now >= next_tick) {
			next_tick = now + CNET_TICK_MS;
			n->h.on_tick(n->ctx, now);
		}
		reap(n);
	}
	return NULL;
}

int cnet_open(struct cnet **out, const char *bind_ip, uint16_t port,
              const struct cnet_handler *h, void *ctx, char *err, size_t err_cap)
{
	struct cnet *n = calloc(1, sizeof(*n));
	if (!n)
		return ERR_NOMEM;
	n->h = *h;
	n->ctx = ctx;
	n->lfd = n->wakefd = -1;
	snprintf(n->bind_ip, sizeof(n->bind_ip), "%s", bind_ip);
	char addr[ADDR_BYTES];
	snprintf(addr, sizeof(addr), "%s:%u", bind_ip, (unsigned)port);
	struct sockaddr_in sa;
	int rc = parse_addr(addr, &sa);
	if (rc) {
		snprintf(err, err_cap, "cluster: bad address %s (IPv4 only)", addr);
		free(n);
		return rc;
	}
	n->epfd = epoll_create1(EPOLL_CLOEXEC);
	n->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	n->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (n->lfd >= 0)
		setsockopt(n->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (n->epfd < 0 || n->wakefd < 0 || n->lfd < 0 ||
	    bind(n->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(n->lfd, 128) != 0) {
		snprintf(err, err_cap, "cluster: cannot listen on %s: %s", addr, strerror(errno));
		cnet_close(n);
		return ERR_IO;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &n->lfd};
	epoll_ctl(n->epfd, EPOLL_CTL_ADD, n->lfd, &ev);
	struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &n->wakefd};
	epoll_ctl(n->epfd, EPOLL_CTL_ADD, n->wakefd, &wev);
	*out = n;
	return 0;
}

int cnet_start(struct cnet *n)
{
	int rc = env_thread_start(&n->thread, "ringkv-cluster", cnet_main, n);
	n->started = rc == 0;
	return rc;
}

void cnet_wake(struct cnet *n)
{
	uint64_t one = 1;
	(void)!write(n->wakefd, &one, sizeof(one));
}

void cnet_close(struct cnet *n)
{
	if (!n)
		return;
	if (n->started) {
		atomic_store(&n->stop, true);
		cnet_wake(n);
		env_thread_join(&n->thread);
	}
	for (size_t i = 0; i < n->conn_count; i++) {
		struct cnet_conn *c = n->conns[i];
		if (c->fd >= 0)
			close(c->fd);
		if (!c->outgoing && !c->dead && n->h.on_close)
			n->h.on_close(n->ctx, c);
		buf_deinit(&c->in);
		buf_deinit(&c->out);
		free(c);
	}
	if (n->lfd >= 0)
		close(n->lfd);
	if (n->wakefd >= 0)
		close(n->wakefd);
	if (n->epfd >= 0)
		close(n->epfd);
	free(n);
}

void **cnet_conn_user(struct cnet_conn *c)
{
	return &c->user;
}

const char *cnet_conn_peer(const struct cnet_conn *c)
{
	return c->addr;
}

void cnet_get_stats(struct cnet *n, struct cnet_stats *out)
{
	out->bytes_in = atomic_load_explicit(&n->stats.bytes_in, memory_order_relaxed);
	out->bytes_out = atomic_load_explicit(&n->stats.bytes_out, memory_order_relaxed);
	out->frames_dropped = atomic_load_explicit(&n->stats.frames_dropped, memory_order_relaxed);
	out->connect_failures =
	    atomic_load_explicit(&n->stats.connect_failures, memory_order_relaxed);
	out->conns_closed_bad_input =
	    atomic_load_explicit(&n->stats.conns_closed_bad_input, memory_order_relaxed);
}
