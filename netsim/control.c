/* The control-socket protocol: a table of commands, one handler each. */
#define _POSIX_C_SOURCE 200809L
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netsim.h"

static int cmd_impair(struct netsim *ns, const char *args, char *out, size_t cap) {
  if (!args) return -ENOENT;
  int link = 0;
  char dir[16] = "both", err[160];
  const char *p = args;
  for (;;) {
    if (!strncmp(p, "link=", 5)) {
      link = atoi(p + 5);
    } else if (!strncmp(p, "dir=", 4)) {
      sscanf(p + 4, "%15s", dir);
    } else {
      break;
    }
    p = strchr(p, ' ');
    if (!p) break;
    p++;
  }
  if (link < 0 || link >= HUB_MAX_GUESTS) {
    snprintf(out, cap, "err link out of range");
    return 0;
  }
  struct impair_params prm = {0};
  if (impair_parse(p ? p : "", &prm, err, sizeof(err))) {
    snprintf(out, cap, "err %s", err);
    return 0;
  }
  if (strcmp(dir, "from-guest")) impair_set(&ns->hub.port[link].to_guest, &prm);
  if (strcmp(dir, "to-guest")) impair_set(&ns->hub.port[link].from_guest, &prm);
  snprintf(out, cap, "ok");
  return 0;
}

static int cmd_rule(struct netsim *ns, const char *args, char *out, size_t cap) {
  if (!args) return -ENOENT;
  char err[160];
  if (!strcmp(args, "clear")) {
    memset(&ns->hub.rules, 0, sizeof(ns->hub.rules));
  } else if (rules_add(&ns->hub.rules, args, err, sizeof(err))) {
    snprintf(out, cap, "err %s", err);
    return 0;
  }
  snprintf(out, cap, "ok");
  return 0;
}

/* hex text to bytes: the count, or -1 for odd length or a non-hex digit */
static long unhex(const char *p, uint8_t *b, size_t cap) {
  size_t n = 0;
  while (*p == ' ') p++;
  for (; p[0] && p[0] != ' '; p += 2) {
    unsigned v;
    if (!p[1] || n >= cap || sscanf(p, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", p[0]) ||
        !strchr("0123456789abcdefABCDEF", p[1]))
      return -1;
    b[n++] = (uint8_t)v;
  }
  return (long)n;
}

/* `dns answer HEX`: the zone's answer to one query as it would go over TCP
 * (the harness's listener on the DNS address's TCP port 53 asks). */
static int dns_answer(struct netsim *ns, const char *hex, char *out, size_t cap) {
  static uint8_t q[4096], a[4096];
  long qlen = unhex(hex, q, sizeof(q));
  if (qlen <= 0) {
    snprintf(out, cap, "err dns answer: HEX (a DNS query)");
    return 0;
  }
  bool wrong = false;
  size_t room = (cap - 4) / 2 < sizeof(a) ? (cap - 4) / 2 : sizeof(a);
  size_t alen = dnszone_answer(&ns->dns.zone, q, (size_t)qlen, a, room, true, &wrong);
  if (alen) ns->dns.answered++;
  size_t n = (size_t)snprintf(out, cap, "ok%s", alen ? " " : "");
  for (size_t i = 0; i < alen && n + 3 < cap; i++) n += (size_t)snprintf(out + n, cap - n, "%02x", a[i]);
  return 0;
}

static int cmd_dns(struct netsim *ns, const char *args, char *out, size_t cap) {
  if (!args) return -ENOENT;
  if (!strncmp(args, "answer ", 7)) return dns_answer(ns, args + 7, out, cap);
  struct dnszone *z = &ns->dns.zone;
  char w[3][256] = {"", "", ""};
  int n = sscanf(args, "%255s %255s %255s", w[0], w[1], w[2]);
  unsigned o[4];
  enum dnszone_fault f;
  if (n == 1 && !strcmp(w[0], "clear")) {
    dnszone_clear(z);
  } else if (n == 3 && !strcmp(w[0], "add") && sscanf(w[2], "%u.%u.%u.%u", &o[0], &o[1], &o[2], &o[3]) == 4) {
    dnszone_add_a(z, w[1], o[0] << 24 | o[1] << 16 | o[2] << 8 | o[3]);
  } else if (n == 3 && !strcmp(w[0], "cname")) {
    dnszone_add_cname(z, w[1], w[2]);
  } else if (n >= 2 && !strcmp(w[0], "fault") && !dnszone_parse_fault(w[1], &f)) {
    dnszone_set_fault(z, f, n == 3 ? (unsigned)atoi(w[2]) : 0);
  } else if (n == 2 && !strcmp(w[0], "delay")) {
    z->delay_ns = (uint64_t)atoll(w[1]) * 1000000ull;
  } else {
    snprintf(out, cap, "err dns: add NAME A.B.C.D | cname NAME TARGET | fault nxdomain|servfail|drop|"
                       "truncate|wrong-id|wrong-source|malformed|pointer-loop|ok [COUNT] | delay MS | clear");
    return 0;
  }
  snprintf(out, cap, "ok");
  return 0;
}

static void counters_line(struct netsim *ns, char *out, size_t cap) {
  size_t n = (size_t)snprintf(out, cap, "ok slirp_in=%llu slirp_out=%llu dns_queries=%u dns_answered=%llu",
                              (unsigned long long)ns->gw.frames_in, (unsigned long long)ns->gw.frames_out,
                              ns->dns.zone.queries, (unsigned long long)ns->dns.answered);
  if (ns->tap_in && n < cap)
    n += (size_t)snprintf(out + n, cap - n, " tap_in=%llu tap_out=%llu", (unsigned long long)*ns->tap_in,
                          (unsigned long long)*ns->tap_out);
  for (int i = 0; i < HUB_MAX_GUESTS && n < cap; i++) {
    struct hub_port *g = &ns->hub.port[i];
    if (!g->to_guest.c.frames_in && !g->from_guest.c.frames_in && g->fd < 0) continue;
    const char *names[2] = {"to", "from"};
    struct impair *ims[2] = {&g->to_guest, &g->from_guest};
    for (int k = 0; k < 2 && n < cap; k++) {
      struct impair_counters *c = &ims[k]->c;
      n += (size_t)snprintf(out + n, cap - n,
                            " g%d.%s=frames:%llu,bytes:%llu,out:%llu,dropped:%llu,delayed:%llu,dup:%llu,"
                            "reordered:%llu,corrupted:%llu",
                            i, names[k], (unsigned long long)c->frames_in, (unsigned long long)c->bytes_in,
                            (unsigned long long)c->frames_out, (unsigned long long)c->dropped,
                            (unsigned long long)c->delayed, (unsigned long long)c->duplicated,
                            (unsigned long long)c->reordered, (unsigned long long)c->corrupted);
    }
  }
}

static int cmd_counters(struct netsim *ns, const char *args, char *out, size_t cap) {
  if (args && strcmp(args, "reset=1")) return -ENOENT;
  counters_line(ns, out, cap);
  if (args) { /* reset=1: the next reading starts from zero */
    hub_counters_reset(&ns->hub);
    ns->gw.frames_in = ns->gw.frames_out = 0;
    ns->dns.zone.queries = 0, ns->dns.answered = 0;
    if (ns->tap_in) *ns->tap_in = *ns->tap_out = 0;
  }
  return 0;
}

/* `capture PATH [append=1]`: the pcap continues in PATH (per scenario). */
static int cmd_capture(struct netsim *ns, const char *args, char *out, size_t cap) {
  if (!args) return -ENOENT;
  char path[1024], opt[16] = "";
  if (sscanf(args, "%1023s %15s", path, opt) < 1 || (opt[0] && strcmp(opt, "append=1"))) {
    snprintf(out, cap, "err capture PATH [append=1]");
    return 0;
  }
  if (!ns->recapture) {
    snprintf(out, cap, "err no capture (started without --pcap)");
    return 0;
  }
  char err[256] = "";
  if (ns->recapture(ns, path, opt[0] != 0, err, sizeof(err)) < 0) snprintf(out, cap, "err capture %s: %s", path, err);
  else snprintf(out, cap, "ok");
  return 0;
}

/* `flush`: what the pcap holds so far, in its file now (a poller's read). */
static int cmd_flush(struct netsim *ns, const char *args, char *out, size_t cap) {
  if (args) return -ENOENT;
  if (ns->flush) ns->flush(ns);
  snprintf(out, cap, "ok");
  return 0;
}

/* `inject [link=N|uplink] HEX`: one crafted Ethernet frame onto the LAN. */
static int cmd_inject(struct netsim *ns, const char *args, char *out, size_t cap) {
  if (!args) return -ENOENT;
  int from = -1;
  const char *p = args;
  if (!strncmp(p, "link=", 5)) {
    from = atoi(p + 5);
    p = strchr(p, ' ');
  } else if (!strncmp(p, "uplink ", 7)) {
    p += 6;
  }
  static uint8_t f[4096];
  long n = p ? unhex(p, f, sizeof(f)) : -1;
  if (n < 0 || from < -1 || from >= HUB_MAX_GUESTS || hub_inject(&ns->hub, from, f, (size_t)n) < 0) {
    snprintf(out, cap, "err inject [link=N|uplink] HEX (an Ethernet frame, 14..4096 bytes)");
    return 0;
  }
  snprintf(out, cap, "ok %ld", n);
  return 0;
}

static int cmd_stop(struct netsim *ns, const char *args, char *out, size_t cap) {
  if (args) return -ENOENT;
  ns->stop = true;
  snprintf(out, cap, "ok");
  return 0;
}

const struct control_command control_commands[] = {
    {.name = "impair", .run = cmd_impair},
    {.name = "rule", .run = cmd_rule},
    {.name = "dns", .run = cmd_dns},
    {.name = "counters", .run = cmd_counters},
    {.name = "capture", .run = cmd_capture},
    {.name = "inject", .run = cmd_inject},
    {.name = "flush", .run = cmd_flush},
    {.name = "stop", .run = cmd_stop},
    {.name = NULL},
};

void control_exec(struct netsim *ns, char *line, char *out, size_t cap) {
  size_t nlen = strcspn(line, " ");
  const char *args = line[nlen] == ' ' ? line + nlen + 1 : NULL;
  for (const struct control_command *c = control_commands; c->name; c++)
    if (strlen(c->name) == nlen && !strncmp(c->name, line, nlen) && !c->run(ns, args, out, cap)) return;
  snprintf(out, cap, "err unknown command '%.60s' (impair, rule, counters, stop)", line);
}

/* ---- connections ---- */

void control_init(struct control *c, int listen_fd) {
  memset(c, 0, sizeof(*c));
  c->listen_fd = listen_fd;
  for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) c->fd[i] = -1;
}

int control_poll_fill(const struct control *c, struct pollfd *pfd) {
  pfd[0] = (struct pollfd){c->listen_fd, POLLIN, 0};
  for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) pfd[1 + i] = (struct pollfd){c->fd[i], POLLIN, 0};
  return 1 + CONTROL_MAX_CLIENTS;
}

void control_accept(struct control *c, const struct pollfd *pfd) {
  if (!(pfd[0].revents & POLLIN)) return;
  int fd = accept(c->listen_fd, NULL, NULL);
  int slot = -1;
  for (int i = 0; i < CONTROL_MAX_CLIENTS && slot < 0; i++)
    if (c->fd[i] < 0) slot = i;
  if (slot < 0) close(fd);
  else c->fd[slot] = fd, c->len[slot] = 0;
}

static void reply(int fd, const char *line) {
  size_t n = strlen(line);
  if (write(fd, line, n) != (ssize_t)n || write(fd, "\n", 1) != 1) { /* client gone */
  }
}

void control_serve(struct netsim *ns, const struct pollfd *pfd) {
  struct control *c = &ns->control;
  char out[CONTROL_REPLY_MAX];
  for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
    if (c->fd[i] < 0 || !(pfd[1 + i].revents & (POLLIN | POLLHUP))) continue;
    ssize_t n = read(c->fd[i], c->buf[i] + c->len[i], sizeof(c->buf[i]) - 1 - c->len[i]);
    if (n <= 0) {
      close(c->fd[i]);
      c->fd[i] = -1;
      continue;
    }
    c->len[i] += (size_t)n;
    c->buf[i][c->len[i]] = 0;
    char *nl;
    while ((nl = strchr(c->buf[i], '\n'))) {
      *nl = 0;
      if (nl > c->buf[i] && nl[-1] == '\r') nl[-1] = 0;
      control_exec(ns, c->buf[i], out, sizeof(out));
      reply(c->fd[i], out);
      size_t used = (size_t)(nl + 1 - c->buf[i]);
      memmove(c->buf[i], nl + 1, c->len[i] - used + 1);
      c->len[i] -= used;
    }
  }
}
