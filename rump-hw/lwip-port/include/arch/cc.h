/* lwIP's compiler/platform glue for the bare-metal image. */
#ifndef FWNET_LWIP_ARCH_CC_H
#define FWNET_LWIP_ARCH_CC_H
#include <stddef.h>
#include <stdint.h>

#define LWIP_NO_INTTYPES_H 1
#define X8_F "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "lu"
#define LWIP_NO_CTYPE_H 1
#define LWIP_NO_UNISTD_H 1
typedef long ssize_t; /* SSIZE_MAX is in our limits.h */

void bmk_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void bmk_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define LWIP_PLATFORM_DIAG(x) \
  do {                        \
    bmk_printf x;             \
  } while (0)
#define LWIP_PLATFORM_ASSERT(x) bmk_panic("lwIP assertion \"%s\" failed at %s:%d", x, __FILE__, __LINE__)

uint32_t lwip_port_rand(void);
#define LWIP_RAND() lwip_port_rand()

/* errno per thread (lwIP's sockets set it; the agent reads it) */
int *lwip_port_errno(void);
#define errno (*lwip_port_errno())

#endif
