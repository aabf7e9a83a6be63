/* The fwnet agent's dispatcher: executes one command line and writes its
 * reply (PROTOCOL.md "Replies"). Commands are looked up by name in the
 * core's tables (cmd_sock.c, cmd_bulk.c), then in the backend's
 * (env->backend). Freestanding: the same code runs in a Linux process,
 * over the host fakes, in an EFI application and on bare metal. */
#include "core.h"

#include "fwbase/rt.h"

static struct agent_bufs bufs; /* one command at a time */

static const struct core_cmd *const core_tables[] = {agent_sock_cmds, agent_bulk_cmds};

static const struct core_cmd *find_core(const char *op) {
  for (unsigned t = 0; t < sizeof(core_tables) / sizeof(core_tables[0]); t++)
    for (const struct core_cmd *c = core_tables[t]; c->name; c++)
      if (!strcmp(c->name, op)) return c;
  return NULL;
}

static const struct agent_cmd *find_backend(const struct agent_env *env, const char *op, void **ctx) {
  for (unsigned t = 0; t < AGENT_BACKEND_TABLES && env->backend[t].cmds; t++)
    for (const struct agent_cmd *c = env->backend[t].cmds; c->name; c++)
      if (!strcmp(c->name, op)) {
        *ctx = env->backend[t].ctx;
        return c;
      }
  return NULL;
}

int agent_add_cmds(struct agent_env *env, const struct agent_cmd *cmds, void *ctx) {
  for (unsigned t = 0; t < AGENT_BACKEND_TABLES; t++)
    if (!env->backend[t].cmds) {
      env->backend[t].cmds = cmds;
      env->backend[t].ctx = ctx;
      return 0;
    }
  return -1;
}

/* "ok|err op=<op> <fields>", err when the handler's ret= is negative */
static void reply_backend(struct agent_env *env, const char *op, const struct agent_cmd *cmd, void *ctx,
                          const char *args) {
  char fields[AGENT_LINE] = "", out[AGENT_LINE] = "", rv[8] = "0";
  cmd->run(ctx, args, fields, sizeof(fields));
  agent_arg(fields, "ret", rv, sizeof(rv));
  agent_append(out, sizeof(out), rv[0] == '-' ? "err op=" : "ok op=");
  agent_append(out, sizeof(out), op);
  if (fields[0]) {
    agent_append(out, sizeof(out), " ");
    agent_append(out, sizeof(out), fields);
  }
  env->write_line(env, out);
}

static void reply_unknown(struct agent_env *env, const char *op) {
  char out[AGENT_LINE] = "";
  agent_append(out, sizeof(out), "err op=");
  agent_append(out, sizeof(out), op);
  agent_append(out, sizeof(out), " ret=-1 errno=ENOSYS msg=unknown-command");
  env->write_line(env, out);
}

/* "ok|err op=<op> ret= errno= us= [fields]" */
static void reply_core(struct agent_env *env, const struct core_cmd *cmd, struct agent_call *c, uint64_t t0) {
  bool status = (cmd->flags & AGENT_CMD_STATUS) != 0, failed = c->ret < 0 && !status;
  if (failed && !c->err) c->err = c->o->last_errno(c->n);
  uint64_t us = (c->o->now_ns(c->n) - t0) / 1000;
  char out[AGENT_LINE] = "", tmp[AGENT_LINE] = "";
  agent_append(out, sizeof(out), failed ? "err" : "ok");
  agent_append(out, sizeof(out), " op=");
  agent_append(out, sizeof(out), c->op);
  agent_kv_int(tmp, sizeof(tmp), "ret", c->ret);
  agent_kv(tmp, sizeof(tmp), "errno", failed ? efisock_errname(c->err) : "0");
  agent_kv_int(tmp, sizeof(tmp), "us", (long long)us);
  agent_append(out, sizeof(out), " ");
  agent_append(out, sizeof(out), tmp);
  if (c->fields[0]) {
    agent_append(out, sizeof(out), " ");
    agent_append(out, sizeof(out), c->fields);
  }
  env->write_line(env, out);
}

int agent_execute(struct agent_env *env, const char *line) {
  char op[24];
  size_t i = 0;
  while (*line == ' ') line++;
  while (line[i] && line[i] != ' ' && i < sizeof(op) - 1) {
    op[i] = line[i];
    i++;
  }
  op[i] = 0;
  struct agent_call c = {
      .o = env->ops,
      .n = env->net,
      .buf = &bufs,
      .op = op,
      .args = line + i,
      .ret = 0,
      .err = 0,
      .fields = "",
  };
  uint64_t t0 = c.o->now_ns(c.n);
  c.fd = (int)agent_arg_int(c.args, "fd", -1);
  if (!op[0]) return 0;

  const struct core_cmd *cmd = find_core(op);
  if (cmd) {
    cmd->run(&c);
    reply_core(env, cmd, &c, t0);
    return (cmd->flags & AGENT_CMD_QUIT) ? 1 : 0;
  }
  void *ctx = NULL;
  const struct agent_cmd *bcmd = find_backend(env, op, &ctx);
  if (bcmd) reply_backend(env, op, bcmd, ctx, c.args);
  else reply_unknown(env, op);
  return 0;
}
