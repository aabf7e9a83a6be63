/* fwb_dns_parse (fwbase/dnswire.h): a DNS response from the network, as
 * efi-net's built-in resolver reads it. The id is the message's own (so the
 * parser gets past the id check) and the question is "peer.test" or, when
 * the first byte is odd, "www.test" (the seeds carry both). */
#include <stddef.h>
#include <stdint.h>

#include "fwbase/dnswire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fwb_dns_result res;
  uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
  const char *qname = size >= 3 && (data[2] & 1) ? "www.test" : "peer.test";
  fwb_dns_parse(data, size, id, qname, &res);
  fwb_dns_parse(data, size, id, "many.test.", &res);
  return 0;
}
