/* rumpuser(3) on the cooperative scheduler. One CPU and no preemption, so
 * the lock words need no atomics: a thread is only ever switched out inside
 * bmk_waitq_sleep(). When a rump kernel registered its scheduler hooks,
 * blocking calls release the virtual CPU around the sleep as rumprun did. */
#include <stdarg.h>
#include "bmk/machine.h"
#include "bmk/printf.h"
#include "bmk/rumpuser.h"
#include "bmk/sched.h"

#define EINVAL_ 22
#define ENOMEM_ 12
#define EBUSY_ 16
#define ENOENT_ 2
#define E2BIG_ 7
#define ETIMEDOUT_ 110

static const struct rumpuser_hyperup *hyp;

/* Around a sleep: let the rump kernel give its CPU away (the "wrap" calls). */
static void unsched(int *nlocks) {
  *nlocks = 0;
  if (hyp && hyp->hyp_backend_unschedule) hyp->hyp_backend_unschedule(0, nlocks, NULL);
}
static void resched(int nlocks) {
  if (hyp && hyp->hyp_backend_schedule) hyp->hyp_backend_schedule(nlocks, NULL);
}

int rumpuser_init(int version, const struct rumpuser_hyperup *h) {
  if (version != RUMPUSER_VERSION) {
    rumpuser_dprintf("rumpuser: hypercall version %d requested, this is %d\n", version,
                     RUMPUSER_VERSION);
    return 1;
  }
  hyp = h;
  return 0;
}

static size_t slen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

int rumpuser_getparam(const char *name, void *buf, size_t buflen) {
  const char *v = NULL;
  if (!slen(name)) return EINVAL_;
  if (!(v = bmk_cmdline_get(name))) {
    if (name[0] == '_' && !bmk_strcmp(name, RUMPUSER_PARAM_NCPU))
      v = "1";
    else if (!bmk_strcmp(name, RUMPUSER_PARAM_HOSTNAME))
      v = "fwnet-rump";
    else
      return ENOENT_;
  }
  size_t n = slen(v);
  if (n + 1 > buflen) return E2BIG_;
  for (size_t i = 0; i <= n; i++) ((char *)buf)[i] = v[i];
  return 0;
}

int rumpuser_malloc(size_t len, int alignment, void **memp) {
  if (alignment < 0 || (alignment & (alignment - 1))) return EINVAL_;
  *memp = bmk_memalloc(len, alignment ? (size_t)alignment : 16);
  return *memp ? 0 : ENOMEM_;
}

void rumpuser_free(void *mem, size_t len) { bmk_memfree(mem, len); }

int rumpuser_clock_gettime(int which, int64_t *sec, long *nsec) {
  uint64_t ns = bmk_clock_mono_ns();
  if (which == RUMPUSER_CLOCK_RELWALL)
    *sec = bmk_clock_wall_offset_s() + (int64_t)(ns / 1000000000u);
  else if (which == RUMPUSER_CLOCK_ABSMONO)
    *sec = (int64_t)(ns / 1000000000u);
  else
    return EINVAL_;
  *nsec = (long)(ns % 1000000000u);
  return 0;
}

int rumpuser_clock_sleep(int which, int64_t sec, long nsec) {
  uint64_t want = (uint64_t)sec * 1000000000u + (uint64_t)nsec, deadline;
  if (which == RUMPUSER_CLOCK_RELWALL)
    deadline = bmk_clock_mono_ns() + want;
  else if (which == RUMPUSER_CLOCK_ABSMONO)
    deadline = want;
  else
    return EINVAL_;
  int nl;
  unsched(&nl);
  while (bmk_clock_mono_ns() < deadline) bmk_sched_block_until(deadline);
  resched(nl);
  return 0;
}

void rumpuser_putchar(int ch) { bmk_cons_putc(ch); }

void rumpuser_dprintf(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  bmk_vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  for (char *p = buf; *p; p++) bmk_cons_putc(*p);
}

_Noreturn void rumpuser_exit(int value) {
  bmk_halt(value == RUMPUSER_PANIC ? "rumpuser_exit: panic" : "rumpuser_exit");
}

int rumpuser_getrandom(void *buf, size_t buflen, int flags, size_t *retp) {
  (void)flags; /* the pool never blocks: it is seeded at boot */
  bmk_random_fill(buf, buflen);
  *retp = buflen;
  return 0;
}

/* ---- threads ---- */

int rumpuser_thread_create(void *(*f)(void *), void *arg, const char *name, int mustjoin,
                           int priority, int cpuidx, void **cookie) {
  (void)priority, (void)cpuidx; /* one CPU, one priority */
  struct bmk_thread *t = bmk_thread_create(name, f, arg, mustjoin, 32768);
  if (!t) return ENOMEM_;
  if (mustjoin && cookie) *cookie = t;
  return 0;
}

_Noreturn void rumpuser_thread_exit(void) { bmk_thread_exit(NULL); }

int rumpuser_thread_join(void *cookie) {
  int nl;
  unsched(&nl);
  bmk_thread_join(cookie);
  resched(nl);
  return 0;
}

void rumpuser_curlwpop(int op, struct lwp *l) {
  void **tls = bmk_thread_tls(bmk_current());
  switch (op) {
  case RUMPUSER_LWP_SET: *tls = l; break;
  case RUMPUSER_LWP_CLEAR: *tls = NULL; break;
  default: break; /* CREATE/DESTROY: nothing kept per lwp */
  }
}

struct lwp *rumpuser_curlwp(void) {
  return *bmk_thread_tls(bmk_current());
}

void rumpuser_seterrno(int err) { *bmk_thread_errno(bmk_current()) = err; }

/* ---- mutexes ---- */

struct rumpuser_mtx {
  struct bmk_thread *owner;
  struct bmk_waitq wq;
  int flags;
};

void rumpuser_mutex_init(struct rumpuser_mtx **mp, int flags) {
  struct rumpuser_mtx *m = bmk_memalloc(sizeof(*m), 16);
  if (!m) bmk_halt("rumpuser_mutex_init: out of memory");
  m->owner = NULL;
  m->wq.head = m->wq.tail = NULL;
  m->flags = flags;
  *mp = m;
}

static void mtx_enter(struct rumpuser_mtx *m, int wrap) {
  struct bmk_thread *me = bmk_current();
  if (m->owner == me) bmk_halt("rumpuser_mutex_enter: recursive enter");
  if (!m->owner) {
    m->owner = me;
    return;
  }
  int nl = 0;
  if (wrap) unsched(&nl);
  /* Ownership is handed over by exit, so a woken waiter owns the mutex. */
  while (m->owner != me) bmk_waitq_sleep(&m->wq, BMK_FOREVER);
  if (wrap) resched(nl);
}

void rumpuser_mutex_enter(struct rumpuser_mtx *m) { mtx_enter(m, !(m->flags & RUMPUSER_MTX_SPIN)); }
void rumpuser_mutex_enter_nowrap(struct rumpuser_mtx *m) { mtx_enter(m, 0); }

int rumpuser_mutex_tryenter(struct rumpuser_mtx *m) {
  if (m->owner) return EBUSY_;
  m->owner = bmk_current();
  return 0;
}

void rumpuser_mutex_exit(struct rumpuser_mtx *m) {
  if (m->owner != bmk_current()) bmk_halt("rumpuser_mutex_exit: not the owner");
  struct bmk_thread *next = m->wq.head;
  m->owner = next; /* hand-off: no barging, waiters served in order */
  if (next) bmk_waitq_wake_one(&m->wq);
}

void rumpuser_mutex_destroy(struct rumpuser_mtx *m) {
  if (m->owner || !bmk_waitq_empty(&m->wq)) bmk_halt("rumpuser_mutex_destroy: in use");
  bmk_memfree(m, sizeof(*m));
}

void rumpuser_mutex_owner(struct rumpuser_mtx *m, struct lwp **lp) {
  *lp = m->owner ? *bmk_thread_tls(m->owner) : NULL;
}

/* ---- reader/writer locks: writers first once one waits ---- */

struct rumpuser_rw {
  struct bmk_thread *writer;
  int readers, writers_waiting;
  struct bmk_waitq rq, wq;
};

void rumpuser_rw_init(struct rumpuser_rw **rwp) {
  struct rumpuser_rw *rw = bmk_memalloc(sizeof(*rw), 16);
  if (!rw) bmk_halt("rumpuser_rw_init: out of memory");
  rw->writer = NULL;
  rw->readers = rw->writers_waiting = 0;
  rw->rq.head = rw->rq.tail = rw->wq.head = rw->wq.tail = NULL;
  *rwp = rw;
}

static int rw_can(struct rumpuser_rw *rw, int type) {
  if (type == RUMPUSER_RW_WRITER) return !rw->writer && !rw->readers;
  return !rw->writer && !rw->writers_waiting;
}

void rumpuser_rw_enter(int type, struct rumpuser_rw *rw) {
  if (rw->writer == bmk_current()) bmk_halt("rumpuser_rw_enter: recursive");
  if (!rw_can(rw, type)) {
    int nl;
    unsched(&nl);
    if (type == RUMPUSER_RW_WRITER) {
      rw->writers_waiting++;
      while (!rw_can(rw, type)) bmk_waitq_sleep(&rw->wq, BMK_FOREVER);
      rw->writers_waiting--;
    } else {
      while (!rw_can(rw, type)) bmk_waitq_sleep(&rw->rq, BMK_FOREVER);
    }
    resched(nl);
  }
  if (type == RUMPUSER_RW_WRITER)
    rw->writer = bmk_current();
  else
    rw->readers++;
}

int rumpuser_rw_tryenter(int type, struct rumpuser_rw *rw) {
  if (!rw_can(rw, type)) return EBUSY_;
  if (type == RUMPUSER_RW_WRITER)
    rw->writer = bmk_current();
  else
    rw->readers++;
  return 0;
}

int rumpuser_rw_tryupgrade(struct rumpuser_rw *rw) {
  if (rw->readers != 1 || rw->writer) return EBUSY_;
  rw->readers = 0;
  rw->writer = bmk_current();
  return 0;
}

static void rw_wake(struct rumpuser_rw *rw) {
  if (rw->writers_waiting && !rw->readers && !rw->writer)
    bmk_waitq_wake_one(&rw->wq);
  else if (!rw->writers_waiting && !rw->writer)
    bmk_waitq_wake_all(&rw->rq);
}

void rumpuser_rw_downgrade(struct rumpuser_rw *rw) {
  rw->writer = NULL;
  rw->readers = 1;
  bmk_waitq_wake_all(&rw->rq); /* other readers may join this one */
}

void rumpuser_rw_exit(struct rumpuser_rw *rw) {
  if (rw->writer) {
    if (rw->writer != bmk_current()) bmk_halt("rumpuser_rw_exit: not the writer");
    rw->writer = NULL;
  } else if (rw->readers > 0) {
    rw->readers--;
  } else {
    bmk_halt("rumpuser_rw_exit: not held");
  }
  rw_wake(rw);
}

void rumpuser_rw_destroy(struct rumpuser_rw *rw) {
  if (rw->writer || rw->readers) bmk_halt("rumpuser_rw_destroy: held");
  bmk_memfree(rw, sizeof(*rw));
}

void rumpuser_rw_held(int type, struct rumpuser_rw *rw, int *heldp) {
  *heldp = type == RUMPUSER_RW_WRITER ? rw->writer == bmk_current() : rw->readers > 0;
}

/* ---- condition variables ---- */

struct rumpuser_cv {
  struct bmk_waitq wq;
  int waiters;
};

void rumpuser_cv_init(struct rumpuser_cv **cvp) {
  struct rumpuser_cv *cv = bmk_memalloc(sizeof(*cv), 16);
  if (!cv) bmk_halt("rumpuser_cv_init: out of memory");
  cv->wq.head = cv->wq.tail = NULL;
  cv->waiters = 0;
  *cvp = cv;
}

void rumpuser_cv_destroy(struct rumpuser_cv *cv) {
  if (cv->waiters) bmk_halt("rumpuser_cv_destroy: has waiters");
  bmk_memfree(cv, sizeof(*cv));
}

static int cv_wait(struct rumpuser_cv *cv, struct rumpuser_mtx *m, uint64_t deadline, int wrap) {
  int nl = 0;
  cv->waiters++;
  rumpuser_mutex_exit(m);
  if (wrap) unsched(&nl);
  int to = bmk_waitq_sleep(&cv->wq, deadline);
  cv->waiters--;
  mtx_enter(m, 0);
  if (wrap) resched(nl);
  return to;
}

void rumpuser_cv_wait(struct rumpuser_cv *cv, struct rumpuser_mtx *m) { cv_wait(cv, m, BMK_FOREVER, 1); }
void rumpuser_cv_wait_nowrap(struct rumpuser_cv *cv, struct rumpuser_mtx *m) {
  cv_wait(cv, m, BMK_FOREVER, 0);
}

int rumpuser_cv_timedwait(struct rumpuser_cv *cv, struct rumpuser_mtx *m, int64_t sec, int64_t nsec) {
  uint64_t deadline = bmk_clock_mono_ns() + (uint64_t)sec * 1000000000u + (uint64_t)nsec;
  return cv_wait(cv, m, deadline, 1) ? ETIMEDOUT_ : 0;
}

void rumpuser_cv_signal(struct rumpuser_cv *cv) { bmk_waitq_wake_one(&cv->wq); }
void rumpuser_cv_broadcast(struct rumpuser_cv *cv) { bmk_waitq_wake_all(&cv->wq); }
void rumpuser_cv_has_waiters(struct rumpuser_cv *cv, int *w) { *w = cv->waiters > 0; }
