/* netsim's rule parser (netsim/parse.h: rules.c's rules_add, then
 * rules_match): rule text from the control socket or --rule. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netsim/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  netsim_parse_rules(text);
  free(text);
  return 0;
}
