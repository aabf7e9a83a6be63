/* The scripted DNS server and the fake EFI_DNS4_PROTOCOL.
 *
 * The server answers A queries from a zone of A and CNAME records, with
 * faults a test selects: NXDOMAIN, SERVFAIL, no answer, truncation (TC over
 * UDP, the full answer over TCP), a wrong transaction id, an answer from the
 * wrong address, a reply cut mid-record, a compression pointer loop. Its
 * encoder is written independently of efi-net's parser, on purpose.
 *
 * DNS4 resolves through the same zone and faults; like EDK2's DnsDxe it
 * ignores answers with a wrong id or source (so they end in EFI_TIMEOUT) and
 * hands the addresses over in pool memory the caller frees. It has no TCP
 * path: a truncated answer fails. fakefw_opts.dns4_model
 * FAKEFW_DNS4_EDK2_202211 adds what DnsDxe of that release does to NXDOMAIN
 * and to CNAME chains (fakefw.h).
 */
#include "fw.h"
#include "fwbase/dnswire.h"
#include "fwbase/dnszone.h"


void fnet_dns_server(struct fnet *n, uint32_t ip) {
  n->dns_on = true;
  n->dns_ip = ip;
  fnet_add_dns_listener(n, ip); /* TCP 53, for answers that did not fit */
}

void fnet_dns_add_a(struct fnet *n, const char *name, uint32_t ip) { dnszone_add_a(&n->dns, name, ip); }

void fnet_dns_add_cname(struct fnet *n, const char *name, const char *target) {
  dnszone_add_cname(&n->dns, name, target);
}

void fnet_dns_fault(struct fnet *n, enum fnet_dns_fault f, unsigned count) {
  dnszone_set_fault(&n->dns, (enum dnszone_fault)f, count);
}

void fnet_dns_delay(struct fnet *n, uint64_t ns) { n->dns.delay_ns = ns; }
unsigned fnet_dns_queries(struct fnet *n) { return n->dns.queries; }

size_t fdns_server_answer(struct fnet *n, const uint8_t *q, size_t qlen, uint8_t *out, size_t cap,
                          bool tcp, uint32_t *from_ip) {
  bool wrong = false;
  n->fw->ctr.dns_server_queries++;
  size_t len = dnszone_answer(&n->dns, q, qlen, out, cap, tcp, &wrong);
  if (wrong) *from_ip = n->dns_ip + 1; /* an answer from another address */
  return len;
}

/* DNS over TCP: a 2-byte length, then the message; one answer, then close. */
void fdns_tcp_data(struct fconn *c) {
  if (c->in_len < 2) return;
  size_t ql = (size_t)c->in[0] << 8 | c->in[1];
  if (c->in_len < 2 + ql) return;
  uint8_t out[4096];
  uint32_t from = c->pip;
  size_t rl = fdns_server_answer(c->net, c->in + 2, ql, out + 2, sizeof(out) - 2, true, &from);
  if (rl) {
    out[0] = (uint8_t)(rl >> 8);
    out[1] = (uint8_t)rl;
    fnet_conn_send(c, out, rl + 2);
  }
  fnet_conn_close(c);
}

/* CNAME records in the zone's answer for name (the chain's length). */
static unsigned cname_hops(struct fnet *n, const char *name) {
  uint8_t q[300], a[1500];
  int ql = fwb_dns_build_query(q, sizeof(q), 1, name);
  if (ql < 0) return 0;
  struct dnszone z = n->dns; /* the same records, no fault, not counted */
  z.fault = DNSZ_OK;
  z.fault_left = 0;
  bool wrong = false;
  size_t len = dnszone_answer(&z, q, (size_t)ql, a, sizeof(a), true, &wrong);
  if (len < 12) return 0;
  unsigned an = (unsigned)a[6] << 8 | a[7], hops = 0;
  size_t o = (size_t)ql; /* the answer repeats the question */
  for (unsigned i = 0; i < an && o < len; i++) {
    while (o < len && a[o] && (a[o] & 0xc0) != 0xc0) o += (size_t)a[o] + 1;
    o += o < len && a[o] ? 2 : 1; /* a pointer, or the root label */
    if (o + 10 > len) break;
    if ((a[o] << 8 | a[o + 1]) == 5) hops++;
    o += 10 + (size_t)(a[o + 8] << 8 | a[o + 9]);
  }
  return hops;
}

EFI_STATUS fdns_lookup(struct fnet *n, const char *name, uint32_t *addrs, unsigned *naddr) {
  *naddr = 0;
  n->fw->ctr.dns_server_queries++;
  /* EFI_TIMEOUT from one try means "no answer the driver takes": it tries
   * again. DnsDxe 202211 does not take an NXDOMAIN answer as final. */
  bool edk2 = n->fw->opts.dns4_model == FAKEFW_DNS4_EDK2_202211;
  switch (dnszone_take_fault(&n->dns)) {
  case DNSZ_DROP:
  case DNSZ_WRONG_ID:
  case DNSZ_WRONG_SOURCE:
    return EFI_TIMEOUT;
  case DNSZ_SERVFAIL:
  case DNSZ_MALFORMED:
  case DNSZ_POINTER_LOOP:
  case DNSZ_TRUNCATE:
    return EFI_DEVICE_ERROR;
  case DNSZ_NXDOMAIN:
    return edk2 ? EFI_TIMEOUT : EFI_NOT_FOUND;
  case DNSZ_OK:
    break;
  }
  int k = dnszone_resolve(&n->dns, name, addrs, 8);
  if (k <= 0) return edk2 ? EFI_TIMEOUT : EFI_NOT_FOUND;
  if (edk2 && cname_hops(n, name) >= 2) return EFI_NOT_FOUND;
  *naddr = (unsigned)k;
  return EFI_SUCCESS;
}

/* ---- EFI_DNS4_PROTOCOL ---- */

#define D(p) ((struct fdns *)(p))
#define DNS_MAX_PENDING 8

struct fdns_x {
  EFI_DNS4_COMPLETION_TOKEN *toks[DNS_MAX_PENDING];
  uint32_t server;
};

static struct fdns_x *X(struct fdns *d) { return (struct fdns_x *)(d + 1); }

static void dns_flush(struct fdns *d, EFI_STATUS st) {
  struct fdns_x *x = X(d);
  for (unsigned i = 0; i < DNS_MAX_PENDING; i++) {
    EFI_DNS4_COMPLETION_TOKEN *t = x->toks[i];
    if (!t) continue;
    x->toks[i] = NULL;
    d->pending--;
    fw_complete(t->Event, &t->Status, st);
  }
}

static EFI_STATUS EFIAPI d_mode(EFI_DNS4_PROTOCOL *This, EFI_DNS4_MODE_DATA *m) {
  if (!m) return EFI_INVALID_PARAMETER;
  if (!D(This)->configured) return EFI_NOT_STARTED;
  memset(m, 0, sizeof(*m));
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI d_configure(EFI_DNS4_PROTOCOL *This, EFI_DNS4_CONFIG_DATA *cd) {
  struct fdns *d = D(This);
  struct fnic *nic = d->nic;
  if (!cd) {
    dns_flush(d, EFI_ABORTED);
    d->configured = false;
    return EFI_SUCCESS;
  }
  if (d->configured) return EFI_ALREADY_STARTED;
  if ((cd->DnsServerListCount && !cd->DnsServerList) || (!cd->DnsServerListCount && cd->DnsServerList))
    return EFI_INVALID_PARAMETER;
  if (cd->Protocol != 17) return EFI_UNSUPPORTED;
  fnet_nic_update(nic);
  if (cd->UseDefaultSetting && !nic->configured) {
    if (nic->policy == Ip4Config2PolicyDhcp) fnet_nic_start_dhcp(nic);
    return EFI_NO_MAPPING;
  }
  X(d)->server = cd->DnsServerListCount ? ip_of(&cd->DnsServerList[0]) : nic->dns[0];
  if (!X(d)->server) return EFI_INVALID_PARAMETER;
  d->retry_count = cd->RetryCount ? cd->RetryCount : 4;
  d->retry_interval = cd->RetryInterval < 2 ? 2 : cd->RetryInterval;
  d->configured = true;
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI d_h2ip(EFI_DNS4_PROTOCOL *This, CHAR16 *host, EFI_DNS4_COMPLETION_TOKEN *tok) {
  struct fdns *d = D(This);
  struct fnet *n = d->nic->net;
  if (!host || !tok || !tok->Event || !host[0]) return EFI_INVALID_PARAMETER;
  if (!d->configured) return EFI_NOT_STARTED;
  struct fdns_x *x = X(d);
  unsigned slot = DNS_MAX_PENDING;
  for (unsigned i = 0; i < DNS_MAX_PENDING; i++) {
    if (x->toks[i] == tok) return EFI_ALREADY_STARTED;
    if (!x->toks[i] && slot == DNS_MAX_PENDING) slot = i;
  }
  if (slot == DNS_MAX_PENDING) return EFI_OUT_OF_RESOURCES;
  char name[256];
  size_t i = 0;
  for (; host[i] && i < 255; i++) {
    if (host[i] > 127) return EFI_INVALID_PARAMETER;
    name[i] = (char)host[i];
  }
  name[i] = 0;
  n->fw->ctr.dns4_queries++;
  struct fframe *f = fnet_frame(0);
  f->kind = FR_DNS4;
  f->inst_id = d->id;
  f->dtok = tok;
  uint32_t tries = (tok->RetryCount ? tok->RetryCount : d->retry_count) + 1;
  uint32_t iv = tok->RetryInterval ? (tok->RetryInterval < 2 ? 2 : tok->RetryInterval) : d->retry_interval;
  /* Like DnsDxe: each try that gets no acceptable answer waits a retry
   * interval; answers with a wrong id or source are ignored. */
  f->dstatus = EFI_TIMEOUT;
  uint32_t t = 0;
  for (; t < tries; t++) {
    if (!n->dns_on || x->server != n->dns_ip) continue; /* nobody answers there */
    f->dstatus = fdns_lookup(n, name, f->daddrs, &f->ndaddr);
    if (f->dstatus != EFI_TIMEOUT) break;
  }
  f->ready = (uint64_t)(t < tries ? t : tries) * iv * 1000 * FW_NS_MS +
             (f->dstatus == EFI_TIMEOUT ? 0 : n->dns.delay_ns);
  x->toks[slot] = tok;
  d->pending++;
  fnet_queue(n, f);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI d_ip2h(EFI_DNS4_PROTOCOL *This, EFI_IPv4_ADDRESS a, EFI_DNS4_COMPLETION_TOKEN *t) {
  (void)This, (void)a, (void)t;
  return EFI_UNSUPPORTED;
}

static EFI_STATUS EFIAPI d_poll(EFI_DNS4_PROTOCOL *This) {
  struct fnet *n = D(This)->nic->net;
  n->fw->ctr.polls++;
  fw_charge(FW_POLL_COST_NS);
  fnet_process_one(n);
  return EFI_SUCCESS;
}

static EFI_STATUS EFIAPI d_cancel(EFI_DNS4_PROTOCOL *This, EFI_DNS4_COMPLETION_TOKEN *tok) {
  struct fdns *d = D(This);
  if (!d->configured) return EFI_NOT_STARTED;
  struct fdns_x *x = X(d);
  for (unsigned i = 0; i < DNS_MAX_PENDING; i++) {
    if (x->toks[i] && (!tok || x->toks[i] == tok)) {
      EFI_DNS4_COMPLETION_TOKEN *t = x->toks[i];
      x->toks[i] = NULL;
      d->pending--;
      fw_complete(t->Event, &t->Status, EFI_ABORTED);
      if (tok) return EFI_SUCCESS;
    }
  }
  return tok ? EFI_NOT_FOUND : EFI_SUCCESS;
}

void fdns_input(struct fnet *n, struct fframe *f) {
  struct fdns *d = fnet_find_dns(n, f->inst_id);
  if (!d) return;
  struct fdns_x *x = X(d);
  unsigned slot = DNS_MAX_PENDING;
  for (unsigned i = 0; i < DNS_MAX_PENDING; i++)
    if (x->toks[i] == f->dtok) slot = i;
  if (slot == DNS_MAX_PENDING) return; /* cancelled */
  EFI_DNS4_COMPLETION_TOKEN *tok = f->dtok;
  x->toks[slot] = NULL;
  d->pending--;
  tok->RspData.H2AData = NULL;
  if (f->dstatus == EFI_SUCCESS) {
    DNS_HOST_TO_ADDR_DATA *h = fw_pool_alloc(sizeof(*h));
    h->IpCount = f->ndaddr;
    h->IpList = fw_pool_alloc(f->ndaddr * sizeof(EFI_IPv4_ADDRESS));
    for (unsigned i = 0; i < f->ndaddr; i++) h->IpList[i] = ip_to(f->daddrs[i]);
    tok->RspData.H2AData = h;
  }
  fw_complete(tok->Event, &tok->Status, f->dstatus);
}

EFI_STATUS fdns_create(struct fnic *nic, struct fdns **out) {
  struct fdns *d = calloc(1, sizeof(*d) + sizeof(struct fdns_x));
  d->proto.GetModeData = d_mode;
  d->proto.Configure = d_configure;
  d->proto.HostNameToIp = d_h2ip;
  d->proto.IpToHostName = d_ip2h;
  d->proto.Poll = d_poll;
  d->proto.Cancel = d_cancel;
  d->nic = nic;
  d->id = nic->net->next_id++;
  d->handle = fw_handle_new();
  fw_install(d->handle, &efi_dns4_guid, &d->proto);
  d->next = nic->dnss;
  nic->dnss = d;
  *out = d;
  return EFI_SUCCESS;
}

void fdns_destroy(struct fdns *d) {
  dns_flush(d, EFI_ABORTED);
  struct fdns **pp = &d->nic->dnss;
  while (*pp && *pp != d) pp = &(*pp)->next;
  if (*pp) *pp = d->next;
  fw_handle_free(d->handle);
  free(d);
}
