/* The control socket: one command per line, one reply line, `ok ...` or
 * `err ...`. Commands: impair, rule, dns, counters, capture, inject, stop
 * (see README.md). */
#ifndef NETSIM_CONTROL_H
#define NETSIM_CONTROL_H

#include <poll.h>
#include <stddef.h>

#define CONTROL_MAX_CLIENTS 4
#define CONTROL_LINE_MAX 8192 /* `inject` carries a frame in hex */
#define CONTROL_REPLY_MAX 16384 /* `dns answer` replies in hex */

struct netsim;

struct control {
  int listen_fd;
  int fd[CONTROL_MAX_CLIENTS]; /* -1: free */
  char buf[CONTROL_MAX_CLIENTS][CONTROL_LINE_MAX];
  size_t len[CONTROL_MAX_CLIENTS];
};

/* One command: name, then its arguments after one space (args NULL when the
 * line is the name alone). Returns 0 with the reply in out, or -ENOENT when
 * the line is no form of this command. */
struct control_command {
  const char *name;
  int (*run)(struct netsim *ns, const char *args, char *out, size_t cap);
};

extern const struct control_command control_commands[];

void control_init(struct control *c, int listen_fd);
/* Run one command line; the reply (without its newline) goes to out. */
void control_exec(struct netsim *ns, char *line, char *out, size_t cap);

/* Poll entries: the listening socket, then CONTROL_MAX_CLIENTS clients. */
int control_poll_fill(const struct control *c, struct pollfd *pfd);
/* Accept a client if the listening socket (pfd[0]) is readable. */
void control_accept(struct control *c, const struct pollfd *pfd);
/* Read the clients' lines and reply to each. */
void control_serve(struct netsim *ns, const struct pollfd *pfd);

#endif
