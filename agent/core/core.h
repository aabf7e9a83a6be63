/* The core's private interface: the per-command context, the command
 * tables of cmd_sock.c and cmd_bulk.c, and the text helpers of args.c.
 * Freestanding. */
#ifndef FWNET_AGENT_CORE_H
#define FWNET_AGENT_CORE_H

#include <stdbool.h>
#include "agent/netops.h"

#define AGENT_MAXBUF (1u << 20)
#define AGENT_LINE 1024

/* Scratch memory for the one command running at a time. */
struct agent_bufs {
  uint8_t io[AGENT_MAXBUF];
  uint8_t rx[65536]; /* what bulkecho and rr read back */
  char text[512];    /* send's text= */
};

/* One command's execution; the handler sets ret, err and fields, the
 * dispatcher writes the reply (PROTOCOL.md "Replies"). */
struct agent_call {
  const struct agent_netops *o;
  struct agent_net *n;
  struct agent_bufs *buf;
  const char *op, *args;
  int fd;             /* fd=, -1 when absent */
  long long ret;
  int err;            /* 0: the backend's last_errno() when ret < 0 */
  char fields[AGENT_LINE];
};

#define AGENT_CMD_QUIT 1u   /* agent_execute() returns 1 after the reply */
#define AGENT_CMD_STATUS 2u /* ret is a status (EAI code): always "ok", errno=0 */

struct core_cmd {
  const char *name;
  void (*run)(struct agent_call *c);
  unsigned flags;
  const char *help; /* the arguments, as in PROTOCOL.md "Commands" */
};

/* Each ends with an entry whose name is NULL. */
extern const struct core_cmd agent_sock_cmds[];
extern const struct core_cmd agent_bulk_cmds[];

/* args.c */
void agent_append(char *out, size_t cap, const char *s);
void agent_fmt_int(char *buf, long long v);
void agent_fmt_ip(char *b, uint32_t net_order); /* b: 16 bytes */
int agent_arg_sin(const char *args, struct efisock_sockaddr_in *a);
void agent_fill(uint8_t *b, size_t n, const char *pattern, size_t off);
size_t agent_unescape(const char *t, uint8_t *out);
int agent_parse_flags(const char *args);
void agent_kv_fdlist(char *out, size_t cap, const char *key, const efisock_fd_set *s, int nfds);
int agent_parse_fdlist(const char *args, const char *key, efisock_fd_set *s);

#endif
