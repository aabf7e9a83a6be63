/* netsim's parsers of bytes from outside, each as one public call (fuzz/
 * drives them; the program itself uses the private headers beside its
 * sources). */
#ifndef NETSIM_PARSE_H
#define NETSIM_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Rule text (rules.h, the control socket's `rule` and --rule): each line
 * through rules_add() into a fresh table, then a few frames of each kind
 * through rules_match() both ways. Returns the rules accepted. */
int netsim_parse_rules(const char *text);

/* The bytes a guest writes to its port (QEMU's -netdev stream framing:
 * 4-byte big-endian length, frame) through a hub with a few rules and the
 * DNS interception on a scripted zone: framing, rules, impairments, the
 * DNS handler, the answer back to the guest (read and dropped). One
 * process-wide LAN, reset between calls. Returns the bytes the guest got. */
size_t netsim_guest_bytes(const uint8_t *data, size_t len);

#endif
