/* The bulk commands (PROTOCOL.md "Commands": bulksend, bulkrecv, bulkecho,
 * rr, fill): loops over the backend's agent_netops that report totals and
 * CRCs rather than data. Freestanding. */
#include "core.h"

#include "fwbase/pattern.h"
#include "fwbase/rt.h"

/* Transfers over several connections, driven by one select() loop:
 * step() runs for each ready fd and says whether it is done (1), failed
 * (-1) or wants another turn (0). */
struct bulk_many {
  struct agent_call *c;
  long long want, total;
  long long moved[EFISOCK_FD_SETSIZE];
};
typedef int (*bulk_step)(struct bulk_many *m, int fd);

/* nonzero when select() found nothing for 10 s or a step failed */
static int select_each(struct bulk_many *m, efisock_fd_set live, int maxfd, bool writing, bulk_step step) {
  const struct agent_netops *o = m->c->o;
  int nlive = 0;
  for (int f = 0; f <= maxfd; f++) nlive += EFISOCK_FD_ISSET(f, &live) ? 1 : 0;
  while (nlive > 0) {
    efisock_fd_set rs, ws, es;
    EFISOCK_FD_ZERO(&rs);
    EFISOCK_FD_ZERO(&ws);
    EFISOCK_FD_ZERO(&es);
    if (writing) ws = live;
    else rs = live;
    if (o->select(m->c->n, maxfd + 1, &rs, &ws, &es, 10000) <= 0) return 1;
    for (int f = 0; f <= maxfd; f++) {
      if (!EFISOCK_FD_ISSET(f, writing ? &ws : &rs)) continue;
      int r = step(m, f);
      if (r < 0) return 1;
      if (r > 0) {
        EFISOCK_FD_CLR(f, &live);
        nlive--;
      }
    }
  }
  return 0;
}

/* read what is there; done at bytes= or EOF */
static int recv_step(struct bulk_many *m, int fd) {
  struct agent_call *c = m->c;
  long long left = m->want - m->moved[fd];
  if (left <= 0) return 1; /* bytes=0 or negative: nothing to move (fuzz/: a negative size_t) */
  intptr_t r = c->o->recvfrom(c->n, fd, c->buf->io,
                              (size_t)(left < (long long)AGENT_MAXBUF ? left : (long long)AGENT_MAXBUF), 0, NULL);
  if (r > 0) m->moved[fd] += r, m->total += r;
  return r < 0 ? -1 : (r == 0 || m->moved[fd] >= m->want);
}

/* send what fits without blocking (EAGAIN: select again) */
static int send_step(struct bulk_many *m, int fd) {
  struct agent_call *c = m->c;
  long long left = m->want - m->moved[fd];
  if (left <= 0) return 1; /* bytes=0 or negative: nothing to move (fuzz/: a negative size_t) */
  size_t chunk = (size_t)(left < 65536 ? left : 65536);
  agent_fill(c->buf->io, chunk, "seq", (size_t)m->moved[fd]);
  intptr_t r = c->o->sendto(c->n, fd, c->buf->io, chunk, EFISOCK_MSG_DONTWAIT, NULL);
  if (r > 0) m->moved[fd] += r, m->total += r;
  if (r < 0 && c->o->last_errno(c->n) != EFISOCK_EAGAIN) return -1;
  return m->moved[fd] >= m->want;
}

/* drain=1: wait until the firmware has completed every Transmit on fd (the
 * data is acknowledged), the criterion the raw driver uses; 0 when fd has
 * no stats */
static void drain(struct agent_call *c, int fd) {
  struct efinet_stats st;
  while (c->o->stats(c->n, fd, &st) == 0 && st.tx_completed < st.tx_posted) c->o->sleep_ms(c->n, 0);
}

/* fds=: select() over them, each read until bytes= or EOF; ret is the total */
static void bulkrecv_many(struct agent_call *c) {
  struct bulk_many m = {.c = c, .want = agent_arg_int(c->args, "bytes", 0), .total = 0};
  efisock_fd_set live;
  int maxfd = agent_parse_fdlist(c->args, "fds", &live);
  int failed = select_each(&m, live, maxfd, false, recv_step);
  c->ret = failed && m.total == 0 ? -1 : m.total;
}

static void cmd_bulkrecv(struct agent_call *c) {
  char fds[256];
  if (agent_arg(c->args, "fds", fds, sizeof(fds))) {
    bulkrecv_many(c);
    return;
  }
  /* up to bytes= or EOF; select=1: a select() before each recv */
  const struct agent_netops *o = c->o;
  long long want = agent_arg_int(c->args, "bytes", 0), total = 0;
  uint32_t crc = 0;
  intptr_t r = 1;
  bool use_select = agent_arg_int(c->args, "select", 0) != 0;
  while (total < want && r > 0) {
    size_t chunk = (size_t)(want - total < (long long)AGENT_MAXBUF ? want - total : (long long)AGENT_MAXBUF);
    if (use_select) {
      efisock_fd_set rs, ws, es;
      EFISOCK_FD_ZERO(&rs);
      EFISOCK_FD_ZERO(&ws);
      EFISOCK_FD_ZERO(&es);
      EFISOCK_FD_SET(c->fd, &rs);
      if (o->select(c->n, c->fd + 1, &rs, &ws, &es, 10000) <= 0) {
        r = -1;
        break;
      }
    }
    r = o->recvfrom(c->n, c->fd, c->buf->io, chunk, 0, NULL);
    if (r > 0) {
      crc = fwb_crc32(crc, c->buf->io, (size_t)r);
      total += r;
    }
  }
  c->ret = r < 0 && total == 0 ? -1 : total;
  agent_kv_hex32(c->fields, sizeof(c->fields), "crc", crc);
}

/* fds=: select() for writability, non-blocking sends of the pattern,
 * bytes= to each; ret is the total */
static void bulksend_many(struct agent_call *c) {
  struct bulk_many m = {.c = c, .want = agent_arg_int(c->args, "bytes", 0), .total = 0};
  efisock_fd_set live;
  int maxfd = agent_parse_fdlist(c->args, "fds", &live);
  int failed = select_each(&m, live, maxfd, true, send_step);
  if (agent_arg_int(c->args, "drain", 0) && !failed)
    for (int f = 0; f <= maxfd; f++)
      if (EFISOCK_FD_ISSET(f, &live)) drain(c, f);
  c->ret = failed && m.total == 0 ? -1 : m.total;
}

static void cmd_bulksend(struct agent_call *c) {
  char fds[256];
  if (agent_arg(c->args, "fds", fds, sizeof(fds))) {
    bulksend_many(c);
    return;
  }
  long long want = agent_arg_int(c->args, "bytes", 0), total = 0;
  uint32_t crc = 0;
  intptr_t r = 1;
  bool digest = agent_arg_int(c->args, "crc", 1) != 0; /* crc=0: no digest of our own pattern */
  while (total < want && r > 0) {
    size_t chunk = (size_t)(want - total < 65536 ? want - total : 65536);
    agent_fill(c->buf->io, chunk, "seq", (size_t)total);
    r = c->o->sendto(c->n, c->fd, c->buf->io, chunk, 0, NULL);
    if (r > 0) {
      if (digest) crc = fwb_crc32(crc, c->buf->io, (size_t)r);
      total += r;
    }
  }
  if (agent_arg_int(c->args, "drain", 0)) drain(c, c->fd);
  c->ret = r < 0 && total == 0 ? -1 : total;
  if (digest) agent_kv_hex32(c->fields, sizeof(c->fields), "crc", crc);
}

/* send bytes= of the pattern and read the echo back at the same time
 * (poll-driven, so neither direction's window can deadlock the other) */
static void cmd_bulkecho(struct agent_call *c) {
  const struct agent_netops *o = c->o;
  long long want = agent_arg_int(c->args, "bytes", 0), sent = 0, got = 0;
  uint32_t crc = 0;
  int rc = 0;
  while (got < want && rc >= 0) {
    struct efisock_pollfd p = {
        .fd = c->fd, .events = (short)(EFISOCK_POLLIN | (sent < want ? EFISOCK_POLLOUT : 0)), .revents = 0};
    rc = o->poll(c->n, &p, 1, 10000);
    if (rc <= 0) {
      rc = -1;
      break;
    }
    if ((p.revents & EFISOCK_POLLOUT) && sent < want) {
      size_t chunk = (size_t)(want - sent < 16384 ? want - sent : 16384);
      agent_fill(c->buf->io, chunk, "seq", (size_t)sent);
      intptr_t r = o->sendto(c->n, c->fd, c->buf->io, chunk, EFISOCK_MSG_DONTWAIT, NULL);
      if (r > 0) sent += r;
      else if (r < 0 && o->last_errno(c->n) != EFISOCK_EAGAIN) rc = -1;
    }
    if (p.revents & (EFISOCK_POLLIN | EFISOCK_POLLHUP | EFISOCK_POLLERR)) {
      intptr_t r = o->recvfrom(c->n, c->fd, c->buf->rx, sizeof(c->buf->rx), EFISOCK_MSG_DONTWAIT, NULL);
      if (r > 0) {
        crc = fwb_crc32(crc, c->buf->rx, (size_t)r);
        got += r;
      } else if (r == 0 || o->last_errno(c->n) != EFISOCK_EAGAIN) {
        rc = -1;
      }
    }
  }
  c->ret = rc < 0 && got == 0 ? -1 : got;
  agent_kv_hex32(c->fields, sizeof(c->fields), "crc", crc);
}

/* request/response: count= round trips of size= bytes to an echo peer */
static void cmd_rr(struct agent_call *c) {
  long count = agent_arg_int(c->args, "count", 100), size = agent_arg_int(c->args, "size", 64), k = 0;
  if (size < 1 || size > 65536) size = 64;
  agent_fill(c->buf->io, (size_t)size, "seq", 0);
  for (; k < count; k++) {
    if (c->o->sendto(c->n, c->fd, c->buf->io, (size_t)size, 0, NULL) != size) break;
    if (c->o->recvfrom(c->n, c->fd, c->buf->rx, (size_t)size, EFISOCK_MSG_WAITALL, NULL) != size) break;
  }
  c->ret = k == count ? k : -1;
}

/* non-blocking sends until the stack refuses: the send buffer's size */
static void cmd_fill(struct agent_call *c) {
  long long total = 0;
  intptr_t r;
  agent_fill(c->buf->io, 65536, "seq", 0);
  do {
    r = c->o->sendto(c->n, c->fd, c->buf->io, 65536, EFISOCK_MSG_DONTWAIT, NULL);
    if (r > 0) total += r;
  } while (r > 0 && total < (1ll << 30));
  c->ret = r < 0 ? -1 : total;
  agent_kv_int(c->fields, sizeof(c->fields), "bytes", total);
}

const struct core_cmd agent_bulk_cmds[] = {
    {.name = "bulkrecv", .run = cmd_bulkrecv, .help = "fd= bytes= [select=1] | fds=A,B bytes="},
    {.name = "bulksend", .run = cmd_bulksend, .help = "fd= bytes= [drain=1] [crc=0] | fds=A,B bytes= [drain=1]"},
    {.name = "bulkecho", .run = cmd_bulkecho, .help = "fd= bytes="},
    {.name = "rr", .run = cmd_rr, .help = "fd= count= size="},
    {.name = "fill", .run = cmd_fill, .help = "fd="},
    {.name = NULL},
};
