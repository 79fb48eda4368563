/*
 * http.h - a minimal HTTP/1.1 server for operators and scrapers, on
 * --http-port (default 9380, 0 = off), bound to the same `bind` addresses
 * as the client port:
 *
 *   GET /metrics  200, the Prometheus text exposition (cmd/metrics.h)
 *   GET /health   200 "ok" while the node serves; 503 once it shuts down
 *   anything else 404 (405 for a method other than GET or HEAD)
 *
 * One request per connection (the reply says Connection: close), at most
 * HTTP_REQUEST_BYTES_MAX of request head, HTTP_CONNS_MAX connections at a
 * time and HTTP_CONN_TIMEOUT_MS per connection from accept to last byte.
 *
 * Threads. The server runs on its own thread with its own epoll instance
 * and non-blocking sockets, so a slow or hostile HTTP client never touches
 * the client event loops; rendering /metrics reads the node's counters with
 * relaxed loads (see cmd/metrics.h), the only contention with commands
 * being one pass over the keyspace stripes for key counts, as INFO does.
 */
#ifndef RINGKV_NET_HTTP_H
#define RINGKV_NET_HTTP_H

#include <stddef.h>

#include "cmd/cmd.h"
#include "net/net.h"

#define HTTP_REQUEST_BYTES_MAX 8192 /* request line and headers; far above any scraper's */
#define HTTP_CONNS_MAX         64   /* scrapers and probes, not clients */
#define HTTP_CONN_TIMEOUT_MS   5000 /* a scrape of a healthy node takes milliseconds */

struct http;

/* Opens the listeners of node n (whose network layer is net; both outlive
 * the server). With http-port 0 it sets *out to NULL and returns 0.
 * Returns ERR_IO or ERR_INVALID with a message in err (port in use, ...). */
int http_create(struct http **out, struct node *n, struct net *net, char *err, size_t errcap);

/* Starts the server's thread. 0, or the error of env_thread_start. */
int http_start(struct http *h);

/* Stops the thread (if started), closes every socket and frees h. NULL is
 * a no-op. */
void http_destroy(struct http *h);

#endif
