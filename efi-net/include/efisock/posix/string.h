/* <string.h> for a program built over efi-net: fwbase's runtime (memcpy,
 * strlen ...; libc's on the host, fwbase's in firmware) and strerror. */
#include "fwbase/rt.h"
#include "efisock/posix.h"
