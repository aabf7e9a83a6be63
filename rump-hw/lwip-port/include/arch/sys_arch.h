/* lwIP's OS types, on the platform's rumpuser(3) mutexes and condition
 * variables (lwip-port/sys_arch.c). */
#ifndef FWNET_LWIP_ARCH_SYS_ARCH_H
#define FWNET_LWIP_ARCH_SYS_ARCH_H

struct lwip_port_sem;
struct lwip_port_mbox;
struct rumpuser_mtx;
typedef struct lwip_port_sem *sys_sem_t;
typedef struct rumpuser_mtx *sys_mutex_t;
typedef struct lwip_port_mbox *sys_mbox_t;
typedef void *sys_thread_t;
typedef int sys_prot_t;

#define SYS_MBOX_NULL NULL
#define SYS_SEM_NULL NULL
#define sys_sem_valid(s) (*(s) != NULL)
#define sys_sem_set_invalid(s) (*(s) = NULL)
#define sys_mutex_valid(m) (*(m) != NULL)
#define sys_mutex_set_invalid(m) (*(m) = NULL)
#define sys_mbox_valid(m) (*(m) != NULL)
#define sys_mbox_set_invalid(m) (*(m) = NULL)

#endif
