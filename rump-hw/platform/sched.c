/* The scheduler (see bmk/sched.h). Everything runs with interrupts enabled
 * except the pick itself: interrupt handlers never touch these queues, they
 * only mark work for poll_events(), so a cooperative switch needs no locks. */
#include "bmk/sched.h"

#if defined(__SANITIZE_ADDRESS__)
/* Host tests under ASan: tell it about every stack switch. */
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
#define ASAN_START(t) __sanitizer_start_switch_fiber(&cur_fake, (t)->stack, (t)->stack_size)
#define ASAN_FINISH() __sanitizer_finish_switch_fiber(cur_fake, NULL, NULL)
static void *cur_fake;
#else
#define ASAN_START(t) ((void)0)
#define ASAN_FINISH() ((void)0)
#endif

enum { T_RUNNABLE, T_BLOCKED, T_EXITED };

struct bmk_thread {
  uintptr_t sp;
  char name[16];
  void *stack;
  size_t stack_size;
  int state, joinable, timed_out, err;
  uint64_t wakeup; /* BMK_FOREVER: not in the time queue */
  void *(*fn)(void *);
  void *ret, *arg, *tls;
  struct bmk_thread *joiner;
  struct bmk_thread *run_next, *time_next, *wq_next;
  struct bmk_waitq *wq;
};

static const struct bmk_platform *plat;
static struct bmk_thread main_thread, *cur;
static struct bmk_thread *runq_head, *runq_tail, *timeq, *zombies;
static struct bmk_sched_stats stats;

static void runq_add(struct bmk_thread *t) {
  t->run_next = NULL;
  if (runq_tail)
    runq_tail->run_next = t;
  else
    runq_head = t;
  runq_tail = t;
}

static struct bmk_thread *runq_pop(void) {
  struct bmk_thread *t = runq_head;
  if (t) {
    runq_head = t->run_next;
    if (!runq_head) runq_tail = NULL;
  }
  return t;
}

static void timeq_add(struct bmk_thread *t) {
  struct bmk_thread **pp = &timeq;
  while (*pp && (*pp)->wakeup <= t->wakeup) pp = &(*pp)->time_next;
  t->time_next = *pp;
  *pp = t;
}

static void timeq_del(struct bmk_thread *t) {
  for (struct bmk_thread **pp = &timeq; *pp; pp = &(*pp)->time_next)
    if (*pp == t) {
      *pp = t->time_next;
      return;
    }
}

static void make_runnable(struct bmk_thread *t, int timed_out) {
  if (t->wakeup != BMK_FOREVER) timeq_del(t);
  t->wakeup = BMK_FOREVER;
  t->timed_out = timed_out;
  t->state = T_RUNNABLE;
  runq_add(t);
}

static void reap(void) {
  while (zombies) {
    struct bmk_thread *z = zombies;
    zombies = z->run_next;
    plat->free(z->stack, z->stack_size);
    plat->free(z, sizeof(*z));
  }
}

/* Pick the next thread and switch to it. The caller has already put itself
 * on a queue (or exited). */
static void schedule(void) {
  struct bmk_thread *prev = cur, *next;
  for (;;) {
    plat->poll_events();
    uint64_t now = plat->now_ns();
    while (timeq && timeq->wakeup <= now) make_runnable(timeq, 1);
    if ((next = runq_pop())) break;
    stats.idles++;
    plat->idle(timeq ? timeq->wakeup : BMK_FOREVER);
  }
  if (next == prev) return;
  stats.switches++;
  cur = next;
  ASAN_START(next);
  bmk_ctx_switch(&prev->sp, next->sp);
  ASAN_FINISH();
  reap(); /* stacks of exited threads, now that we are off them */
}

/* A new thread's first code: finish the switch that started it. */
static void *thread_entry(void *arg) {
  struct bmk_thread *t = arg;
  ASAN_FINISH();
  reap();
  return t->fn(t->arg);
}

void bmk_sched_init(const struct bmk_platform *p) {
  plat = p;
  main_thread.name[0] = 'm', main_thread.name[1] = 'a', main_thread.name[2] = 'i', main_thread.name[3] = 'n';
  main_thread.state = T_RUNNABLE;
  main_thread.wakeup = BMK_FOREVER;
  cur = &main_thread;
  stats.threads_live = 1;
}

struct bmk_thread *bmk_thread_create(const char *name, void *(*fn)(void *), void *arg, int joinable,
                                     size_t stack_size) {
  struct bmk_thread *t = plat->alloc(sizeof(*t), 16);
  if (!t) return NULL;
  if (stack_size < 8192) stack_size = 8192;
  void *stack = plat->alloc(stack_size, 4096);
  if (!stack) {
    plat->free(t, sizeof(*t));
    return NULL;
  }
  for (size_t i = 0; i < sizeof(*t); i++) ((char *)t)[i] = 0;
  t->stack = stack;
  t->fn = fn;
  t->arg = arg;
  t->stack_size = stack_size;
  size_t n = 0;
  for (; name && name[n] && n < sizeof(t->name) - 1; n++) t->name[n] = name[n];
  /* Initial frame: 6 callee-saved registers (r12 = entry, r13 = thread), then the
   * return address into the trampoline; aligned so that the trampoline's
   * call leaves the ABI's alignment. */
  uintptr_t *top = (uintptr_t *)((char *)t->stack + stack_size);
  uintptr_t *sp = top - 9;
  sp[0] = 0;                            /* r15 */
  sp[1] = 0;                            /* r14 */
  sp[2] = (uintptr_t)t;                 /* r13 */
  sp[3] = (uintptr_t)thread_entry;      /* r12 */
  sp[4] = 0;                            /* rbx */
  sp[5] = 0;                            /* rbp */
  sp[6] = (uintptr_t)bmk_ctx_trampoline; /* ret */
  t->sp = (uintptr_t)sp;
  t->joinable = joinable;
  t->wakeup = BMK_FOREVER;
  t->state = T_RUNNABLE;
  stats.threads_created++;
  stats.threads_live++;
  runq_add(t);
  return t;
}

_Noreturn void bmk_thread_exit(void *ret) {
  struct bmk_thread *t = cur;
  t->ret = ret;
  t->state = T_EXITED;
  stats.threads_live--;
  if (t->joiner) {
    make_runnable(t->joiner, 0);
  } else if (!t->joinable && t != &main_thread) {
    t->run_next = zombies; /* freed by the next thread to run */
    zombies = t;
  }
  schedule();
  for (;;) {
  } /* an exited thread is never picked again */
}

void bmk_thread_exit_ret(void *ret); /* from the trampoline */
void bmk_thread_exit_ret(void *ret) { bmk_thread_exit(ret); }

void *bmk_thread_join(struct bmk_thread *t) {
  while (t->state != T_EXITED) {
    t->joiner = cur;
    bmk_sched_block_until(BMK_FOREVER);
  }
  void *r = t->ret;
  plat->free(t->stack, t->stack_size);
  plat->free(t, sizeof(*t));
  return r;
}

struct bmk_thread *bmk_current(void) { return cur; }
const char *bmk_thread_name(struct bmk_thread *t) { return t->name; }
void **bmk_thread_tls(struct bmk_thread *t) { return &t->tls; }
int *bmk_thread_errno(struct bmk_thread *t) { return &t->err; }

void bmk_sched_yield(void) {
  runq_add(cur);
  schedule();
}

int bmk_sched_block_until(uint64_t deadline) {
  struct bmk_thread *t = cur;
  t->state = T_BLOCKED;
  t->timed_out = 0;
  t->wakeup = deadline;
  if (deadline != BMK_FOREVER) timeq_add(t);
  schedule();
  return t->timed_out;
}

void bmk_sched_wake(struct bmk_thread *t) {
  if (t->state == T_BLOCKED) make_runnable(t, 0);
}

int bmk_waitq_sleep(struct bmk_waitq *q, uint64_t deadline) {
  struct bmk_thread *t = cur;
  t->wq_next = NULL;
  t->wq = q;
  if (q->tail)
    q->tail->wq_next = t;
  else
    q->head = t;
  q->tail = t;
  int to = bmk_sched_block_until(deadline);
  if (t->wq) { /* timed out, still queued: take it out */
    struct bmk_thread *prev = NULL;
    for (struct bmk_thread *x = q->head; x; prev = x, x = x->wq_next)
      if (x == t) {
        if (prev)
          prev->wq_next = t->wq_next;
        else
          q->head = t->wq_next;
        if (q->tail == t) q->tail = prev;
        break;
      }
    t->wq = NULL;
  }
  return to;
}

int bmk_waitq_wake_one(struct bmk_waitq *q) {
  struct bmk_thread *t = q->head;
  if (!t) return 0;
  q->head = t->wq_next;
  if (!q->head) q->tail = NULL;
  t->wq = NULL;
  bmk_sched_wake(t);
  return 1;
}

int bmk_waitq_wake_all(struct bmk_waitq *q) {
  int n = 0;
  while (bmk_waitq_wake_one(q)) n++;
  return n;
}

int bmk_waitq_empty(const struct bmk_waitq *q) { return q->head == NULL; }

void bmk_sched_stats(struct bmk_sched_stats *out) { *out = stats; }
