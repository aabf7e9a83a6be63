/* A scripted DNS zone and server: A and CNAME records, and faults a test
 * selects (NXDOMAIN, SERVFAIL, no answer, truncation, wrong id, wrong source,
 * a reply cut mid-record, a compression pointer loop), applied to the next
 * N queries or to all. One implementation for the host fakes (behind their
 * DNS4 and their LAN) and for fwnet-netsim (on the LAN's DNS address). Its
 * encoder is written independently of efi-net's parser, on purpose. */
#ifndef NETSIM_DNSZONE_H
#define NETSIM_DNSZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dnszone_fault {
  DNSZ_OK,
  DNSZ_NXDOMAIN,
  DNSZ_SERVFAIL,
  DNSZ_DROP,
  DNSZ_TRUNCATE,
  DNSZ_WRONG_ID,
  DNSZ_WRONG_SOURCE,
  DNSZ_MALFORMED,
  DNSZ_POINTER_LOOP,
};

struct dnszone_rec;
struct dnszone {
  struct dnszone_rec *recs;
  enum dnszone_fault fault;
  unsigned fault_left; /* UINT32_MAX: every query */
  uint64_t delay_ns;   /* answers wait this long (the server applies it) */
  unsigned queries;
};

void dnszone_add_a(struct dnszone *z, const char *name, uint32_t ip); /* ip host order */
void dnszone_add_cname(struct dnszone *z, const char *name, const char *target);
void dnszone_set_fault(struct dnszone *z, enum dnszone_fault f, unsigned count); /* 0: all */
int dnszone_parse_fault(const char *name, enum dnszone_fault *f);
/* Count one query and say which fault applies to it. */
enum dnszone_fault dnszone_take_fault(struct dnszone *z);
/* The reply to one query message (0: no reply). With tcp, truncation does not
 * apply. *wrong_source is set when the reply must come from another address. */
size_t dnszone_answer(struct dnszone *z, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap,
                      bool tcp, bool *wrong_source);
/* Resolve without wire format, following CNAMEs: the number of addresses
 * (host order), or -1 when the name does not exist. */
int dnszone_resolve(struct dnszone *z, const char *name, uint32_t *addrs, unsigned max);
void dnszone_clear(struct dnszone *z);

#endif
