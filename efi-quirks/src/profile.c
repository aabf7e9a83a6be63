/* Quirk profiles: parse "name[=value],..." into a set, named profiles that
 * expand to several quirks, and the catalogue. Freestanding. */
#include <stdbool.h>
#include "efiquirks/quirks.h"

#include "fwbase/rt.h"

static const struct {
  const char *name;
  uint32_t flag;
  int arg; /* 0 none, 1 duration (ms), 2 count/bytes */
  const char *argname, *what;
} quirks[] = {
    {"no-dns4", FWQ_NO_DNS4, 0, "", "firmware has no EFI_DNS4 (efi-net falls back to its resolver)"},
    {"legacy-ip4config", FWQ_LEGACY_IP4CONFIG, 0, "",
     "only the legacy EFI_IP4_CONFIG, no IP4_CONFIG2 (UEFI < 2.5 firmware)"},
    {"default-address-already-started", FWQ_DEFAULT_ADDR_ALREADY_STARTED, 0, "",
     "TCP4/UDP4 Configure(UseDefaultAddress) fails with EFI_ALREADY_STARTED"},
    {"routes-not-applied", FWQ_ROUTES_NOT_APPLIED, 0, "",
     "TCP4 ignores the IP4 default route until Routes() adds it to the instance"},
    {"events-delayed", FWQ_EVENTS_DELAYED, 1, "ms", "every token completion is signalled late"},
    {"completions-reordered", FWQ_COMPLETIONS_REORDERED, 0, "",
     "completions on one instance are signalled in reverse pairs"},
    {"no-mapping", FWQ_NO_MAPPING, 2, "N", "the first N Configure calls fail with EFI_NO_MAPPING"},
    {"cancel-unsupported", FWQ_CANCEL_UNSUPPORTED, 0, "", "Cancel() answers EFI_UNSUPPORTED"},
    {"poll-not-ready", FWQ_POLL_NOT_READY, 0, "", "Poll() answers EFI_NOT_READY (after polling)"},
    {"close-never-completes", FWQ_CLOSE_NEVER_COMPLETES, 0, "",
     "a graceful TCP4 Close() token is never signalled"},
    {"receive-short", FWQ_RECEIVE_SHORT, 2, "N", "each TCP4 Receive completes with at most N bytes"},
    {"dhcp-never-answers", FWQ_DHCP_NEVER_ANSWERS, 0, "",
     "DHCP never completes: no address, EFI_NO_MAPPING for ever"},
    {"receive-empty-first", FWQ_RECEIVE_EMPTY_FIRST, 0, "",
     "each TCP4 child's first Receive completes with EFI_SUCCESS and 0 bytes"},
    {"receive-aborted-first", FWQ_RECEIVE_ABORTED_FIRST, 0, "",
     "each TCP4 child's first Receive completes with EFI_ABORTED and no data"},
};

static const struct {
  const char *name, *expands, *what;
} profiles[] = {
    {"bits-era", "legacy-ip4config,default-address-already-started,routes-not-applied,cancel-unsupported",
     "the firmware generation Intel BITS worked around"},
    {"slow-firmware", "events-delayed=20ms,poll-not-ready", "late completions, unhelpful Poll"},
    {"hostile", "completions-reordered,receive-short=100,cancel-unsupported,no-mapping=3",
     "every ordering and size assumption broken at once"},
};

static struct fwq_info catalogue[sizeof(quirks) / sizeof(quirks[0]) + sizeof(profiles) / sizeof(profiles[0])];

const struct fwq_info *fwq_catalogue(unsigned *n) {
  unsigned k = 0;
  for (unsigned i = 0; i < sizeof(quirks) / sizeof(quirks[0]); i++) {
    catalogue[k].name = quirks[i].name;
    catalogue[k].arg = quirks[i].argname;
    catalogue[k++].what = quirks[i].what;
  }
  for (unsigned i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
    catalogue[k].name = profiles[i].name;
    catalogue[k].arg = profiles[i].expands;
    catalogue[k++].what = profiles[i].what;
  }
  *n = k;
  return catalogue;
}

static void put(char *out, unsigned len, unsigned *pos, const char *s, unsigned n) {
  for (unsigned i = 0; i < n && s[i]; i++)
    if (*pos + 1 < len) out[(*pos)++] = s[i];
  if (len) out[*pos < len ? *pos : len - 1] = 0;
}

static void put_num(char *out, unsigned len, unsigned *pos, unsigned v) {
  char tmp[12];
  unsigned n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) {
    char c = tmp[--n];
    put(out, len, pos, &c, 1);
  }
}

static int fail(char *err, unsigned errlen, const char *msg, const char *tok, unsigned toklen) {
  unsigned pos = 0;
  if (!err || !errlen) return -1;
  put(err, errlen, &pos, msg, 200);
  put(err, errlen, &pos, ": '", 3);
  put(err, errlen, &pos, tok, toklen);
  put(err, errlen, &pos, "'", 1);
  return -1;
}

static bool eq(const char *a, unsigned alen, const char *b) {
  unsigned bl = (unsigned)strlen(b);
  if (alen != bl) return false;
  for (unsigned i = 0; i < alen; i++)
    if (a[i] != b[i]) return false;
  return true;
}

static int parse_one(const char *tok, unsigned len, struct fwq_set *s, char *err, unsigned errlen,
                     int depth);

static int parse_list(const char *p, unsigned plen, struct fwq_set *s, char *err, unsigned errlen,
                      int depth) {
  unsigned i = 0;
  while (i < plen) {
    while (i < plen && (p[i] == ',' || p[i] == ' ')) i++;
    unsigned start = i;
    while (i < plen && p[i] != ',') i++;
    unsigned end = i;
    while (end > start && p[end - 1] == ' ') end--;
    if (end > start && parse_one(p + start, end - start, s, err, errlen, depth)) return -1;
  }
  return 0;
}

static int parse_one(const char *tok, unsigned len, struct fwq_set *s, char *err, unsigned errlen,
                     int depth) {
  unsigned nl = 0;
  while (nl < len && tok[nl] != '=') nl++;
  const char *val = nl < len ? tok + nl + 1 : NULL;
  unsigned vlen = val ? len - nl - 1 : 0;
  for (unsigned i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
    if (!eq(tok, nl, profiles[i].name)) continue;
    if (val) return fail(err, errlen, "a named profile takes no value", tok, len);
    if (depth > 2) return fail(err, errlen, "profiles nested too deep", tok, len);
    return parse_list(profiles[i].expands, (unsigned)strlen(profiles[i].expands), s, err, errlen,
                      depth + 1);
  }
  for (unsigned i = 0; i < sizeof(quirks) / sizeof(quirks[0]); i++) {
    if (!eq(tok, nl, quirks[i].name)) continue;
    if (quirks[i].arg == 0) {
      if (val) return fail(err, errlen, "this quirk takes no value", tok, len);
    } else {
      if (!val || !vlen) return fail(err, errlen, "this quirk needs a value", tok, len);
      unsigned v = 0, k = 0;
      for (; k < vlen && val[k] >= '0' && val[k] <= '9'; k++) {
        v = v * 10 + (unsigned)(val[k] - '0');
        if (v > 100000000u) return fail(err, errlen, "value too large", tok, len);
      }
      if (k == 0) return fail(err, errlen, "value is not a number", tok, len);
      if (quirks[i].arg == 1) {
        if (eq(val + k, vlen - k, "s")) v *= 1000;
        else if (k != vlen && !eq(val + k, vlen - k, "ms"))
          return fail(err, errlen, "duration unit must be ms or s", tok, len);
        s->delay_ms = v;
      } else {
        if (k != vlen) return fail(err, errlen, "value is not a number", tok, len);
        if (quirks[i].flag == FWQ_NO_MAPPING) s->no_mapping_n = v;
        if (quirks[i].flag == FWQ_RECEIVE_SHORT) {
          if (!v) return fail(err, errlen, "receive-short needs at least 1 byte", tok, len);
          s->receive_short = v;
        }
      }
    }
    s->flags |= quirks[i].flag;
    return 0;
  }
  return fail(err, errlen, "unknown quirk or profile", tok, nl);
}

int fwq_parse(const char *profile, struct fwq_set *out, char *err, unsigned errlen) {
  memset(out, 0, sizeof(*out));
  if (err && errlen) err[0] = 0;
  if (!profile) return 0;
  return parse_list(profile, (unsigned)strlen(profile), out, err, errlen, 0);
}

void fwq_format(const struct fwq_set *s, char *out, unsigned len) {
  unsigned pos = 0;
  if (len) out[0] = 0;
  for (unsigned i = 0; i < sizeof(quirks) / sizeof(quirks[0]); i++) {
    if (!(s->flags & quirks[i].flag)) continue;
    if (pos) put(out, len, &pos, ",", 1);
    put(out, len, &pos, quirks[i].name, 64);
    if (quirks[i].flag == FWQ_EVENTS_DELAYED) {
      put(out, len, &pos, "=", 1);
      put_num(out, len, &pos, s->delay_ms);
      put(out, len, &pos, "ms", 2);
    } else if (quirks[i].flag == FWQ_NO_MAPPING) {
      put(out, len, &pos, "=", 1);
      put_num(out, len, &pos, s->no_mapping_n);
    } else if (quirks[i].flag == FWQ_RECEIVE_SHORT) {
      put(out, len, &pos, "=", 1);
      put_num(out, len, &pos, s->receive_short);
    }
  }
}
