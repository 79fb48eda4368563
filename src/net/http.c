/*
 * http.c - the /metrics and /health server; see http.h.
 *
 * A connection moves through two states: reading the request head (until
 * "\r\n\r\n", HTTP_REQUEST_BYTES_MAX, or the deadline) and writing the
 * whole reply, after which it is closed. Connections live in a fixed array
 * of HTTP_CONNS_MAX slots; when every slot is taken, a new connection is
 * accepted and closed at once rather than left in the backlog.
 */
#include "net/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "cmd/metrics.h"
#include "net/net_internal.h"

#define HTTP_EVENTS     64
#define HTTP_TICK_MS    250                /* how often deadlines are checked */
#define HTTP_REPLY_MAX  (64 * 1024 * 1024) /* a /metrics page is ~100 KiB */
#define TAG_HTTP_LISTEN 1u
#define TAG_HTTP_WAKE   3u

struct http_conn {
	int fd; /* -1: free slot */
	bool writing;
	bool draining; /* reply sent: reading to EOF so close() does not reset */
	int64_t deadline_ms;
	size_t in_len;
	char in[HTTP_REQUEST_BYTES_MAX];
	struct buf out;
	size_t out_sent;
};

struct http {
	struct node *node;
	struct net *net;
	int epfd, wakefd;
	int listen_fds[BIND_ADDRS_MAX];
	unsigned listen_count;
	struct env_thread thread;
	bool started;
	atomic_bool stop;
	struct http_conn conns[HTTP_CONNS_MAX];
};

/* ---- Listening ------------------------------------------------------------------ */

static int http_listen(struct http *h, char *err, size_t errcap)
{
	char bind_s[512];
	config_get_str(h->node->cfg, CFG_BIND, bind_s, sizeof(bind_s));
	int port = (int)config_get(h->node->cfg, CFG_HTTP_PORT);
	char *save = NULL;
	for (char *tok = strtok_r(bind_s, " ", &save); tok && h->listen_count < BIND_ADDRS_MAX;
	     tok = strtok_r(NULL, " ", &save)) {
		int fd = net_listen_socket(tok, port, 64, err, errcap);
		if (fd < 0) {
			char why[256];
			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errcap, "http-port: %s", why);
			return fd;
		}
		unsigned i = h->listen_count++;
		h->listen_fds[i] = fd;
		struct epoll_event ev = {.events = EPOLLIN,
		                         .data.u64 = ((uint64_t)i << 2) | TAG_HTTP_LISTEN};
		epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	if (h->listen_count == 0) {
		snprintf(err, errcap, "no bind address");
		return ERR_INVALID;
	}
	return 0;
}

/* ---- Connections ---------------------------------------------------------------- */

static void conn_free(struct http *h, struct http_conn *hc)
{
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, hc->fd, NULL);
	close(hc->fd);
	hc->fd = -1;
	buf_deinit(&hc->out);
}

static void on_accept(struct http *h, int lfd)
{
	for (int k = 0; k < HTTP_CONNS_MAX; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct http_conn *hc = NULL;
		for (size_t i = 0; i < HTTP_CONNS_MAX && !hc; i++)
			if (h->conns[i].fd < 0)
				hc = &h->conns[i];
		if (!hc) {
			close(fd); /* every slot busy: refuse rather than queue */
			continue;
		}
		hc->fd = fd;
		hc->writing = false;
		hc->draining = false;
		hc->in_len = 0;
		hc->out_sent = 0;
		hc->deadline_ms = env_wall_ms() + HTTP_CONN_TIMEOUT_MS;
		buf_init(&hc->out);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = hc};
		epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}

static void append(struct buf *b, const void *p, size_t n, int *rc)
{
	if (*rc == 0 && buf_reserve(b, n, HTTP_REPLY_MAX) != 0)
		*rc = ERR_NOMEM;
	if (*rc == 0)
		buf_put(b, p, n);
}

/* Puts a whole reply (status line, headers, body) into hc->out. */
static void reply(struct http_conn *hc, int status, const char *reason, const char *type,
                  const void *body, size_t body_len, bool head_only, const char *extra)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
	                 "Connection: close\r\n\r\n",
	                 status, reason, type, body_len, extra ? extra : "");
	int rc = 0;
	hc->out.len = 0;
	append(&hc->out, head, (size_t)n, &rc);
	if (!head_only)
		append(&hc->out, body, body_len, &rc);
	if (rc != 0)
		hc->out.len = 0; /* out of memory: close without a reply */
}

static void reply_text(struct http_conn *hc, int status, const char *reason, const char *text,
                       bool head_only, const char *extra)
{
	reply(hc, status, reason, "text/plain; charset=utf-8", text, strlen(text), head_only,
	      extra);
}

static void serve_metrics(struct http *h, struct http_conn *hc, bool head_only)
{
	struct net *net = h->net;
	struct metrics_net ns = {
	    .connections_received = atomic_load(&net->total_connections),
	    .connections_rejected = atomic_load(&net->rejected_connections),
	    .input_bytes = atomic_load(&net->net_input_bytes),
	    .output_bytes = atomic_load(&net->net_output_bytes),
	};
	struct buf body;
	buf_init(&body);
	if (metrics_render(h->node, &ns, &body) != 0)
		reply_text(hc, 500, "Internal Server Error", "out of memory\n", head_only, NULL);
	else
		reply(hc, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body.data,
		      body.len, head_only, NULL);
	buf_deinit(&body);
}

/* Answers the request head in hc->in (complete, NUL-free up to in_len). */
static void serve(struct http *h, struct http_conn *hc)
{
	/* Request line: METHOD SP TARGET SP HTTP/1.x */
	char method[16], target[256], version[16];
	char line[sizeof(target) + 64];
	size_t eol = 0;
	while (eol < hc->in_len && hc->in[eol] != '\r' && hc->in[eol] != '\n')
		eol++;
	size_t ll = eol < sizeof(line) - 1 ? eol : sizeof(line) - 1;
	memcpy(line, hc->in, ll);
	line[ll] = '\0';
	if (sscanf(line, "%15s %255s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		reply_text(hc, 400, "Bad Request", "bad request\n", false, NULL);
		return;
	}
	bool head_only = strcmp(method, "HEAD") == 0;
	if (!head_only && strcmp(method, "GET") != 0) {
		reply_text(hc, 405, "Method Not Allowed", "method not allowed\n", false,
		           "Allow: GET, HEAD\r\n");
		return;
	}
	char *query = strchr(target, '?');
	if (query)
		*query = '\0';
	if (strcmp(target, "/metrics") == 0) {
		serve_metrics(h, hc, head_only);
	} else if (strcmp(target, "/health") == 0) {
		if (atomic_load(&h->net->shutdown))
			reply_text(hc, 503, "Service Unavailable", "shutting down\n", head_only,
			           NULL);
		else
			reply_text(hc, 200, "OK", "ok\n", head_only, NULL);
	} else {
		reply_text(hc, 404, "Not Found", "not found: try /metrics or /health\n", head_only,
		           NULL);
	}
}

static void on_writable(struct http *h, struct http_conn *hc)
{
	while (hc->out_sent < hc->out.len) {
		ssize_t w = send(hc->fd, hc->out.data + hc->out_sent, hc->out.len - hc->out_sent,
		                 MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		hc->out_sent += (size_t)w;
	}
	if (hc->out_sent < hc->out.len) {
		conn_free(h, hc);
		return;
	}
	/* Closing a socket with unread input sends a reset, which can destroy
	 * the reply before the client reads it (a 431 to a request still being
	 * sent). Half-close instead and read to EOF, within the deadline. */
	shutdown(hc->fd, SHUT_WR);
	hc->writing = false;
	hc->draining = true;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = hc};
	epoll_ctl(h->epfd, EPOLL_CTL_MOD, hc->fd, &ev);
}

static void on_drain(struct http *h, struct http_conn *hc)
{
	for (;;) {
		ssize_t r = recv(hc->fd, hc->in, sizeof(hc->in), 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
	}
	conn_free(h, hc);
}

static bool head_complete(const struct http_conn *hc)
{
	for (size_t i = 3; i < hc->in_len; i++)
		if (hc->in[i] == '\n' && hc->in[i - 1] == '\r' && hc->in[i - 2] == '\n' &&
		    hc->in[i - 3] == '\r')
			return true;
	/* Be lenient with bare-LF clients (curl never sends them, people typing do). */
	for (size_t i = 1; i < hc->in_len; i++)
		if (hc->in[i] == '\n' && hc->in[i - 1] == '\n')
			return true;
	return false;
}

static void on_readable(struct http *h, struct http_conn *hc)
{
	for (;;) {
		if (hc->in_len == sizeof(hc->in)) {
			reply_text(hc, 431, "Request Header Fields Too Large",
			           "request too large\n", false, NULL);
			break;
		}
		ssize_t r = recv(hc->fd, hc->in + hc->in_len, sizeof(hc->in) - hc->in_len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			conn_free(h, hc);
			return;
		}
		hc->in_len += (size_t)r;
		if (head_complete(hc)) {
			serve(h, hc);
			break;
		}
	}
	if (hc->out.len == 0) {
		conn_free(h, hc);
		return;
	}
	hc->writing = true;
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = hc};
	epoll_ctl(h->epfd, EPOLL_CTL_MOD, hc->fd, &ev);
	on_writable(h, hc);
}

static void expire_conns(struct http *h, int64_t now_ms)
{
	for (size_t i = 0; i < HTTP_CONNS_MAX; i++)
		if (h->conns[i].fd >= 0 && now_ms >= h->conns[i].deadline_ms)
			conn_free(h, &h->conns[i]);
}

static void *http_main(void *arg)
{
	struct http *h = arg;
	struct epoll_event events[HTTP_EVENTS];
	while (!atomic_load(&h->stop)) {
		int n = epoll_wait(h->epfd, events, HTTP_EVENTS, HTTP_TICK_MS);
		for (int i = 0; i < n; i++) {
			uint64_t tag = events[i].data.u64 & 3u;
			if (tag == TAG_HTTP_WAKE)
				continue;
			if (tag == TAG_HTTP_LISTEN) {
				on_accept(h, h->listen_fds[events[i].data.u64 >> 2]);
				continue;
			}
			struct http_conn *hc = events[i].data.ptr;
			if (hc->fd < 0)
				continue; /* freed earlier in this batch */
			if (hc->writing)
				on_writable(h, hc);
			else if (hc->draining)
				on_drain(h, hc);
			else
				on_readable(h, hc);
		}
		expire_conns(h, env_wall_ms());
	}
	return NULL;
}

/* ---- Life cycle ----------------------------------------------------------------- */

int http_create(struct http **out, struct node *n, struct net *net, char *err, size_t errcap)
{
	*out = NULL;
	if (config_get(n->cfg, CFG_HTTP_PORT) == 0)
		return 0;
	struct http *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errcap, "out of memory");
		return ERR_NOMEM;
	}
	h->node = n;
	h->net = net;
	for (size_t i = 0; i < HTTP_CONNS_MAX; i++)
		h->conns[i].fd = -1;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->epfd < 0 || h->wakefd < 0) {
		snprintf(err, errcap, "epoll/eventfd: %s", strerror(errno));
		http_destroy(h);
		return ERR_IO;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_HTTP_WAKE};
	epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->wakefd, &ev);
	int rc = http_listen(h, err, errcap);
	if (rc != 0) {
		http_destroy(h);
		return rc;
	}
	*out = h;
	return 0;
}

int http_start(struct http *h)
{
	int rc = env_thread_start(&h->thread, "ringkv-http", http_main, h);
	h->started = rc == 0;
	return rc;
}

void http_destroy(struct http *h)
{
	if (!h)
		return;
	if (h->started) {
		atomic_store(&h->stop, true);
		uint64_t one = 1;
		ssize_t w = write(h->wakefd, &one, sizeof(one));
		(void)w;
		env_thread_join(&h->thread);
	}
	for (size_t i = 0; i < HTTP_CONNS_MAX; i++)
		if (h->conns[i].fd >= 0)
			conn_free(h, &h->conns[i]);
	for (unsigned i = 0; i < h->listen_count; i++)
		close(h->listen_fds[i]);
	if (h->wakefd >= 0)
		close(h->wakefd);
	if (h->epfd >= 0)
		close(h->epfd);
	free(h);
}
