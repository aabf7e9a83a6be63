/* Byte order and IPv4 address text (inet_pton/inet_ntop as Linux's for
 * AF_INET). Stateless, freestanding; efisock/socket.h re-exports it. */
#ifndef FWBASE_INET_H
#define FWBASE_INET_H

#include <stdint.h>

#define EFISOCK_AF_INET 2
typedef uint32_t efisock_socklen_t;

uint16_t efisock_htons(uint16_t v);
uint16_t efisock_ntohs(uint16_t v);
uint32_t efisock_htonl(uint32_t v);
uint32_t efisock_ntohl(uint32_t v);
/* Strict dotted quad: 1, 0 (not an address) or -1 (family not supported). */
int efisock_inet_pton(int af, const char *src, void *dst);
const char *efisock_inet_ntop(int af, const void *src, char *dst, efisock_socklen_t size);

#endif
