/* The rumpuser(3) hypercall interface, version 17: what a rump kernel needs
 * from its host. Declared here from the manual page's semantics so that rump
 * kernel components built elsewhere can link against this platform; lwIP's
 * port (lwip-port/) uses the same calls. Errors are returned as errno
 * values, never through errno. */
#ifndef BMK_RUMPUSER_H
#define BMK_RUMPUSER_H
#include <stddef.h>
#include <stdint.h>

#define RUMPUSER_VERSION 17

struct lwp;
struct rumpuser_mtx;
struct rumpuser_rw;
struct rumpuser_cv;

struct rumpuser_hyperup {
  void (*hyp_schedule)(void);
  void (*hyp_unschedule)(void);
  void (*hyp_backend_unschedule)(int, int *, void *);
  void (*hyp_backend_schedule)(int, void *);
  void (*hyp_lwproc_switch)(struct lwp *);
  void (*hyp_lwproc_release)(void);
  int (*hyp_lwproc_rfork)(void *, int, const char *);
  int (*hyp_lwproc_newlwp)(int);
  struct lwp *(*hyp_lwproc_curlwp)(void);
  int (*hyp_syscall)(int, void *, long *);
  void (*hyp_lwpexit)(void);
  void (*hyp_execnotify)(const char *);
  int (*hyp_getpid)(void);
  void *hyp_extra[8];
};

int rumpuser_init(int version, const struct rumpuser_hyperup *hyp);
int rumpuser_getparam(const char *name, void *buf, size_t buflen);
#define RUMPUSER_PARAM_NCPU "_RUMPUSER_NCPU"
#define RUMPUSER_PARAM_HOSTNAME "_RUMPUSER_HOSTNAME"

int rumpuser_malloc(size_t len, int alignment, void **memp);
void rumpuser_free(void *mem, size_t len);

enum rumpclock { RUMPUSER_CLOCK_RELWALL, RUMPUSER_CLOCK_ABSMONO };
int rumpuser_clock_gettime(int enum_rumpclock, int64_t *sec, long *nsec);
int rumpuser_clock_sleep(int enum_rumpclock, int64_t sec, long nsec);

void rumpuser_putchar(int ch);
void rumpuser_dprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void rumpuser_exit(int value);
#define RUMPUSER_PANIC (-1)

#define RUMPUSER_RANDOM_HARD 0x01
#define RUMPUSER_RANDOM_NOWAIT 0x02
int rumpuser_getrandom(void *buf, size_t buflen, int flags, size_t *retp);

int rumpuser_thread_create(void *(*f)(void *), void *arg, const char *name, int mustjoin,
                           int priority, int cpuidx, void **cookie);
_Noreturn void rumpuser_thread_exit(void);
int rumpuser_thread_join(void *cookie);

enum rumplwpop { RUMPUSER_LWP_CREATE, RUMPUSER_LWP_DESTROY, RUMPUSER_LWP_SET, RUMPUSER_LWP_CLEAR };
void rumpuser_curlwpop(int enum_rumplwpop, struct lwp *l);
struct lwp *rumpuser_curlwp(void);
void rumpuser_seterrno(int err);

#define RUMPUSER_MTX_SPIN 0x01
#define RUMPUSER_MTX_KMUTEX 0x02
void rumpuser_mutex_init(struct rumpuser_mtx **mtxp, int flags);
void rumpuser_mutex_enter(struct rumpuser_mtx *m);
void rumpuser_mutex_enter_nowrap(struct rumpuser_mtx *m);
int rumpuser_mutex_tryenter(struct rumpuser_mtx *m);
void rumpuser_mutex_exit(struct rumpuser_mtx *m);
void rumpuser_mutex_destroy(struct rumpuser_mtx *m);
void rumpuser_mutex_owner(struct rumpuser_mtx *m, struct lwp **lp);

enum rumprwlock { RUMPUSER_RW_READER, RUMPUSER_RW_WRITER };
void rumpuser_rw_init(struct rumpuser_rw **rwp);
void rumpuser_rw_enter(int enum_rumprwlock, struct rumpuser_rw *rw);
int rumpuser_rw_tryenter(int enum_rumprwlock, struct rumpuser_rw *rw);
int rumpuser_rw_tryupgrade(struct rumpuser_rw *rw);
void rumpuser_rw_downgrade(struct rumpuser_rw *rw);
void rumpuser_rw_exit(struct rumpuser_rw *rw);
void rumpuser_rw_destroy(struct rumpuser_rw *rw);
void rumpuser_rw_held(int enum_rumprwlock, struct rumpuser_rw *rw, int *heldp);

void rumpuser_cv_init(struct rumpuser_cv **cvp);
void rumpuser_cv_destroy(struct rumpuser_cv *cv);
void rumpuser_cv_wait(struct rumpuser_cv *cv, struct rumpuser_mtx *m);
void rumpuser_cv_wait_nowrap(struct rumpuser_cv *cv, struct rumpuser_mtx *m);
int rumpuser_cv_timedwait(struct rumpuser_cv *cv, struct rumpuser_mtx *m, int64_t sec, int64_t nsec);
void rumpuser_cv_signal(struct rumpuser_cv *cv);
void rumpuser_cv_broadcast(struct rumpuser_cv *cv);
void rumpuser_cv_has_waiters(struct rumpuser_cv *cv, int *waitersp);

#endif
