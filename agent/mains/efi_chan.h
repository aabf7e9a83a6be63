/* The EFI agent's channel to the harness: the serial port, driven
 * directly (efi_chan.c says why), or the console when there is no single
 * serial port to take over. */
#ifndef AGENT_EFI_CHAN_H
#define AGENT_EFI_CHAN_H

#include <stddef.h>

#include "fwnet/uefi_net.h"

struct efi_chan {
  EFI_SYSTEM_TABLE *st;
  EFI_SERIAL_IO_PROTOCOL *io; /* NULL: ConIn/ConOut */
  EFI_EVENT tick;             /* the idle wait: one timer tick */
  const char *kind;           /* "serial" or "console", for hello */
  const char *why;            /* why the console, or NULL */
  char in[64];                /* bytes read past the end of a line */
  size_t nin, pos;
};

/* image: the agent's image handle, the agent that holds the port. */
void efi_chan_open(struct efi_chan *c, EFI_SYSTEM_TABLE *st, EFI_HANDLE image);
void efi_chan_write(struct efi_chan *c, const char *s);
/* The next non-empty line of printable characters, NUL-terminated; its length. */
int efi_chan_read_line(struct efi_chan *c, char *buf, size_t cap);

#endif
