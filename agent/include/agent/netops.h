/* The agent's view of a socket API. One implementation per backend:
 * ops_linux.c (BSD sockets, the reference), ops_efinet.c (efi-net, on the
 * host fakes or as an EFI application) and ops_lwip.c (the rump-hw image). Values are Linux's: efi-net uses them
 * too, so results compare directly. Freestanding-safe header. */
#ifndef FWNET_AGENT_NETOPS_H
#define FWNET_AGENT_NETOPS_H

#include <stddef.h>
#include <stdint.h>
#include "efisock/socket.h" /* constants, sockaddr, pollfd, fd_set, stats */

struct agent_net;

struct agent_netops {
  const char *backend;
  int (*socket)(struct agent_net *n, int type, int nonblock);
  int (*bind)(struct agent_net *n, int fd, const struct efisock_sockaddr_in *a);
  int (*listen)(struct agent_net *n, int fd, int backlog);
  int (*accept)(struct agent_net *n, int fd, struct efisock_sockaddr_in *peer);
  int (*connect)(struct agent_net *n, int fd, const struct efisock_sockaddr_in *a);
  intptr_t (*sendto)(struct agent_net *n, int fd, const void *b, size_t len, int flags,
                     const struct efisock_sockaddr_in *to);
  intptr_t (*recvfrom)(struct agent_net *n, int fd, void *b, size_t len, int flags,
                       struct efisock_sockaddr_in *from);
  int (*shutdown)(struct agent_net *n, int fd, int how);
  int (*close)(struct agent_net *n, int fd);
  int (*sockname)(struct agent_net *n, int fd, struct efisock_sockaddr_in *a);
  int (*peername)(struct agent_net *n, int fd, struct efisock_sockaddr_in *a);
  int (*setsockopt)(struct agent_net *n, int fd, int level, int name, const void *v, unsigned len);
  int (*getsockopt)(struct agent_net *n, int fd, int level, int name, void *v, unsigned *len);
  int (*set_nonblock)(struct agent_net *n, int fd, int on);
  /* select over fd lists; sets are bit masks over fds 0..255 */
  int (*select)(struct agent_net *n, int nfds, efisock_fd_set *r, efisock_fd_set *w,
                efisock_fd_set *e, int timeout_ms);
  int (*poll)(struct agent_net *n, struct efisock_pollfd *p, unsigned nfds, int timeout_ms);
  /* Resolve: 0 and up to max IPv4 addresses (network order), or EAI_* */
  int (*resolve)(struct agent_net *n, const char *name, uint32_t *addrs, unsigned max,
                 unsigned *count);
  int (*last_errno)(struct agent_net *n);
  uint64_t (*now_ns)(struct agent_net *n);
  void (*sleep_ms)(struct agent_net *n, unsigned ms);
  int (*stats)(struct agent_net *n, int fd, struct efinet_stats *out); /* -1: none */
};

/* A backend-specific command (hello facts, open, net, peer, ...): run()
 * writes the reply's fields with agent_kv*, starting with ret= and errno=;
 * a ret= starting with '-' makes the reply "err". A table ends with an
 * entry whose name is NULL. */
struct agent_cmd {
  const char *name;
  void (*run)(void *ctx, const char *args, char *out, size_t cap);
  const char *help; /* the arguments, as in PROTOCOL.md "Commands" */
};

/* A backend table and the context its handlers get. */
struct agent_cmds {
  const struct agent_cmd *cmds;
  void *ctx;
};

#define AGENT_BACKEND_TABLES 4

/* What the agent's dispatcher needs from its environment. */
struct agent_env {
  const struct agent_netops *ops;
  struct agent_net *net;
  /* consulted in order after the core's own commands */
  struct agent_cmds backend[AGENT_BACKEND_TABLES];
  void (*write_line)(struct agent_env *env, const char *line); /* one reply line */
  void *user;
};

/* Add a backend command table; -1 when all AGENT_BACKEND_TABLES are taken. */
int agent_add_cmds(struct agent_env *env, const struct agent_cmd *cmds, void *ctx);

/* Execute one command line; write the reply through env->write_line.
 * Returns 1 when the command was "quit". */
int agent_execute(struct agent_env *env, const char *line);

/* Helpers for backend commands. */
int agent_arg(const char *args, const char *key, char *val, size_t cap); /* 1 found */
long agent_arg_int(const char *args, const char *key, long dflt);
void agent_kv(char *out, size_t cap, const char *key, const char *val);
void agent_kv_int(char *out, size_t cap, const char *key, long long v);
void agent_kv_ip(char *out, size_t cap, const char *key, uint32_t net_order);
void agent_kv_hex32(char *out, size_t cap, const char *key, uint32_t v); /* 8 hex digits */
int agent_parse_ip(const char *s, uint32_t *net_order);
/* The framed form of a reply line for a serial console (PROTOCOL.md "Transport"). */
size_t agent_frame(const char *line, char *out, size_t cap);

#endif
