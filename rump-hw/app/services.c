/* The image's services on lwIP sockets, a thread per listener and one per
 * connection: echo (7), discard (9), source (19: a byte pattern until the
 * peer closes) and a small HTTP/1.1 server (80) with keep-alive:
 *   GET /            a short page
 *   GET /bytes/N     N bytes of the pattern (throughput)
 *   GET /N           the harness's HTTP peer contract (harness/fwnet/peers.py):
 *                    exactly its headers, N bytes of fwnet's pattern
 *                    (fwbase/pattern.h), then close; so a
 *                    scenario's transcript is the same with either peer
 *   anything else    404; methods other than GET/HEAD: 405 */
#include "lwip/sockets.h"
#include <stdlib.h>
#include <string.h>
#include "bmk/kernel.h"
#include "bmk/rumpuser.h"
#include "bmk/rumpnet.h"
#include "fwbase/pattern.h"

struct svc {
  const char *name;
  int port;
  void (*conn)(int fd);
};

static char pattern[8192];

static int send_all(int fd, const void *b, size_t n) {
  const char *p = b;
  while (n) {
    ssize_t k = lwip_send(fd, p, n, 0);
    if (k <= 0) return -1;
    p += k, n -= (size_t)k;
  }
  return 0;
}

static void echo_conn(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = lwip_recv(fd, buf, sizeof(buf), 0);
    if (n <= 0 || send_all(fd, buf, (size_t)n)) return;
  }
}

static void discard_conn(int fd) {
  char buf[8192];
  while (lwip_recv(fd, buf, sizeof(buf), 0) > 0) {
  }
}

static void source_conn(int fd) {
  while (!send_all(fd, pattern, sizeof(pattern))) {
  }
}

static const char page[] =
    "<!doctype html><title>fwnet-rump</title><p>fwnet's bare-metal image: lwIP on rumpuser.</p>\n";

static void http_reply(int fd, int code, const char *reason, const char *type, size_t len, int head,
                       int keep) {
  char h[256];
  int n = bmk_snprintf(h, sizeof(h),
                       "HTTP/1.1 %d %s\r\nServer: fwnet-rump\r\nContent-Type: %s\r\n"
                       "Content-Length: %lu\r\nConnection: %s\r\n\r\n",
                       code, reason, type, (unsigned long)len, keep ? "keep-alive" : "close");
  send_all(fd, h, (size_t)n);
  (void)head;
}

static int ieq_prefix(const char *s, const char *p) {
  for (; *p; s++, p++) {
    char c = *s >= 'A' && *s <= 'Z' ? (char)(*s + 32) : *s;
    if (c != *p) return 0;
  }
  return 1;
}

static void http_conn(int fd) {
  char req[2048];
  size_t have = 0;
  for (;;) {
    /* read one request head (no bodies are accepted) */
    char *end = NULL;
    while (!(end = have ? strstr(req, "\r\n\r\n") : NULL)) {
      if (have >= sizeof(req) - 1) return;
      ssize_t n = lwip_recv(fd, req + have, sizeof(req) - 1 - have, 0);
      if (n <= 0) return;
      have += (size_t)n;
      req[have] = 0;
    }
    size_t used = (size_t)(end + 4 - req);
    int head = !strncmp(req, "HEAD ", 5), get = !strncmp(req, "GET ", 4);
    int keep = !strstr(req, "HTTP/1.0");
    for (char *l = strstr(req, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
      if (ieq_prefix(l + 2, "connection:")) {
        const char *v = l + 2 + 11;
        while (*v == ' ') v++;
        keep = ieq_prefix(v, "keep-alive") ? 1 : ieq_prefix(v, "close") ? 0 : keep;
      }
    const char *path = req + (head ? 5 : 4);
    if (!head && !get) {
      http_reply(fd, 405, "Method Not Allowed", "text/plain", 0, 1, 0);
      return;
    }
    if (!strncmp(path, "/ ", 2)) {
      http_reply(fd, 200, "OK", "text/html", sizeof(page) - 1, head, keep);
      if (!head && send_all(fd, page, sizeof(page) - 1)) return;
    } else if (path[0] == '/' && path[1] >= '0' && path[1] <= '9') {
      size_t n = (size_t)strtol(path + 1, NULL, 10);
      char h[96], chunk[4096];
      int hl = bmk_snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %lu\r\nConnection: close\r\n\r\n",
                            (unsigned long)n);
      if (send_all(fd, h, (size_t)hl)) return;
      for (size_t off = 0; off < n;) {
        size_t k = n - off < sizeof(chunk) ? n - off : sizeof(chunk);
        fwb_pattern_fill((uint8_t *)chunk, k, off);
        if (send_all(fd, chunk, k)) return;
        off += k;
      }
      return;
    } else if (!strncmp(path, "/bytes/", 7)) {
      size_t n = (size_t)strtol(path + 7, NULL, 10);
      http_reply(fd, 200, "OK", "application/octet-stream", n, head, keep);
      while (!head && n) {
        size_t k = n < sizeof(pattern) ? n : sizeof(pattern);
        if (send_all(fd, pattern, k)) return;
        n -= k;
      }
    } else {
      http_reply(fd, 404, "Not Found", "text/plain", 0, 1, keep);
    }
    if (!keep) return;
    memmove(req, req + used, have - used + 1);
    have -= used;
  }
}

struct conn_arg {
  const struct svc *svc;
  int fd;
};

static void *conn_thread(void *p) {
  struct conn_arg a = *(struct conn_arg *)p;
  free(p);
  a.svc->conn(a.fd);
  lwip_close(a.fd);
  return NULL;
}

static const struct svc svcs[] = {
    {"echo", 7, echo_conn}, {"discard", 9, discard_conn}, {"source", 19, source_conn}, {"http", 80, http_conn},
};

struct lst {
  const struct svc *svc;
  int fd;
};

static void *accept_loop(void *p) {
  struct lst *l = p;
  for (;;) {
    int c = lwip_accept(l->fd, NULL, NULL);
    if (c < 0) {
      rumpuser_clock_sleep(RUMPUSER_CLOCK_RELWALL, 0, 10000000); /* out of sockets: back off */
      continue;
    }
    int one = 1;
    lwip_setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn_arg *a = malloc(sizeof(*a));
    if (a) a->svc = l->svc, a->fd = c;
    if (!a || rumpuser_thread_create(conn_thread, a, l->svc->name, 0, 0, -1, NULL)) {
      free(a);
      lwip_close(c);
    }
  }
  return NULL;
}

static int in_list(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; p && *p;) {
    if (!strncmp(p, name, n) && (p[n] == ',' || !p[n])) return 1;
    p = strchr(p, ',');
    if (p) p++;
  }
  return 0;
}

int services_start(const char *list) {
  for (size_t i = 0; i < sizeof(pattern); i++) pattern[i] = (char)('a' + i % 26);
  int started = 0;
  for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++) {
    if (!in_list(list, svcs[i].name)) continue;
    int fd = lwip_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_len = sizeof(a);
    a.sin_family = AF_INET;
    a.sin_port = lwip_htons((u16_t)svcs[i].port);
    int one = 1;
    lwip_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || lwip_bind(fd, (struct sockaddr *)&a, sizeof(a)) || lwip_listen(fd, 16)) {
      bmk_printf("fwnet-rump: %s: cannot listen on port %d\n", svcs[i].name, svcs[i].port);
      continue;
    }
    struct lst *l = malloc(sizeof(*l));
    l->svc = &svcs[i];
    l->fd = fd;
    rumpuser_thread_create(accept_loop, l, svcs[i].name, 0, 0, -1, NULL);
    started++;
  }
  return started;
}
