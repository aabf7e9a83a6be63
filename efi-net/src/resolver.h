/* DNS message encoding and parsing (no I/O), shared by efi-net's built-in
 * resolver and, on the host, by the fakes' scripted DNS server tests. */
#ifndef EFINET_RESOLVER_H
#define EFINET_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EN_DNS_TYPE_A 1
#define EN_DNS_TYPE_CNAME 5
#define EN_DNS_MAX_ADDRS 8

#define EN_DNS_RCODE_OK 0
#define EN_DNS_RCODE_SERVFAIL 2
#define EN_DNS_RCODE_NXDOMAIN 3
#define EN_DNS_RCODE_REFUSED 5

#define EN_DNS_E_MALFORMED (-1) /* not a well-formed DNS response */
#define EN_DNS_E_ID (-2)        /* transaction id differs: not ours */
#define EN_DNS_E_QUESTION (-3)  /* question does not echo ours */

struct en_dns_result {
  uint32_t addrs[EN_DNS_MAX_ADDRS]; /* network byte order */
  unsigned naddr;
  char canon[256]; /* end of the CNAME chain */
  int rcode;
  bool tc;
};

/* Returns the message length, or -1 when the name is not a valid DNS name. */
int en_dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name);
/* Returns 0 (res filled) or EN_DNS_E_*. */
int en_dns_parse(const uint8_t *msg, size_t len, uint16_t id, const char *qname,
                 struct en_dns_result *res);

#endif
