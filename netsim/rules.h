/* Targeted impairments, matched on simple packet fields:
 *   drop dir=to-guest proto=tcp flags=SYN+ACK nth=2   (the 2nd SYN-ACK to the guest)
 *   delay proto=udp sport=67 delay=5s                 (DHCP offers 5 s late)
 *   drop proto=udp port=53                            (all DNS)
 *   dup dir=from-guest proto=tcp count=3              (the first 3 guest segments twice)
 * flags= names the SYN/ACK/FIN/RST bits that must be set; the others of
 * those four must be clear. nth= picks the n-th match (then count= more,
 * default 1); without nth every match applies, up to count= if given. */
#ifndef NETSIM_RULES_H
#define NETSIM_RULES_H

#include <stddef.h>
#include <stdint.h>

enum rule_action { RULE_NONE, RULE_DROP, RULE_DELAY, RULE_DUP };
enum rule_dir { DIR_ANY, DIR_TO_GUEST, DIR_FROM_GUEST };

struct rule {
  enum rule_action action;
  enum rule_dir dir;
  int proto; /* 0 any, 6 tcp, 17 udp, 1 icmp, -1 arp */
  int port, sport, dport; /* 0: any */
  int flags_given;
  uint8_t flags; /* TH_SYN 0x02, TH_ACK 0x10, TH_FIN 0x01, TH_RST 0x04 */
  unsigned nth, count;
  uint64_t delay_ns;
  unsigned matched, applied;
};

#define RULES_MAX 32
struct rules {
  struct rule r[RULES_MAX];
  unsigned n;
};

int rule_parse(const char *text, struct rule *out, char *err, size_t errlen);
int rules_add(struct rules *rs, const char *text, char *err, size_t errlen);
/* The action for this frame (delay in *delay_ns), RULE_NONE when none applies. */
enum rule_action rules_match(struct rules *rs, enum rule_dir dir, const uint8_t *frame, size_t len,
                             uint64_t *delay_ns);

#endif
