/* Names: getaddrinfo, gethostbyname, getnameinfo.
 *
 * Lookups go through the built-in resolver or the firmware's EFI_DNS4 as
 * efinet_config.dns_policy says (lookup_name). The built-in resolver: an
 * A query over UDP4 to each configured server, a fresh
 * random transaction id and source port per query, replies accepted only
 * from the server's address and port 53 with our id and question, others
 * ignored (not fatal: spoof resistance), retries with a per-try deadline,
 * and a retry over TCP when the answer is truncated.
 */
#include "internal.h"
#include "fwbase/dnswire.h"


static bool is_localhost(const char *n) {
  static const char lh[] = "localhost";
  size_t i = 0;
  for (; lh[i]; i++)
    if (fwb_lower(n[i]) != lh[i]) return false;
  return n[i] == 0 || (n[i] == '.' && n[i + 1] == 0);
}

/* ---- built-in resolver ---- */

struct lookup {
  struct fwb_dns_result res;
  int gai; /* 0 or EFISOCK_EAI_* */
};

/* One query over TCP (after a truncated UDP answer). The resolver is a
 * client of the public socket API; it answers in the internal convention
 * (0 or negative errno). */
static int query_tcp(efinet_t *net, const struct efisock_sockaddr_in *srv, const uint8_t *q,
                     int qlen, uint16_t id, const char *name, struct fwb_dns_result *res) {
  int fd = efisock_socket(net, EFISOCK_AF_INET, EFISOCK_SOCK_STREAM, 0);
  if (fd < 0) return -efisock_errno(net);
  struct efisock_timeval tv = {net->cfg.dns_timeout_ms / 1000, (net->cfg.dns_timeout_ms % 1000) * 1000};
  efisock_setsockopt(net, fd, EFISOCK_SOL_SOCKET, EFISOCK_SO_RCVTIMEO, &tv, sizeof(tv));
  efisock_setsockopt(net, fd, EFISOCK_SOL_SOCKET, EFISOCK_SO_SNDTIMEO, &tv, sizeof(tv));
  int rc = -EFISOCK_ENOMEM;
  uint8_t *buf = en_alloc(net, 65535 + 2);
  if (!buf) goto out;
  rc = -EFISOCK_EPROTO; /* no usable answer */
  if (efisock_connect(net, fd, (const struct efisock_sockaddr *)srv, sizeof(*srv)) < 0) goto out;
  buf[0] = (uint8_t)(qlen >> 8);
  buf[1] = (uint8_t)qlen;
  memcpy(buf + 2, q, (size_t)qlen);
  if (efisock_send(net, fd, buf, (size_t)qlen + 2, 0) != qlen + 2) goto out;
  if (efisock_recv(net, fd, buf, 2, EFISOCK_MSG_WAITALL) != 2) goto out;
  size_t mlen = (size_t)buf[0] << 8 | buf[1];
  if (mlen < 12 || efisock_recv(net, fd, buf, mlen, EFISOCK_MSG_WAITALL) != (efisock_ssize_t)mlen)
    goto out;
  if (fwb_dns_parse(buf, mlen, id, name, res) == 0 && !res->tc) rc = 0;
out:
  en_free(net, buf);
  efisock_close(net, fd);
  return rc;
}

static void builtin_lookup(efinet_t *net, const char *name, struct lookup *lk) {
  if (net->ndns == 0) {
    lk->gai = EFISOCK_EAI_AGAIN; /* no server known */
    return;
  }
  uint8_t q[300];
  uint8_t *reply = en_alloc(net, 1500);
  if (!reply) {
    lk->gai = EFISOCK_EAI_MEMORY;
    return;
  }
  int fd = efisock_socket(net, EFISOCK_AF_INET, EFISOCK_SOCK_DGRAM, 0);
  if (fd < 0) {
    en_free(net, reply);
    lk->gai = EFISOCK_EAI_SYSTEM;
    return;
  }
  /* A random source port: a guessed port would make spoofing easy. */
  struct efisock_sockaddr_in me = {EFISOCK_AF_INET, 0, {0}, {0}};
  for (int tries = 0; tries < 4; tries++) {
    me.sin_port = efisock_htons((uint16_t)(49152 + en_random(net) % 16384));
    if (efisock_bind(net, fd, (struct efisock_sockaddr *)&me, sizeof(me)) == 0) break;
    me.sin_port = 0;
  }
  lk->gai = EFISOCK_EAI_AGAIN;
  bool answered = false;
  for (unsigned attempt = 0; attempt < net->cfg.dns_retries && !answered; attempt++) {
    for (unsigned si = 0; si < net->ndns && !answered; si++) {
      struct efisock_sockaddr_in srv = {EFISOCK_AF_INET, efisock_htons(53), en_ip_sin(&net->dns[si]), {0}};
      uint16_t id = (uint16_t)en_random(net);
      int qlen = fwb_dns_build_query(q, sizeof(q), id, name);
      if (qlen < 0) {
        lk->gai = EFISOCK_EAI_NONAME;
        answered = true;
        break;
      }
      if (efisock_sendto(net, fd, q, (size_t)qlen, 0, (struct efisock_sockaddr *)&srv, sizeof(srv)) < 0)
        continue;
      uint64_t deadline = net->ticks + (net->cfg.dns_timeout_ms + 9) / 10;
      while (net->ticks < deadline) {
        struct efisock_pollfd p = {fd, EFISOCK_POLLIN, 0};
        int left = (int)((deadline - net->ticks) * 10);
        if (efisock_poll(net, &p, 1, left) <= 0) break;
        struct efisock_sockaddr_in from;
        efisock_socklen_t fl = sizeof(from);
        efisock_ssize_t n = efisock_recvfrom(net, fd, reply, 1500, 0, (struct efisock_sockaddr *)&from, &fl);
        if (n < 0) break; /* ICMP error: try the next server */
        /* Source check: exactly the server we asked, from port 53. */
        if (from.sin_addr.s_addr != srv.sin_addr.s_addr || from.sin_port != srv.sin_port) continue;
        if (fwb_dns_parse(reply, (size_t)n, id, name, &lk->res) != 0) continue;
        if (lk->res.tc && query_tcp(net, &srv, q, qlen, id, name, &lk->res) != 0) {
          /* Truncated and TCP failed: the addresses that fit are still
           * valid A records only if the parser saw the answer section; it
           * does not, so this server gave us nothing. */
          break;
        }
        if (lk->res.rcode == FWB_DNS_RCODE_NXDOMAIN) {
          lk->gai = EFISOCK_EAI_NONAME;
          answered = true;
        } else if (lk->res.rcode == FWB_DNS_RCODE_OK) {
          lk->gai = lk->res.naddr ? 0 : EFISOCK_EAI_NONAME; /* NODATA */
          answered = true;
        } /* SERVFAIL, REFUSED: try the next server */
        break;
      }
    }
  }
  efisock_close(net, fd);
  en_free(net, reply);
}

/* ---- firmware DNS4 ---- */

struct tok_wait {
  struct en_tok *t;
};
static bool dns_tok_done(void *a) { return ((struct tok_wait *)a)->t->done; }

static void orphan(struct efinet *net, struct en_tok *t) {
  for (unsigned i = 0; i < EN_ARRAY_SIZE(net->orphans); i++) {
    if (!net->orphans[i]) {
      net->orphans[i] = t;
      return;
    }
  }
  /* No slot: leak the token rather than free memory firmware may write. */
}

static void dns4_lookup(efinet_t *net, const char *name, struct lookup *lk) {
  lk->gai = EFISOCK_EAI_FAIL;
  struct en_child c;
  if (en_child_create(net, net->dns4_sb, &efi_dns4_guid, &c)) return;
  EFI_DNS4_PROTOCOL *d = c.proto;
  EFI_DNS4_CONFIG_DATA cd;
  memset(&cd, 0, sizeof(cd));
  EFI_IPv4_ADDRESS servers[4];
  for (unsigned i = 0; i < net->ndns; i++) servers[i] = net->dns[i];
  cd.DnsServerListCount = net->ndns;
  cd.DnsServerList = net->ndns ? servers : NULL;
  cd.UseDefaultSetting = net->explicit_addr ? FALSE : TRUE;
  if (net->explicit_addr) {
    cd.StationIp = net->addr;
    cd.SubnetMask = net->mask;
  }
  cd.EnableDnsCache = FALSE; /* DnsDxe's cache is driver-wide and outlives us: ask every time, as getaddrinfo does */
  cd.Protocol = EFISOCK_IPPROTO_UDP;
  /* RetryCount counts retransmissions after the first query, and 0 means the
   * driver's default (DnsDxe, the fakes): tries - 1, at least one. */
  cd.RetryCount = net->cfg.dns_retries > 1 ? net->cfg.dns_retries - 1 : 1;
  cd.RetryInterval = (net->cfg.dns_timeout_ms + 999) / 1000;
  EFI_STATUS st = d->Configure(d, &cd);
  if (st == EFI_NO_MAPPING && en_ip_wait_addr(net, net->cfg.config_timeout_ms) == 0)
    st = d->Configure(d, &cd);
  if (EFI_ERROR(st)) {
    lk->gai = st == EFI_NO_MAPPING ? EFISOCK_EAI_AGAIN : EFISOCK_EAI_FAIL;
    en_child_destroy(net, &c);
    return;
  }
  CHAR16 wname[256];
  size_t n = strlen(name);
  if (n > 255) n = 255;
  for (size_t i = 0; i < n; i++) wname[i] = (CHAR16)(unsigned char)name[i];
  wname[n] = 0;
  struct en_tok *t = en_alloc(net, sizeof(*t));
  if (!t || en_tok_init(net, t)) {
    en_free(net, t);
    d->Configure(d, NULL);
    en_child_destroy(net, &c);
    return;
  }
  en_tok_arm(t);
  st = d->HostNameToIp(d, wname, &t->u.dns);
  if (EFI_ERROR(st)) {
    t->posted = 0;
    lk->gai = st == EFI_INVALID_PARAMETER ? EFISOCK_EAI_NONAME : EFISOCK_EAI_FAIL;
  } else {
    /* Deadline: every try to every server, plus a second of slack. */
    unsigned servers_n = net->ndns ? net->ndns : 1;
    unsigned ms = (cd.RetryCount + 1) * servers_n * (cd.RetryInterval < 2 ? 2 : cd.RetryInterval) * 1000 + 1000;
    struct tok_wait w = {t};
    if (en_wait(net, dns_tok_done, &w, ms, false) == 0) {
      st = t->u.hdr.Status;
      DNS_HOST_TO_ADDR_DATA *h2a = t->u.dns.RspData.H2AData;
      if (st == EFI_SUCCESS && h2a) {
        for (UINT32 i = 0; i < h2a->IpCount && lk->res.naddr < FWB_DNS_MAX_ADDRS; i++)
          memcpy(&lk->res.addrs[lk->res.naddr++], h2a->IpList[i].Addr, 4);
        lk->gai = lk->res.naddr ? 0 : EFISOCK_EAI_NONAME;
      } else if (st == EFI_NOT_FOUND) {
        lk->gai = EFISOCK_EAI_NONAME;
      } else if (st == EFI_TIMEOUT) {
        lk->gai = EFISOCK_EAI_AGAIN;
      }
      /* The driver allocated the answer; the caller frees it. */
      if (h2a) {
        if (h2a->IpList) net->bs->FreePool(h2a->IpList);
        net->bs->FreePool(h2a);
      }
      t->posted = 0;
    } else {
      lk->gai = EFISOCK_EAI_AGAIN;
      d->Cancel(d, &t->u.dns);
    }
  }
  d->Configure(d, NULL);
  en_child_destroy(net, &c);
  if (t->posted && !t->done) {
    orphan(net, t); /* cancel unsupported: freed once the firmware lets go */
  } else {
    en_tok_fini(net, t);
    en_free(net, t);
  }
  size_t cl = strlen(name);
  if (cl > 255) cl = 255;
  memcpy(lk->res.canon, name, cl);
  lk->res.canon[cl] = 0;
}

/* The policy (enum efinet_dns_policy in socket.h says why the default). */
static void lookup_name(efinet_t *net, const char *name, struct lookup *lk) {
  enum efinet_dns_policy pol = net->cfg.use_builtin_resolver ? EFINET_DNS_BUILTIN_ONLY
                                                             : net->cfg.dns_policy;
  bool dns4 = net->dns4_sb != NULL;
  memset(lk, 0, sizeof(*lk));
  en_ip_discover(net);
  switch (pol) {
  case EFINET_DNS_DNS4_ONLY:
    if (dns4)
      dns4_lookup(net, name, lk);
    else
      lk->gai = EFISOCK_EAI_FAIL;
    return;
  case EFINET_DNS_DNS4_FIRST:
    if (dns4) {
      dns4_lookup(net, name, lk);
      if (lk->gai == 0) return;
      memset(lk, 0, sizeof(*lk));
    }
    builtin_lookup(net, name, lk);
    return;
  case EFINET_DNS_BUILTIN_ONLY:
    builtin_lookup(net, name, lk);
    return;
  case EFINET_DNS_BUILTIN_FIRST:
  default:
    /* DNS4 only when the built-in could not ask anyone: a server that did
     * not answer it would not answer DnsDxe either. */
    if (dns4 && (net->ndns == 0 || !net->udp4_sb)) {
      dns4_lookup(net, name, lk);
      return;
    }
    builtin_lookup(net, name, lk);
    if (dns4 && lk->gai == EFISOCK_EAI_SYSTEM) {
      memset(lk, 0, sizeof(*lk));
      dns4_lookup(net, name, lk);
    }
    return;
  }
}

/* ---- getaddrinfo ---- */

static const struct {
  const char *name;
  uint16_t port;
} services[] = {{"echo", 7}, {"discard", 9}, {"chargen", 19}, {"ftp", 21}, {"ssh", 22},
                {"domain", 53}, {"http", 80}, {"https", 443}};

static int parse_service(const char *sv, int flags, uint16_t *port) {
  *port = 0;
  if (!sv) return 0;
  if (*sv >= '0' && *sv <= '9') {
    unsigned v = 0;
    for (const char *p = sv; *p; p++) {
      if (*p < '0' || *p > '9') return EFISOCK_EAI_SERVICE;
      v = v * 10 + (unsigned)(*p - '0');
      if (v > 65535) return EFISOCK_EAI_SERVICE;
    }
    *port = (uint16_t)v;
    return 0;
  }
  if (flags & EFISOCK_AI_NUMERICSERV) return EFISOCK_EAI_NONAME;
  for (unsigned i = 0; i < EN_ARRAY_SIZE(services); i++) {
    const char *a = services[i].name, *b = sv;
    while (*a && *a == *b) a++, b++;
    if (!*a && !*b) {
      *port = services[i].port;
      return 0;
    }
  }
  return EFISOCK_EAI_SERVICE;
}

static struct efisock_addrinfo *new_ai(efinet_t *net, uint32_t addr, uint16_t port, int st,
                                       const char *canon) {
  size_t cl = canon ? strlen(canon) + 1 : 0;
  struct efisock_addrinfo *ai =
      en_alloc(net, sizeof(*ai) + sizeof(struct efisock_sockaddr_in) + cl);
  if (!ai) return NULL;
  struct efisock_sockaddr_in *sin = (struct efisock_sockaddr_in *)(ai + 1);
  sin->sin_family = EFISOCK_AF_INET;
  sin->sin_port = efisock_htons(port);
  sin->sin_addr.s_addr = addr;
  ai->ai_family = EFISOCK_AF_INET;
  ai->ai_socktype = st;
  ai->ai_protocol = st == EFISOCK_SOCK_STREAM ? EFISOCK_IPPROTO_TCP
                    : st == EFISOCK_SOCK_DGRAM ? EFISOCK_IPPROTO_UDP
                                               : 0;
  ai->ai_addrlen = sizeof(*sin);
  ai->ai_addr = (struct efisock_sockaddr *)sin;
  if (canon) {
    ai->ai_canonname = (char *)(sin + 1);
    memcpy(ai->ai_canonname, canon, cl);
  }
  return ai;
}

void efisock_freeaddrinfo(efinet_t *net, struct efisock_addrinfo *res) {
  while (res) {
    struct efisock_addrinfo *next = res->ai_next;
    en_free(net, res);
    res = next;
  }
}

int efisock_getaddrinfo(efinet_t *net, const char *node, const char *service,
                        const struct efisock_addrinfo *hints, struct efisock_addrinfo **res) {
  int flags = hints ? hints->ai_flags : 0;
  int family = hints ? hints->ai_family : EFISOCK_AF_UNSPEC;
  int socktype = hints ? hints->ai_socktype : 0;
  *res = NULL;
  if (flags & ~(EFISOCK_AI_PASSIVE | EFISOCK_AI_CANONNAME | EFISOCK_AI_NUMERICHOST |
                EFISOCK_AI_NUMERICSERV))
    return EFISOCK_EAI_BADFLAGS;
  if (family != EFISOCK_AF_UNSPEC && family != EFISOCK_AF_INET) return EFISOCK_EAI_FAMILY;
  if (socktype != 0 && socktype != EFISOCK_SOCK_STREAM && socktype != EFISOCK_SOCK_DGRAM &&
      socktype != 3 /* SOCK_RAW */)
    return EFISOCK_EAI_SOCKTYPE;
  if (!node && !service) return EFISOCK_EAI_NONAME;
  uint16_t port;
  int e = parse_service(service, flags, &port);
  if (e) return e;

  struct lookup lk;
  memset(&lk, 0, sizeof(lk));
  const char *canon = node;
  if (!node) {
    uint32_t a = (flags & EFISOCK_AI_PASSIVE) ? 0 : efisock_htonl(0x7f000001);
    lk.res.addrs[0] = a;
    lk.res.naddr = 1;
  } else if (efisock_inet_pton(EFISOCK_AF_INET, node, &lk.res.addrs[0]) == 1) {
    lk.res.naddr = 1;
  } else if (flags & EFISOCK_AI_NUMERICHOST) {
    return EFISOCK_EAI_NONAME;
  } else if (is_localhost(node)) {
    lk.res.addrs[0] = efisock_htonl(0x7f000001);
    lk.res.naddr = 1;
  } else {
    lookup_name(net, node, &lk);
    if (lk.gai) return lk.gai;
    canon = lk.res.canon;
  }
  /* glibc's order for an unspecified type: stream, datagram, raw. */
  int types[3] = {EFISOCK_SOCK_STREAM, EFISOCK_SOCK_DGRAM, 3};
  unsigned ntypes = 3;
  if (socktype) {
    types[0] = socktype;
    ntypes = 1;
  }
  struct efisock_addrinfo *head = NULL, **tail = &head;
  for (unsigned i = 0; i < lk.res.naddr; i++) {
    for (unsigned k = 0; k < ntypes; k++) {
      bool first = head == NULL;
      struct efisock_addrinfo *ai = new_ai(net, lk.res.addrs[i], port, types[k],
                                           first && (flags & EFISOCK_AI_CANONNAME) ? canon : NULL);
      if (!ai) {
        efisock_freeaddrinfo(net, head);
        return EFISOCK_EAI_MEMORY;
      }
      *tail = ai;
      tail = &ai->ai_next;
    }
  }
  *res = head;
  return 0;
}


/* ---- gethostbyname / getnameinfo ---- */

struct efisock_hostent *efisock_gethostbyname(efinet_t *net, const char *name) {
  struct efisock_addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = EFISOCK_AF_INET;
  hints.ai_socktype = EFISOCK_SOCK_STREAM;
  hints.ai_flags = EFISOCK_AI_CANONNAME;
  int e = efisock_getaddrinfo(net, name, NULL, &hints, &res);
  if (e) {
    net->h_err = e == EFISOCK_EAI_AGAIN ? EFISOCK_TRY_AGAIN
                 : e == EFISOCK_EAI_NONAME ? EFISOCK_HOST_NOT_FOUND
                                           : EFISOCK_NO_RECOVERY;
    return NULL;
  }
  struct efisock_hostent *h = &net->hent;
  size_t cl = res->ai_canonname ? strlen(res->ai_canonname) : 0;
  if (cl >= sizeof(net->hent_name)) cl = sizeof(net->hent_name) - 1;
  memcpy(net->hent_name, res->ai_canonname ? res->ai_canonname : "", cl);
  net->hent_name[cl] = 0;
  unsigned n = 0;
  for (struct efisock_addrinfo *ai = res; ai && n < 8; ai = ai->ai_next) {
    net->hent_addrv[n] = ((struct efisock_sockaddr_in *)ai->ai_addr)->sin_addr;
    net->hent_addrs[n] = (char *)&net->hent_addrv[n];
    n++;
  }
  net->hent_addrs[n] = NULL;
  net->hent_aliases[0] = NULL;
  efisock_freeaddrinfo(net, res);
  h->h_name = net->hent_name;
  h->h_aliases = net->hent_aliases;
  h->h_addrtype = EFISOCK_AF_INET;
  h->h_length = 4;
  h->h_addr_list = net->hent_addrs;
  net->h_err = 0;
  return h;
}

int efisock_h_errno(efinet_t *net) { return net->h_err; }

/* Numeric only: reverse lookups are not done (DNS4's IpToHostName is
 * optional and EDK2 does not implement it); NI_NAMEREQD then fails. */
int efisock_getnameinfo(efinet_t *net, const struct efisock_sockaddr *sa, efisock_socklen_t salen,
                        char *host, efisock_socklen_t hostlen, char *serv,
                        efisock_socklen_t servlen, int flags) {
  (void)net;
  if (!sa || salen < sizeof(struct efisock_sockaddr_in)) return EFISOCK_EAI_FAMILY;
  if (sa->sa_family != EFISOCK_AF_INET) return EFISOCK_EAI_FAMILY;
  const struct efisock_sockaddr_in *sin = (const struct efisock_sockaddr_in *)sa;
  if (host && hostlen) {
    if (flags & EFISOCK_NI_NAMEREQD) return EFISOCK_EAI_NONAME;
    if (!efisock_inet_ntop(EFISOCK_AF_INET, &sin->sin_addr, host, hostlen))
      return EFISOCK_EAI_OVERFLOW;
  }
  if (serv && servlen) {
    char tmp[6];
    unsigned p = efisock_ntohs(sin->sin_port), n = 0;
    char rev[6];
    do {
      rev[n++] = (char)('0' + p % 10);
      p /= 10;
    } while (p);
    for (unsigned i = 0; i < n; i++) tmp[i] = rev[n - 1 - i];
    tmp[n] = 0;
    if (n + 1 > servlen) return EFISOCK_EAI_OVERFLOW;
    memcpy(serv, tmp, n + 1);
  }
  return 0;
}
