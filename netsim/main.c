/* fwnet-netsim: one virtual LAN for QEMU guests (see README.md).
 *
 *   fwnet-netsim --lan SOCK --control SOCK --pcap FILE [--seed N]
 *                [--relay PATH] [--guestfwd GPORT:HPORT]... [--hostfwd HPORT:GPORT]...
 *   fwnet-netsim --lan SOCK --control SOCK --pcap FILE [--seed N] --uplink-tap IFNAME
 *
 * The far side is libslirp (the first form) or an existing tap device in
 * the caller's network namespace (--uplink-tap: uplink_tap.c).
 * Guests attach with -netdev stream,server=off,addr.type=unix,addr.path=SOCK.
 * This file: the arguments, the sockets and the event loop. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "capture.h"
#include "netsim.h"
#include "uplink_tap.h"

#define MAX_SLIRP_FDS 256
#define MAX_POLL (MAX_SLIRP_FDS + 1 + HUB_POLL_MAX + 1 + CONTROL_MAX_CLIENTS)

struct args {
  const char *lan, *ctl, *pcap, *tap;
  uint64_t seed;
  struct gateway_config gw;
};

static int parse_args(int argc, char **argv, struct args *a) {
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    struct gateway_fwd *gf = &a->gw.guestfwd[a->gw.nguestfwd], *hf = &a->gw.hostfwd[a->gw.nhostfwd];
    if (!strcmp(o, "--lan") && v) a->lan = argv[++i];
    else if (!strcmp(o, "--control") && v) a->ctl = argv[++i];
    else if (!strcmp(o, "--pcap") && v) a->pcap = argv[++i];
    else if (!strcmp(o, "--relay") && v) a->gw.relay = argv[++i];
    else if (!strcmp(o, "--uplink-tap") && v) a->tap = argv[++i];
    else if (!strcmp(o, "--seed") && v) a->seed = strtoull(argv[++i], NULL, 0);
    else if (!strcmp(o, "--guestfwd") && v && a->gw.nguestfwd < GATEWAY_MAX_GUESTFWD &&
             sscanf(argv[++i], "%d:%d", &gf->guest_port, &gf->host_port) == 2)
      a->gw.nguestfwd++;
    else if (!strcmp(o, "--hostfwd") && v && a->gw.nhostfwd < GATEWAY_MAX_HOSTFWD &&
             sscanf(argv[++i], "%d:%d", &hf->host_port, &hf->guest_port) == 2)
      a->gw.nhostfwd++;
    else {
      fprintf(stderr, "netsim: bad argument '%s'\nusage: fwnet-netsim --lan SOCK --control SOCK --pcap FILE "
                      "[--seed N] [--relay PATH] [--guestfwd GP:HP]... [--hostfwd HP:GP]... | --uplink-tap IFNAME\n", o);
      return -EINVAL;
    }
  }
  if (!a->lan || !a->ctl) {
    fprintf(stderr, "netsim: --lan and --control are required\n");
    return -EINVAL;
  }
  if (a->tap && (a->gw.nguestfwd || a->gw.nhostfwd)) {
    fprintf(stderr, "netsim: --uplink-tap takes no forwards (peers are the tap's namespace)\n");
    return -EINVAL;
  }
  return 0;
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

static void on_signal(int sig) { (void)sig; }

static void run(struct netsim *ns, struct gateway *gw, struct capture *cap, int lan_fd) {
  static struct pollfd pfd[MAX_POLL];
  while (!ns->stop) {
    int n = 0;
    uint32_t timeout = 100;
    if (gw) n += gateway_poll_fill(gw, pfd, MAX_SLIRP_FDS, &timeout);
    int lan = n;
    pfd[n++] = (struct pollfd){lan_fd, POLLIN, 0};
    int ports = n;
    n += hub_poll_fill(&ns->hub, pfd + n);
    int ctl = n;
    n += control_poll_fill(&ns->control, pfd + n);
    uint64_t now = hub_now_ns(), next = hub_next_due(&ns->hub);
    if (gw) gateway_timeout(gw, (int64_t)(now / 1000000), &timeout);
    if (next != UINT64_MAX) {
      uint64_t left = next > now ? (next - now + 999999) / 1000000 : 0;
      if (left < timeout) timeout = (uint32_t)left;
    }
    int rc = poll(pfd, (nfds_t)n, (int)timeout);
    int err = errno;
    if (gw) gateway_poll_done(gw, rc < 0);
    if (rc < 0 && err == EINTR) break; /* SIGTERM */
    if (gw) gateway_stream_flush(gw);
    now = hub_now_ns();
    if (gw) gateway_timers_run(gw, (int64_t)(now / 1000000));
    if (pfd[lan].revents & POLLIN) {
      int fd = accept(lan_fd, NULL, NULL);
      if (fd >= 0 && hub_attach(&ns->hub, fd) < 0) close(fd);
    }
    control_accept(&ns->control, pfd + ctl);
    hub_poll_done(&ns->hub, pfd + ports, now);
    control_serve(ns, pfd + ctl);
    now = hub_now_ns();
    hub_run_due(&ns->hub, now);
    if (gw) gateway_stream_flush(gw); /* replies to queries that arrived in this round */
    cap = ns->capture;
    if (cap) capture_tick(cap, now);
  }
}

/* control `capture PATH`: the old file is closed (flushed) first. */
static int flush_capture(struct netsim *ns) {
  if (ns->capture) capture_flush(ns->capture);
  return 0;
}

static int recapture(struct netsim *ns, const char *path, bool append, char *err, size_t errlen) {
  struct capture *c;
  int rc = capture_open_mode(&c, path, append, err, errlen);
  if (rc < 0) return rc; /* the old capture goes on */
  capture_close(ns->capture);
  ns->capture = c;
  ns->hub.capture_ctx = c;
  return 0;
}

int main(int argc, char **argv) {
  static struct netsim ns;
  static struct args a;
  if (parse_args(argc, argv, &a) < 0) return 2;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  ns.seed = a.seed;
  hub_init(&ns.hub, ns.seed);
  dns_init(&ns.dns, &ns.hub);
  control_init(&ns.control, -1);
  struct capture *cap = NULL;
  if (a.pcap) {
    char err[256];
    if (capture_open(&cap, a.pcap, err, sizeof(err)) < 0) {
      fprintf(stderr, "netsim: pcap %s: %s\n", a.pcap, err);
      return 2;
    }
    ns.hub.capture = capture_frame, ns.hub.capture_ctx = cap;
    ns.capture = cap, ns.recapture = recapture, ns.flush = flush_capture;
  }
  struct gateway *gw = NULL;
  static struct uplink_tap tap = {.fd = -1};
  if (a.tap) {
    if (uplink_tap_open(&tap, a.tap, &ns.hub) < 0) return 2;
    ns.tap_in = &tap.frames_in, ns.tap_out = &tap.frames_out;
    ns.hub.capture_once = true; /* a wire to assert on: each frame once */
  } else if (gateway_open(&gw, &a.gw, &ns.hub, &ns.dns, &ns.gw) < 0) {
    return 2;
  }
  /* a guest's frames: the DNS address first, then the far side */
  if (hub_add_uplink(&ns.hub, &dns_uplink_ops, &ns.dns) < 0 ||
      hub_add_uplink(&ns.hub, gw ? &gateway_uplink_ops : &uplink_tap_ops, gw ? (void *)gw : (void *)&tap) < 0)
    return 2;
  int lan_fd = listen_unix(a.lan);
  ns.control.listen_fd = listen_unix(a.ctl);
  fprintf(stderr, "netsim: ready (seed %llu, far side %s%s)\n", (unsigned long long)ns.seed,
          a.tap ? "tap " : "slirp", a.tap ? a.tap : "");

  run(&ns, gw, cap, lan_fd);

  capture_close(ns.capture);
  if (gw) gateway_close(gw);
  uplink_tap_close(&tap);
  dns_destroy(&ns.dns);
  hub_destroy(&ns.hub);
  unlink(a.lan);
  unlink(a.ctl);
  return 0;
}
