/* fwnet-netsim: one virtual LAN for QEMU guests, with libslirp as its
 * gateway, impairments per guest link and direction, targeted rules, a pcap
 * of everything that crossed, and a line-based control socket.
 *
 *   fwnet-netsim --lan SOCK --control SOCK --pcap FILE [--seed N]
 *                [--relay PATH] [--guestfwd GPORT:HPORT]... [--hostfwd HPORT:GPORT]...
 *
 * Guests attach with -netdev stream,server=off,addr.type=unix,addr.path=SOCK
 * (frames as a 4-byte big-endian length and the frame). The LAN is a hub.
 * Safety: slirp runs restricted (the guest reaches only guestfwd targets,
 * relayed to 127.0.0.1 by the loopback-only relay), its DNS proxy is off,
 * and host forwards bind 127.0.0.1 only.
 *
 * Control (one command per line, one reply line): impair link=N dir=to-guest|
 * from-guest|both TEXT ; rule TEXT ; rule clear ; dns add|cname|fault|delay|clear ... ;
 * counters [reset=1] ; stop. DNS: queries to 10.0.2.3:53 (UDP, and TCP
 * through a slirp guestfwd) are answered here, from a scripted zone
 * (dnszone.c), never by slirp's proxy.
 */
#define _DEFAULT_SOURCE /* POSIX plus the BSD types pcap.h needs */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fwbase/dnszone.h"
#include "impair.h"
#include "rules.h"

#define MAX_GUESTS 8
#define MAX_CTL 4
#define MAX_TIMERS 16
#define MAX_SLIRP_FDS 256

#define EGRESS_MAX (1u << 20) /* per guest port: beyond this, frames are dropped */

struct guest {
  int fd;
  uint8_t rbuf[70000];
  size_t rlen;
  uint8_t *obuf; /* frames (length-prefixed) waiting for the guest to read */
  size_t olen;
  uint8_t mac[6];
  bool mac_known;
  uint64_t egress_drops;
  struct impair to_guest, from_guest;
};

struct timer {
  int used;
  SlirpTimerId id;
  void *cb_opaque;
  int64_t expire_ms; /* -1: not armed */
};

struct sim {
  Slirp *slirp;
  int lan_fd, ctl_fd;
  struct guest g[MAX_GUESTS];
  int ctl[MAX_CTL];
  char ctlbuf[MAX_CTL][1024];
  size_t ctllen[MAX_CTL];
  struct rules rules;
  struct timer timers[MAX_TIMERS];
  pcap_t *pcap;
  pcap_dumper_t *dump;
  uint64_t seed;
  struct pollfd pfd[MAX_SLIRP_FDS + MAX_GUESTS + MAX_CTL + 2];
  int npfd, slirp_base;
  int stop;
  uint64_t slirp_frames_in, slirp_frames_out;
  struct dnszone dns; /* answers queries to 10.0.2.3:53; slirp's proxy is off */
  uint64_t dns_answered;
  /* DNS over TCP (a resolver's retry after TC): slirp hands us the stream of
   * the guest's connection to 10.0.2.3:53; replies wait in tcpout until the
   * main loop, because slirp must not be re-entered from its write callback. */
  uint8_t tcpin[4096], tcpout[4096];
  size_t tcpin_len, tcpout_len, tcpout_off;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void capture(struct sim *s, const uint8_t *f, size_t len) {
  if (!s->dump) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct pcap_pkthdr h;
  h.ts.tv_sec = ts.tv_sec;
  h.ts.tv_usec = ts.tv_nsec; /* nanosecond precision file: the field holds ns */
  h.caplen = h.len = (bpf_u_int32)len;
  pcap_dump((u_char *)s->dump, &h, f);
}

static void drop_guest(struct guest *g) {
  close(g->fd);
  g->fd = -1;
  g->olen = 0;
  g->mac_known = false;
}

/* Write what the guest's socket takes now; never block (a slow guest must
 * not stall the LAN). */
static void flush_guest(struct guest *g) {
  while (g->olen && g->fd >= 0) {
    ssize_t n = write(g->fd, g->obuf, g->olen);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) drop_guest(g);
      return;
    }
    memmove(g->obuf, g->obuf + n, g->olen - (size_t)n);
    g->olen -= (size_t)n;
  }
}

static void send_to_guest(struct sim *s, struct guest *g, const uint8_t *f, size_t len) {
  if (g->olen + 4 + len > EGRESS_MAX) { /* the port's queue is full: dropped, as a switch does */
    g->egress_drops++;
    g->to_guest.c.dropped++;
    return;
  }
  capture(s, f, len); /* what the guest really gets, after its link's impairments */
  uint8_t *o = g->obuf + g->olen;
  o[0] = (uint8_t)(len >> 24), o[1] = (uint8_t)(len >> 16), o[2] = (uint8_t)(len >> 8), o[3] = (uint8_t)len;
  memcpy(o + 4, f, len);
  g->olen += 4 + len;
  flush_guest(g);
}

static int dns_intercept(struct sim *s, int gi, const uint8_t *f, size_t len);

/* A frame on the wire reaching everything except where it came from. */
static void deliver(struct sim *s, int from_guest, const uint8_t *f, size_t len) {
  if (from_guest >= 0) {
    capture(s, f, len); /* what left the guest's link */
    if (dns_intercept(s, from_guest, f, len)) return;
    /* slirp gets broadcasts and frames for its own MACs (52:55:...), not a
     * guest's unicast to another guest, which it would answer itself. */
    bool group = f[0] & 1, to_slirp = f[0] == 0x52 && f[1] == 0x55;
    if (group || to_slirp) {
      s->slirp_frames_in++;
      slirp_input(s->slirp, f, (int)len);
    }
    if (to_slirp) return;
  }
  uint64_t now = now_ns();
  /* A learning switch: unicast to the port that owns the address; unknown
   * addresses and groups flood. */
  int only = -1;
  if (!(f[0] & 1))
    for (int i = 0; i < MAX_GUESTS; i++)
      if (s->g[i].fd >= 0 && s->g[i].mac_known && !memcmp(s->g[i].mac, f, 6)) only = i;
  for (int i = 0; i < MAX_GUESTS; i++) {
    struct guest *g = &s->g[i];
    if (g->fd < 0 || i == from_guest || (only >= 0 && i != only)) continue;
    uint64_t d = 0;
    enum rule_action a = rules_match(&s->rules, DIR_TO_GUEST, f, len, &d);
    if (a == RULE_DROP) {
      g->to_guest.c.frames_in++, g->to_guest.c.dropped++;
      continue;
    }
    impair_push(&g->to_guest, now + (a == RULE_DELAY ? d : 0), f, len);
    if (a == RULE_DUP) impair_push(&g->to_guest, now, f, len);
  }
}

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* A guest's UDP query to the DNS address: answered here, from the zone. */
static int dns_intercept(struct sim *s, int gi, const uint8_t *f, size_t len) {
  static const uint8_t dns_ip[4] = {10, 0, 2, 3};
  if (len < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00) return 0;
  const uint8_t *ip = f + 14;
  size_t ihl = (size_t)(ip[0] & 15) * 4;
  if (ip[9] != 17 || memcmp(ip + 16, dns_ip, 4) || len < 14 + ihl + 8) return 0;
  const uint8_t *udp = ip + ihl;
  if ((udp[2] << 8 | udp[3]) != 53) return 0;
  size_t qlen = len - 14 - ihl - 8;
  uint8_t out[1600];
  bool wrong = false;
  size_t alen = dnszone_answer(&s->dns, udp + 8, qlen, out + 42, sizeof(out) - 42, false, &wrong);
  if (!alen) return 1; /* dropped: no answer */
  s->dns_answered++;
  /* Ethernet: to the querier, from slirp's MAC for that address */
  memcpy(out, f + 6, 6);
  uint8_t from[4] = {10, 0, 2, (uint8_t)(wrong ? 4 : 3)};
  const uint8_t mac[6] = {0x52, 0x55, 10, 0, 2, from[3]};
  memcpy(out + 6, mac, 6);
  out[12] = 0x08, out[13] = 0x00;
  uint8_t *oip = out + 14, *oudp = out + 34;
  size_t ulen = 8 + alen, tlen = 20 + ulen;
  memset(oip, 0, 20);
  oip[0] = 0x45, oip[2] = (uint8_t)(tlen >> 8), oip[3] = (uint8_t)tlen, oip[8] = 64, oip[9] = 17;
  memcpy(oip + 12, from, 4);
  memcpy(oip + 16, ip + 12, 4);
  uint16_t c = csum(oip, 20, 0);
  oip[10] = (uint8_t)(c >> 8), oip[11] = (uint8_t)c;
  oudp[0] = 0, oudp[1] = 53, oudp[2] = udp[0], oudp[3] = udp[1];
  oudp[4] = (uint8_t)(ulen >> 8), oudp[5] = (uint8_t)ulen, oudp[6] = oudp[7] = 0;
  uint8_t pseudo[12];
  memcpy(pseudo, oip + 12, 8);
  pseudo[8] = 0, pseudo[9] = 17, pseudo[10] = (uint8_t)(ulen >> 8), pseudo[11] = (uint8_t)ulen;
  uint32_t sum = 0;
  for (int i = 0; i < 12; i += 2) sum += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
  c = csum(oudp, ulen, sum);
  if (!c) c = 0xffff;
  oudp[6] = (uint8_t)(c >> 8), oudp[7] = (uint8_t)c;
  /* through the guest's link, after the zone's delay */
  impair_push(&s->g[gi].to_guest, now_ns() + s->dns.delay_ns, out, 42 + alen);
  return 1;
}

/* Bytes the guest sent to 10.0.2.3:53 over TCP: 2-byte length, message. */
static ssize_t dns_tcp_write(const void *buf, size_t len, void *opaque) {
  struct sim *s = opaque;
  if (len > sizeof(s->tcpin) - s->tcpin_len) s->tcpin_len = 0; /* garbage: start over */
  if (len > sizeof(s->tcpin)) return (ssize_t)len;
  memcpy(s->tcpin + s->tcpin_len, buf, len);
  s->tcpin_len += len;
  while (s->tcpin_len >= 2) {
    size_t mlen = (size_t)(s->tcpin[0] << 8 | s->tcpin[1]);
    if (s->tcpin_len < 2 + mlen) break;
    bool wrong = false;
    size_t room = sizeof(s->tcpout) - s->tcpout_len;
    if (room > 2) {
      size_t alen = dnszone_answer(&s->dns, s->tcpin + 2, mlen, s->tcpout + s->tcpout_len + 2, room - 2, true,
                                   &wrong);
      if (alen) {
        s->tcpout[s->tcpout_len] = (uint8_t)(alen >> 8), s->tcpout[s->tcpout_len + 1] = (uint8_t)alen;
        s->tcpout_len += 2 + alen;
        s->dns_answered++;
      }
    }
    memmove(s->tcpin, s->tcpin + 2 + mlen, s->tcpin_len - 2 - mlen);
    s->tcpin_len -= 2 + mlen;
  }
  return (ssize_t)len;
}

static void dns_tcp_flush(struct sim *s) {
  if (s->tcpout_off >= s->tcpout_len) return;
  struct in_addr a;
  inet_pton(AF_INET, "10.0.2.3", &a);
  size_t can = slirp_socket_can_recv(s->slirp, a, 53);
  size_t n = s->tcpout_len - s->tcpout_off;
  if (n > can) n = can;
  if (!n) return;
  slirp_socket_recv(s->slirp, a, 53, s->tcpout + s->tcpout_off, (int)n);
  s->tcpout_off += n;
  if (s->tcpout_off == s->tcpout_len) s->tcpout_off = s->tcpout_len = 0;
}

static ssize_t slirp_send(const void *buf, size_t len, void *opaque) {
  struct sim *s = opaque;
  s->slirp_frames_out++;
  deliver(s, -1, buf, len);
  return (ssize_t)len;
}

static void guest_error(const char *msg, void *opaque) {
  (void)opaque;
  fprintf(stderr, "netsim: guest error: %s\n", msg);
}

static int64_t clock_ns(void *opaque) {
  (void)opaque;
  return (int64_t)now_ns();
}

static void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque) {
  struct sim *s = opaque;
  for (int i = 0; i < MAX_TIMERS; i++) {
    if (!s->timers[i].used) {
      s->timers[i] = (struct timer){1, id, cb_opaque, -1};
      return &s->timers[i];
    }
  }
  fprintf(stderr, "netsim: out of timers\n");
  exit(4);
}
static void timer_free(void *t, void *opaque) {
  (void)opaque;
  ((struct timer *)t)->used = 0;
}
static void timer_mod(void *t, int64_t expire_ms, void *opaque) {
  (void)opaque;
  ((struct timer *)t)->expire_ms = expire_ms;
}
static void reg_fd(int fd, void *o) { (void)fd, (void)o; }
static void notify(void *o) { (void)o; }

static int add_poll(int fd, int events, void *opaque) {
  struct sim *s = opaque;
  if (s->npfd >= (int)(sizeof(s->pfd) / sizeof(s->pfd[0]))) return -1;
  short ev = 0;
  if (events & SLIRP_POLL_IN) ev |= POLLIN;
  if (events & SLIRP_POLL_OUT) ev |= POLLOUT;
  if (events & SLIRP_POLL_PRI) ev |= POLLPRI;
  s->pfd[s->npfd] = (struct pollfd){fd, ev, 0};
  return s->npfd++;
}
static int get_revents(int idx, void *opaque) {
  struct sim *s = opaque;
  short r = s->pfd[idx].revents;
  int out = 0;
  if (r & POLLIN) out |= SLIRP_POLL_IN;
  if (r & POLLOUT) out |= SLIRP_POLL_OUT;
  if (r & POLLPRI) out |= SLIRP_POLL_PRI;
  if (r & POLLERR) out |= SLIRP_POLL_ERR;
  if (r & POLLHUP) out |= SLIRP_POLL_HUP;
  return out;
}

static int listen_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
  unlink(path);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8)) {
    fprintf(stderr, "netsim: cannot listen on %s: %s\n", path, strerror(errno));
    exit(2);
  }
  return fd;
}

/* ---- control ---- */

static void reply(int fd, const char *line) {
  size_t n = strlen(line);
  if (write(fd, line, n) != (ssize_t)n || write(fd, "\n", 1) != 1) { /* client gone */
  }
}

static void counters_line(struct sim *s, char *out, size_t cap) {
  size_t n = (size_t)snprintf(out, cap, "ok slirp_in=%llu slirp_out=%llu dns_queries=%u dns_answered=%llu",
                              (unsigned long long)s->slirp_frames_in, (unsigned long long)s->slirp_frames_out,
                              s->dns.queries, (unsigned long long)s->dns_answered);
  for (int i = 0; i < MAX_GUESTS && n < cap; i++) {
    struct guest *g = &s->g[i];
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

static void control(struct sim *s, int fd, char *line) {
  char out[4096], err[160];
  if (!strncmp(line, "impair ", 7)) {
    int link = 0;
    char dir[16] = "both";
    char *p = line + 7;
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
    if (link < 0 || link >= MAX_GUESTS) return reply(fd, "err link out of range");
    struct impair_params prm = {0};
    if (impair_parse(p ? p : "", &prm, err, sizeof(err))) {
      snprintf(out, sizeof(out), "err %s", err);
      return reply(fd, out);
    }
    if (strcmp(dir, "from-guest")) impair_set(&s->g[link].to_guest, &prm);
    if (strcmp(dir, "to-guest")) impair_set(&s->g[link].from_guest, &prm);
    return reply(fd, "ok");
  }
  if (!strncmp(line, "dns ", 4)) {
    char w[3][256] = {"", "", ""};
    int n = sscanf(line + 4, "%255s %255s %255s", w[0], w[1], w[2]);
    unsigned o[4];
    enum dnszone_fault f;
    if (n == 1 && !strcmp(w[0], "clear")) {
      dnszone_clear(&s->dns);
    } else if (n == 3 && !strcmp(w[0], "add") && sscanf(w[2], "%u.%u.%u.%u", &o[0], &o[1], &o[2], &o[3]) == 4) {
      dnszone_add_a(&s->dns, w[1], o[0] << 24 | o[1] << 16 | o[2] << 8 | o[3]);
    } else if (n == 3 && !strcmp(w[0], "cname")) {
      dnszone_add_cname(&s->dns, w[1], w[2]);
    } else if (n >= 2 && !strcmp(w[0], "fault") && !dnszone_parse_fault(w[1], &f)) {
      dnszone_set_fault(&s->dns, f, n == 3 ? (unsigned)atoi(w[2]) : 0);
    } else if (n == 2 && !strcmp(w[0], "delay")) {
      s->dns.delay_ns = (uint64_t)atoll(w[1]) * 1000000ull;
    } else {
      snprintf(out, sizeof(out), "err dns: add NAME A.B.C.D | cname NAME TARGET | fault nxdomain|servfail|drop|"
                                 "truncate|wrong-id|wrong-source|malformed|pointer-loop|ok [COUNT] | delay MS | clear");
      return reply(fd, out);
    }
    return reply(fd, "ok");
  }
  if (!strcmp(line, "rule clear")) {
    memset(&s->rules, 0, sizeof(s->rules));
    return reply(fd, "ok");
  }
  if (!strncmp(line, "rule ", 5)) {
    if (rules_add(&s->rules, line + 5, err, sizeof(err))) {
      snprintf(out, sizeof(out), "err %s", err);
      return reply(fd, out);
    }
    return reply(fd, "ok");
  }
  if (!strcmp(line, "counters") || !strcmp(line, "counters reset=1")) {
    counters_line(s, out, sizeof(out));
    if (line[8]) { /* reset=1: the next reading starts from zero */
      for (int i = 0; i < MAX_GUESTS; i++) {
        memset(&s->g[i].to_guest.c, 0, sizeof(s->g[i].to_guest.c));
        memset(&s->g[i].from_guest.c, 0, sizeof(s->g[i].from_guest.c));
      }
      s->slirp_frames_in = s->slirp_frames_out = 0;
      s->dns.queries = 0, s->dns_answered = 0;
    }
    return reply(fd, out);
  }
  if (!strcmp(line, "stop")) {
    s->stop = 1;
    return reply(fd, "ok");
  }
  snprintf(out, sizeof(out), "err unknown command '%.60s' (impair, rule, counters, stop)", line);
  reply(fd, out);
}

static void on_signal(int sig) { (void)sig; }

int main(int argc, char **argv) {
  static struct sim sim;
  struct sim *s = &sim;
  const char *lan = NULL, *ctl = NULL, *pcapf = NULL, *relay = NULL;
  struct {
    int gp, hp;
  } gfw[64], hfw[16];
  int ngfw = 0, nhfw = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--lan") && v) lan = argv[++i];
    else if (!strcmp(a, "--control") && v) ctl = argv[++i];
    else if (!strcmp(a, "--pcap") && v) pcapf = argv[++i];
    else if (!strcmp(a, "--relay") && v) relay = argv[++i];
    else if (!strcmp(a, "--seed") && v) s->seed = strtoull(argv[++i], NULL, 0);
    else if (!strcmp(a, "--guestfwd") && v && ngfw < 64 && sscanf(argv[++i], "%d:%d", &gfw[ngfw].gp, &gfw[ngfw].hp) == 2) ngfw++;
    else if (!strcmp(a, "--hostfwd") && v && nhfw < 16 && sscanf(argv[++i], "%d:%d", &hfw[nhfw].hp, &hfw[nhfw].gp) == 2) nhfw++;
    else {
      fprintf(stderr, "netsim: bad argument '%s'\nusage: fwnet-netsim --lan SOCK --control SOCK --pcap FILE "
                      "[--seed N] [--relay PATH] [--guestfwd GP:HP]... [--hostfwd HP:GP]...\n", a);
      return 2;
    }
  }
  if (!lan || !ctl) {
    fprintf(stderr, "netsim: --lan and --control are required\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  for (int i = 0; i < MAX_GUESTS; i++) {
    s->g[i].fd = -1;
    impair_init(&s->g[i].to_guest, s->seed * 2 * MAX_GUESTS + 2 * (uint64_t)i);
    impair_init(&s->g[i].from_guest, s->seed * 2 * MAX_GUESTS + 2 * (uint64_t)i + 1);
  }
  for (int i = 0; i < MAX_CTL; i++) s->ctl[i] = -1;
  if (pcapf) {
    s->pcap = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    s->dump = pcap_dump_open(s->pcap, pcapf);
    if (!s->dump) {
      fprintf(stderr, "netsim: pcap %s: %s\n", pcapf, pcap_geterr(s->pcap));
      return 2;
    }
  }
  SlirpConfig cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.version = 4;
  cfg.restricted = 1;
  cfg.in_enabled = true;
  inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
  inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
  inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
  inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
  /* slirp's own name server address is moved off 10.0.2.3 (its proxy is off
   * and, restricted, it advertises no DNS in DHCP): libslirp refuses a guestfwd
   * on its name server address, and 10.0.2.3:53/tcp is ours. */
  inet_pton(AF_INET, "10.0.2.254", &cfg.vnameserver);
  cfg.if_mtu = cfg.if_mru = 1500;
  cfg.disable_host_loopback = true;
  cfg.disable_dns = true; /* never the machine's resolver */
  static const SlirpCb cb = {.send_packet = slirp_send, .guest_error = guest_error, .clock_get_ns = clock_ns,
                             .timer_free = timer_free, .timer_mod = timer_mod, .register_poll_fd = reg_fd,
                             .unregister_poll_fd = reg_fd, .notify = notify, .timer_new_opaque = timer_new_opaque};
  s->slirp = slirp_new(&cfg, &cb, s);
  if (!s->slirp) {
    fprintf(stderr, "netsim: slirp_new failed\n");
    return 2;
  }
  struct in_addr peer, lo, guest;
  inet_pton(AF_INET, "10.0.2.100", &peer);
  inet_pton(AF_INET, "127.0.0.1", &lo);
  inet_pton(AF_INET, "10.0.2.15", &guest);
  for (int i = 0; i < ngfw; i++) {
    char cmd[512];
    if (!relay) {
      fprintf(stderr, "netsim: --guestfwd needs --relay\n");
      return 2;
    }
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s 127.0.0.1 %d", relay, gfw[i].hp);
    if (slirp_add_exec(s->slirp, cmd, &peer, gfw[i].gp) < 0) {
      fprintf(stderr, "netsim: guestfwd %d failed\n", gfw[i].gp);
      return 2;
    }
  }
  struct in_addr dnsaddr;
  inet_pton(AF_INET, "10.0.2.3", &dnsaddr);
  if (slirp_add_guestfwd(s->slirp, dns_tcp_write, s, &dnsaddr, 53) < 0) {
    fprintf(stderr, "netsim: DNS over TCP on 10.0.2.3:53 failed\n");
    return 2;
  }
  for (int i = 0; i < nhfw; i++)
    if (slirp_add_hostfwd(s->slirp, 0, lo, hfw[i].hp, guest, hfw[i].gp) < 0) {
      fprintf(stderr, "netsim: hostfwd 127.0.0.1:%d failed\n", hfw[i].hp);
      return 2;
    }
  s->lan_fd = listen_unix(lan);
  s->ctl_fd = listen_unix(ctl);
  fprintf(stderr, "netsim: ready (seed %llu)\n", (unsigned long long)s->seed);

  while (!s->stop) {
    s->npfd = 0;
    uint32_t timeout = 100;
    slirp_pollfds_fill(s->slirp, &timeout, add_poll, s);
    s->slirp_base = s->npfd;
    int base = s->npfd;
    s->pfd[s->npfd++] = (struct pollfd){s->lan_fd, POLLIN, 0};
    s->pfd[s->npfd++] = (struct pollfd){s->ctl_fd, POLLIN, 0};
    for (int i = 0; i < MAX_GUESTS; i++)
      s->pfd[s->npfd++] = (struct pollfd){s->g[i].fd, (short)(POLLIN | (s->g[i].olen ? POLLOUT : 0)), 0};
    for (int i = 0; i < MAX_CTL; i++) s->pfd[s->npfd++] = (struct pollfd){s->ctl[i], POLLIN, 0};
    uint64_t now = now_ns(), next = UINT64_MAX;
    for (int i = 0; i < MAX_GUESTS; i++) {
      uint64_t a = impair_next_due(&s->g[i].to_guest), b = impair_next_due(&s->g[i].from_guest);
      if (a < next) next = a;
      if (b < next) next = b;
    }
    int64_t now_ms = (int64_t)(now / 1000000);
    for (int i = 0; i < MAX_TIMERS; i++)
      if (s->timers[i].used && s->timers[i].expire_ms >= 0) {
        int64_t left = s->timers[i].expire_ms - now_ms;
        if (left < (int64_t)timeout) timeout = left < 0 ? 0 : (uint32_t)left;
      }
    if (next != UINT64_MAX) {
      uint64_t left = next > now ? (next - now + 999999) / 1000000 : 0;
      if (left < timeout) timeout = (uint32_t)left;
    }
    int rc = poll(s->pfd, (nfds_t)s->npfd, (int)timeout);
    slirp_pollfds_poll(s->slirp, rc < 0, get_revents, s);
    if (rc < 0 && errno == EINTR) break; /* SIGTERM */
    dns_tcp_flush(s);
    now = now_ns();
    now_ms = (int64_t)(now / 1000000);
    for (int i = 0; i < MAX_TIMERS; i++)
      if (s->timers[i].used && s->timers[i].expire_ms >= 0 && s->timers[i].expire_ms <= now_ms) {
        s->timers[i].expire_ms = -1;
        slirp_handle_timer(s->slirp, s->timers[i].id, s->timers[i].cb_opaque);
      }
    if (s->pfd[base].revents & POLLIN) {
      int fd = accept(s->lan_fd, NULL, NULL);
      int slot = -1;
      for (int i = 0; i < MAX_GUESTS && slot < 0; i++)
        if (s->g[i].fd < 0) slot = i;
      if (slot < 0) {
        close(fd);
      } else {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        struct guest *g = &s->g[slot];
        g->fd = fd, g->rlen = 0, g->olen = 0, g->mac_known = false;
        if (!g->obuf) g->obuf = malloc(EGRESS_MAX);
      }
    }
    if (s->pfd[base + 1].revents & POLLIN) {
      int fd = accept(s->ctl_fd, NULL, NULL);
      int slot = -1;
      for (int i = 0; i < MAX_CTL && slot < 0; i++)
        if (s->ctl[i] < 0) slot = i;
      if (slot < 0) close(fd);
      else s->ctl[slot] = fd, s->ctllen[slot] = 0;
    }
    for (int i = 0; i < MAX_GUESTS; i++) {
      struct guest *g = &s->g[i];
      if (g->fd >= 0 && (s->pfd[base + 2 + i].revents & POLLOUT)) flush_guest(g);
      if (g->fd < 0 || !(s->pfd[base + 2 + i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(g->fd, g->rbuf + g->rlen, sizeof(g->rbuf) - g->rlen);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      if (n <= 0) {
        drop_guest(g);
        continue;
      }
      g->rlen += (size_t)n;
      for (;;) {
        if (g->rlen < 4) break;
        size_t flen = (size_t)g->rbuf[0] << 24 | (size_t)g->rbuf[1] << 16 | (size_t)g->rbuf[2] << 8 | g->rbuf[3];
        if (flen > sizeof(g->rbuf) - 4) {
          drop_guest(g);
          break;
        }
        if (g->rlen < 4 + flen) break;
        if (flen >= 14 && !(g->rbuf[4 + 6] & 1)) {
          memcpy(g->mac, g->rbuf + 4 + 6, 6);
          g->mac_known = true;
        }
        uint64_t d = 0;
        enum rule_action a = rules_match(&s->rules, DIR_FROM_GUEST, g->rbuf + 4, flen, &d);
        if (a == RULE_DROP) {
          g->from_guest.c.frames_in++, g->from_guest.c.dropped++;
        } else {
          impair_push(&g->from_guest, now + (a == RULE_DELAY ? d : 0), g->rbuf + 4, flen);
          if (a == RULE_DUP) impair_push(&g->from_guest, now, g->rbuf + 4, flen);
        }
        memmove(g->rbuf, g->rbuf + 4 + flen, g->rlen - 4 - flen);
        g->rlen -= 4 + flen;
      }
    }
    for (int i = 0; i < MAX_CTL; i++) {
      if (s->ctl[i] < 0 || !(s->pfd[base + 2 + MAX_GUESTS + i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(s->ctl[i], s->ctlbuf[i] + s->ctllen[i], sizeof(s->ctlbuf[i]) - 1 - s->ctllen[i]);
      if (n <= 0) {
        close(s->ctl[i]);
        s->ctl[i] = -1;
        continue;
      }
      s->ctllen[i] += (size_t)n;
      s->ctlbuf[i][s->ctllen[i]] = 0;
      char *nl;
      while ((nl = strchr(s->ctlbuf[i], '\n'))) {
        *nl = 0;
        if (nl > s->ctlbuf[i] && nl[-1] == '\r') nl[-1] = 0;
        control(s, s->ctl[i], s->ctlbuf[i]);
        size_t used = (size_t)(nl + 1 - s->ctlbuf[i]);
        memmove(s->ctlbuf[i], nl + 1, s->ctllen[i] - used + 1);
        s->ctllen[i] -= used;
      }
    }
    /* Frames whose time has come cross the LAN. */
    now = now_ns();
    for (int i = 0; i < MAX_GUESTS; i++) {
      struct impair_frame *f;
      while ((f = impair_pop(&s->g[i].from_guest, now))) {
        deliver(s, i, f->data, f->len);
        impair_free(f);
      }
      while ((f = impair_pop(&s->g[i].to_guest, now))) {
        if (s->g[i].fd >= 0) send_to_guest(s, &s->g[i], f->data, f->len);
        impair_free(f);
      }
    }
    dns_tcp_flush(s); /* replies to queries that arrived in this round */
    /* Flush the capture now and then, not per wake-up (a syscall each). */
    static uint64_t last_flush;
    if (s->dump && now - last_flush > 100000000ull) {
      pcap_dump_flush(s->dump);
      last_flush = now;
    }
  }
  if (s->dump) pcap_dump_close(s->dump);
  if (s->pcap) pcap_close(s->pcap);
  slirp_cleanup(s->slirp);
  dnszone_clear(&s->dns);
  for (int i = 0; i < MAX_GUESTS; i++) {
    impair_destroy(&s->g[i].to_guest);
    impair_destroy(&s->g[i].from_guest);
    free(s->g[i].obuf);
  }
  unlink(lan);
  unlink(ctl);
  return 0;
}
