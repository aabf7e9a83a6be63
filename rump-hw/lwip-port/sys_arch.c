/* lwIP's sys_arch on the rumpuser(3) hypercalls: semaphores and mailboxes
 * are a mutex and condition variable each; threads are rumpuser threads;
 * sys_now() is the monotonic clock. Nothing here knows about the hardware,
 * so the same port would run on any rumpuser implementation. */
#include "lwip/opt.h"
#include "lwip/sys.h"
#include "lwip/err.h"
#include "arch/sys_arch.h"
#include "bmk/rumpuser.h"
#include "bmk/sched.h"

struct lwip_port_sem {
  struct rumpuser_mtx *mtx;
  struct rumpuser_cv *cv;
  unsigned count;
};

struct lwip_port_mbox {
  struct rumpuser_mtx *mtx;
  struct rumpuser_cv *not_empty, *not_full;
  unsigned size, head, count;
  void **msgs;
};

static void *xalloc(size_t n) {
  void *p = NULL;
  return rumpuser_malloc(n, 16, &p) ? NULL : p;
}

void sys_init(void) {}

u32_t sys_now(void) {
  int64_t s;
  long ns;
  rumpuser_clock_gettime(RUMPUSER_CLOCK_ABSMONO, &s, &ns);
  return (u32_t)(s * 1000 + ns / 1000000);
}

/* The scheduler never preempts and interrupt handlers run in a thread, so a
 * critical section needs nothing. */
sys_prot_t sys_arch_protect(void) { return 0; }
void sys_arch_unprotect(sys_prot_t lev) { (void)lev; }

int *lwip_port_errno(void) { return bmk_thread_errno(bmk_current()); }

u32_t lwip_port_rand(void) {
  u32_t v;
  size_t got;
  rumpuser_getrandom(&v, sizeof(v), 0, &got);
  return v;
}

/* Milliseconds to wait -> (sec, nsec) for timedwait; returns ms waited. */
static u32_t timed(struct rumpuser_cv *cv, struct rumpuser_mtx *m, u32_t timeout_ms, u32_t t0,
                   int *timed_out) {
  *timed_out = 0;
  if (!timeout_ms) {
    rumpuser_cv_wait(cv, m);
    return 0;
  }
  u32_t spent = sys_now() - t0;
  if (spent >= timeout_ms) {
    *timed_out = 1;
    return spent;
  }
  u32_t left = timeout_ms - spent;
  if (rumpuser_cv_timedwait(cv, m, left / 1000, (int64_t)(left % 1000) * 1000000)) *timed_out = 1;
  return sys_now() - t0;
}

/* ---- semaphores ---- */

err_t sys_sem_new(sys_sem_t *sem, u8_t count) {
  struct lwip_port_sem *s = xalloc(sizeof(*s));
  if (!s) return ERR_MEM;
  rumpuser_mutex_init(&s->mtx, RUMPUSER_MTX_KMUTEX);
  rumpuser_cv_init(&s->cv);
  s->count = count;
  *sem = s;
  return ERR_OK;
}

void sys_sem_free(sys_sem_t *sem) {
  struct lwip_port_sem *s = *sem;
  rumpuser_cv_destroy(s->cv);
  rumpuser_mutex_destroy(s->mtx);
  rumpuser_free(s, sizeof(*s));
}

void sys_sem_signal(sys_sem_t *sem) {
  struct lwip_port_sem *s = *sem;
  rumpuser_mutex_enter(s->mtx);
  s->count++;
  rumpuser_cv_signal(s->cv);
  rumpuser_mutex_exit(s->mtx);
}

u32_t sys_arch_sem_wait(sys_sem_t *sem, u32_t timeout) {
  struct lwip_port_sem *s = *sem;
  u32_t t0 = sys_now(), waited = 0;
  int to = 0;
  rumpuser_mutex_enter(s->mtx);
  while (!s->count) {
    waited = timed(s->cv, s->mtx, timeout, t0, &to);
    if (to && !s->count) {
      rumpuser_mutex_exit(s->mtx);
      return SYS_ARCH_TIMEOUT;
    }
  }
  s->count--;
  rumpuser_mutex_exit(s->mtx);
  return waited;
}

/* ---- mutexes ---- */

err_t sys_mutex_new(sys_mutex_t *m) {
  rumpuser_mutex_init(m, RUMPUSER_MTX_KMUTEX);
  return ERR_OK;
}
void sys_mutex_lock(sys_mutex_t *m) { rumpuser_mutex_enter(*m); }
void sys_mutex_unlock(sys_mutex_t *m) { rumpuser_mutex_exit(*m); }
void sys_mutex_free(sys_mutex_t *m) { rumpuser_mutex_destroy(*m); }

/* ---- mailboxes: bounded rings ---- */

err_t sys_mbox_new(sys_mbox_t *mbox, int size) {
  struct lwip_port_mbox *b = xalloc(sizeof(*b));
  if (!b) return ERR_MEM;
  b->size = size > 0 ? (unsigned)size : 64;
  b->msgs = xalloc(b->size * sizeof(void *));
  if (!b->msgs) {
    rumpuser_free(b, sizeof(*b));
    return ERR_MEM;
  }
  b->head = b->count = 0;
  rumpuser_mutex_init(&b->mtx, RUMPUSER_MTX_KMUTEX);
  rumpuser_cv_init(&b->not_empty);
  rumpuser_cv_init(&b->not_full);
  *mbox = b;
  return ERR_OK;
}

void sys_mbox_free(sys_mbox_t *mbox) {
  struct lwip_port_mbox *b = *mbox;
  rumpuser_cv_destroy(b->not_empty);
  rumpuser_cv_destroy(b->not_full);
  rumpuser_mutex_destroy(b->mtx);
  rumpuser_free(b->msgs, b->size * sizeof(void *));
  rumpuser_free(b, sizeof(*b));
}

static void put(struct lwip_port_mbox *b, void *msg) {
  b->msgs[(b->head + b->count) % b->size] = msg;
  b->count++;
  rumpuser_cv_signal(b->not_empty);
}

void sys_mbox_post(sys_mbox_t *mbox, void *msg) {
  struct lwip_port_mbox *b = *mbox;
  rumpuser_mutex_enter(b->mtx);
  while (b->count == b->size) rumpuser_cv_wait(b->not_full, b->mtx);
  put(b, msg);
  rumpuser_mutex_exit(b->mtx);
}

err_t sys_mbox_trypost(sys_mbox_t *mbox, void *msg) {
  struct lwip_port_mbox *b = *mbox;
  err_t e = ERR_MEM;
  rumpuser_mutex_enter(b->mtx);
  if (b->count < b->size) {
    put(b, msg);
    e = ERR_OK;
  }
  rumpuser_mutex_exit(b->mtx);
  return e;
}

err_t sys_mbox_trypost_fromisr(sys_mbox_t *mbox, void *msg) { return sys_mbox_trypost(mbox, msg); }

static void *take(struct lwip_port_mbox *b) {
  void *m = b->msgs[b->head];
  b->head = (b->head + 1) % b->size;
  b->count--;
  rumpuser_cv_signal(b->not_full);
  return m;
}

u32_t sys_arch_mbox_fetch(sys_mbox_t *mbox, void **msg, u32_t timeout) {
  struct lwip_port_mbox *b = *mbox;
  u32_t t0 = sys_now(), waited = 0;
  int to = 0;
  rumpuser_mutex_enter(b->mtx);
  while (!b->count) {
    waited = timed(b->not_empty, b->mtx, timeout, t0, &to);
    if (to && !b->count) {
      rumpuser_mutex_exit(b->mtx);
      return SYS_ARCH_TIMEOUT;
    }
  }
  void *m = take(b);
  if (msg) *msg = m;
  rumpuser_mutex_exit(b->mtx);
  return waited;
}

u32_t sys_arch_mbox_tryfetch(sys_mbox_t *mbox, void **msg) {
  struct lwip_port_mbox *b = *mbox;
  u32_t r = SYS_MBOX_EMPTY;
  rumpuser_mutex_enter(b->mtx);
  if (b->count) {
    void *m = take(b);
    if (msg) *msg = m;
    r = 0;
  }
  rumpuser_mutex_exit(b->mtx);
  return r;
}

/* ---- threads ---- */

struct start {
  lwip_thread_fn fn;
  void *arg;
};

static void *thread_start(void *p) {
  struct start st = *(struct start *)p;
  rumpuser_free(p, sizeof(st));
  st.fn(st.arg);
  return NULL;
}

sys_thread_t sys_thread_new(const char *name, lwip_thread_fn fn, void *arg, int stacksize, int prio) {
  (void)stacksize; /* rumpuser threads have one size */
  struct start *st = xalloc(sizeof(*st));
  if (!st) LWIP_PLATFORM_ASSERT("sys_thread_new: out of memory");
  st->fn = fn;
  st->arg = arg;
  if (rumpuser_thread_create(thread_start, st, name, 0, prio, -1, NULL))
    LWIP_PLATFORM_ASSERT("sys_thread_new: no thread");
  return st; /* lwIP only checks it is not NULL */
}
