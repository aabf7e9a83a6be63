/* dnszone_answer (fwbase/dnszone.h): the scripted zone's query parser, a
 * query from the guest (the fakes' DNS4, netsim's DNS server). The first
 * byte picks the fault and UDP or TCP; the rest is the query. */
#include <stddef.h>
#include <stdint.h>

#include "fwbase/dnszone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dnszone zone;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ready) {
    dnszone_add_a(&zone, "peer.test", 0x0a000264);
    dnszone_add_a(&zone, "many.test", 0x0a000264);
    dnszone_add_a(&zone, "many.test", 0x0a000265);
    dnszone_add_cname(&zone, "www.test", "alias.test");
    dnszone_add_cname(&zone, "alias.test", "peer.test");
    dnszone_add_cname(&zone, "loop.test", "loop.test");
    ready = 1;
  }
  if (!size) return 0;
  uint8_t out[1600];
  bool wrong = false;
  dnszone_set_fault(&zone, (enum dnszone_fault)((data[0] >> 1) % (DNSZ_POINTER_LOOP + 1)), 1);
  dnszone_answer(&zone, data + 1, size - 1, out, data[0] & 0x80 ? 64 : sizeof(out), data[0] & 1, &wrong);
  dnszone_set_fault(&zone, DNSZ_OK, 0);
  return 0;
}
