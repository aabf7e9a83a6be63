/* DNS message encoding and parsing (no I/O): efi-net's built-in resolver
 * and the tests of the scripted DNS zone use it. Freestanding. */
#ifndef FWBASE_DNSWIRE_H
#define FWBASE_DNSWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FWB_DNS_TYPE_A 1
#define FWB_DNS_TYPE_CNAME 5
#define FWB_DNS_MAX_ADDRS 8

#define FWB_DNS_RCODE_OK 0
#define FWB_DNS_RCODE_SERVFAIL 2
#define FWB_DNS_RCODE_NXDOMAIN 3
#define FWB_DNS_RCODE_REFUSED 5

#define FWB_DNS_E_MALFORMED (-1) /* not a well-formed DNS response */
#define FWB_DNS_E_ID (-2)        /* transaction id differs: not ours */
#define FWB_DNS_E_QUESTION (-3)  /* question does not echo ours */

struct fwb_dns_result {
  uint32_t addrs[FWB_DNS_MAX_ADDRS]; /* network byte order */
  unsigned naddr;
  char canon[256]; /* end of the CNAME chain */
  int rcode;
  bool tc;
};

/* Returns the message length, or -1 when the name is not a valid DNS name. */
int fwb_dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name);
/* Returns 0 (res filled) or FWB_DNS_E_*. */
int fwb_dns_parse(const uint8_t *msg, size_t len, uint16_t id, const char *qname,
                 struct fwb_dns_result *res);

/* Names equal as DNS compares them: ASCII case-insensitive (RFC 4343),
 * a trailing dot ignored. */
bool fwb_dns_name_eq(const char *a, const char *b);

#endif
