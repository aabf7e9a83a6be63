/* netsim's frame path (netsim/parse.h): what a guest writes to its LAN port,
 * through the hub's framing, rules and impairments to the DNS interception
 * and the answer back. */
#include <stddef.h>
#include <stdint.h>

#include "netsim/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  netsim_guest_bytes(data, size);
  return 0;
}
