/* Cooperative single-CPU scheduler: a run queue, a time queue ordered by
 * wake-up, and wait queues. A thread runs until it blocks or yields; when
 * nothing is runnable the platform idles (hlt on bare metal, advance the
 * virtual clock on the host) until the earliest wake-up or an interrupt. */
#ifndef BMK_SCHED_H
#define BMK_SCHED_H
#include <stddef.h>
#include <stdint.h>

#define BMK_FOREVER UINT64_MAX

/* What the scheduler needs from the machine. */
struct bmk_platform {
  uint64_t (*now_ns)(void);           /* monotonic */
  /* Nothing to run: wait until deadline (BMK_FOREVER: no timer) or an
   * interrupt. Returns with interrupts disabled. */
  void (*idle)(uint64_t deadline_ns);
  /* Called with interrupts disabled before each pick: wake whatever
   * interrupts asked for (the interrupt thread). */
  void (*poll_events)(void);
  void *(*alloc)(size_t len, size_t align);
  void (*free)(void *p, size_t len);
};

struct bmk_thread;

struct bmk_waitq {
  struct bmk_thread *head, *tail;
};

void bmk_sched_init(const struct bmk_platform *plat);
/* Joinable threads stay until joined; others free themselves on exit. */
struct bmk_thread *bmk_thread_create(const char *name, void *(*fn)(void *), void *arg, int joinable,
                                     size_t stack_size);
_Noreturn void bmk_thread_exit(void *ret);
void *bmk_thread_join(struct bmk_thread *t);
struct bmk_thread *bmk_current(void);
const char *bmk_thread_name(struct bmk_thread *t);
void **bmk_thread_tls(struct bmk_thread *t); /* one word for the hypercall layer */
int *bmk_thread_errno(struct bmk_thread *t);
void bmk_sched_yield(void);

/* Block the current thread until woken or until deadline (absolute ns);
 * returns 1 when the deadline passed first. */
int bmk_sched_block_until(uint64_t deadline_ns);
void bmk_sched_wake(struct bmk_thread *t);

/* Wait queues: sleep on q (removed again on timeout); wake one or all. */
int bmk_waitq_sleep(struct bmk_waitq *q, uint64_t deadline_ns);
int bmk_waitq_wake_one(struct bmk_waitq *q);
int bmk_waitq_wake_all(struct bmk_waitq *q);
int bmk_waitq_empty(const struct bmk_waitq *q);

struct bmk_sched_stats {
  uint64_t switches, idles, threads_created, threads_live;
};
void bmk_sched_stats(struct bmk_sched_stats *out);

/* Low level (switch.S) */
void bmk_ctx_switch(uintptr_t *save_sp, uintptr_t load_sp);
void bmk_ctx_trampoline(void);

#endif
