/* <netdb.h> for a program built over efi-net: efisock/posix.h (README.md). */
#include "efisock/posix.h"
