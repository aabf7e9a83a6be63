/* The EFI agent's channel. Through the console, OVMF's terminal driver
 * (TerminalDxe) polls the serial port from a 20 ms timer and gets only the
 * byte or two the UART holds by then, so a 25-byte command needs about a
 * dozen ticks to arrive: a quarter of a second per round trip. So the agent
 * takes the serial port over: it opens the port's SERIAL_IO exclusively,
 * which disconnects the terminal (the console splitter drops it), and
 * reads and writes SERIAL_IO itself (UEFI 2.x, 12.8), polling busily for a
 * while after each line (the next command usually follows at once), then
 * once per timer tick, halted in between. Where there is not exactly one
 * serial port, or it cannot be taken over, the console stays the channel
 * (hello says which: chan=serial|console). */
#include "efi_chan.h"

typedef struct {
  UINT16 ScanCode;
  CHAR16 UnicodeChar;
} EFI_INPUT_KEY;

typedef struct EFI_SIMPLE_TEXT_INPUT_PROTOCOL EFI_SIMPLE_TEXT_INPUT_PROTOCOL;
struct EFI_SIMPLE_TEXT_INPUT_PROTOCOL {
  EFI_STATUS(EFIAPI *Reset)(EFI_SIMPLE_TEXT_INPUT_PROTOCOL *This, BOOLEAN Ext);
  EFI_STATUS(EFIAPI *ReadKeyStroke)(EFI_SIMPLE_TEXT_INPUT_PROTOCOL *This, EFI_INPUT_KEY *Key);
  EFI_EVENT WaitForKey;
};

enum {
  POLL_STALL_US = 20,   /* between polls while busy */
  BUSY_POLLS = 1000,    /* polls after the last byte before halting between ticks */
  PORT_TIMEOUT_US = 1,  /* a Read returns what the port has; a Write what it took */
  WRITE_RETRIES = 10000 /* ~1 s of 100 us pauses for a harness slow to read */
};

void efi_chan_open(struct efi_chan *c, EFI_SYSTEM_TABLE *st, EFI_HANDLE image) {
  EFI_BOOT_SERVICES *bs = st->BootServices;
  EFI_HANDLE *h = NULL;
  UINTN n = 0;
  c->st = st;
  c->io = NULL;
  c->nin = c->pos = 0;
  c->kind = "console";
  if (bs->LocateHandleBuffer(ByProtocol, &efi_serial_io_guid, NULL, &n, &h) != EFI_SUCCESS || !n) {
    c->why = "no-serial-io";
    return;
  }
  EFI_SERIAL_IO_PROTOCOL *io = NULL;
  if (n != 1) {
    c->why = "several-serial-ports";
  } else if (bs->HandleProtocol(h[0], &efi_serial_io_guid, (VOID **)&io) != EFI_SUCCESS || !io || !io->Mode) {
    c->why = "serial-io-unusable";
  } else if (bs->CreateEvent(EVT_TIMER, 0, NULL, NULL, &c->tick) != EFI_SUCCESS) {
    c->why = "no-timer-event";
  } else {
    /* Opened by driver and exclusively (UEFI 2.x, 7.3 OpenProtocol): the
     * terminal driver is disconnected from the port, and a later
     * ConnectController (efi-net's open connects every handle) cannot bind
     * it again. */
    EFI_SERIAL_IO_PROTOCOL *mine = NULL;
    EFI_STATUS rc = bs->OpenProtocol(h[0], &efi_serial_io_guid, (VOID **)&mine, image, h[0],
                                     EFI_OPEN_PROTOCOL_BY_DRIVER | EFI_OPEN_PROTOCOL_EXCLUSIVE);
    EFI_SERIAL_IO_MODE m = *io->Mode;
    if (rc != EFI_SUCCESS || mine != io) {
      c->why = "serial-port-not-exclusive";
    } else if (io->SetAttributes(io, m.BaudRate, m.ReceiveFifoDepth, PORT_TIMEOUT_US, m.Parity,
                                 (UINT8)m.DataBits, m.StopBits) != EFI_SUCCESS) {
      c->why = "serial-attributes-refused";
      bs->CloseProtocol(h[0], &efi_serial_io_guid, image, h[0]);
      bs->ConnectController(h[0], NULL, NULL, TRUE); /* the console back */
    } else {
      c->io = io;
      c->kind = "serial";
      c->why = NULL;
    }
    if (!c->io) bs->CloseEvent(c->tick);
  }
  bs->FreePool(h);
}

/* Through the console one character per OutputString: the terminal writes
 * a string byte by byte and gives up at the first byte the UART does not
 * take (the rest dropped), so only with one character does an error say
 * what was lost; it is written again after a pause until it goes out. */
static void console_write(EFI_SYSTEM_TABLE *st, const char *s) {
  CHAR16 buf[2];
  buf[1] = 0;
  for (; *s; s++) {
    buf[0] = (CHAR16)(unsigned char)*s;
    for (unsigned tries = 0; tries < 1000; tries++) {
      EFI_STATUS rc = st->ConOut->OutputString(st->ConOut, buf);
      if (!(rc & EFI_ERROR_BIT)) break; /* EFI_SUCCESS or a warning (the glyph was written) */
      st->BootServices->Stall(1000);
    }
  }
}

/* A Write returns what the UART took within the port's timeout; the rest
 * goes after a pause. A harness that never reads ends it after ~1 s (and
 * then sees a frame whose CRC fails). */
void efi_chan_write(struct efi_chan *c, const char *s) {
  if (!c->io) {
    console_write(c->st, s);
    return;
  }
  size_t len = 0;
  while (s[len]) len++;
  for (unsigned tries = 0; len && tries < WRITE_RETRIES; tries++) {
    UINTN n = len;
    c->io->Write(c->io, &n, (VOID *)s);
    if (n > len) n = len;
    s += n, len -= n;
    if (len && !n) c->st->BootServices->Stall(100);
  }
}

static int console_read_line(EFI_SYSTEM_TABLE *st, char *buf, size_t cap) {
  EFI_SIMPLE_TEXT_INPUT_PROTOCOL *in = st->ConIn;
  size_t n = 0;
  for (;;) {
    EFI_INPUT_KEY k;
    UINTN idx;
    if (in->ReadKeyStroke(in, &k) != EFI_SUCCESS) {
      st->BootServices->WaitForEvent(1, &in->WaitForKey, &idx);
      continue;
    }
    CHAR16 ch = k.UnicodeChar;
    if (ch == '\r' || ch == '\n') {
      if (!n) continue;
      buf[n] = 0;
      return (int)n;
    }
    if (ch >= 32 && ch < 127 && n + 1 < cap) buf[n++] = (char)ch;
  }
}

/* The next byte from the port: busy polls first, then one poll per timer
 * tick with the CPU halted in between. */
static char next_byte(struct efi_chan *c) {
  EFI_BOOT_SERVICES *bs = c->st->BootServices;
  unsigned polls = 0;
  while (c->pos == c->nin) {
    UINTN n = sizeof(c->in);
    c->io->Read(c->io, &n, c->in); /* EFI_TIMEOUT with the bytes the port had */
    c->pos = 0;
    c->nin = n > sizeof(c->in) ? sizeof(c->in) : n;
    if (c->nin) break;
    if (polls++ < BUSY_POLLS) {
      bs->Stall(POLL_STALL_US);
    } else {
      UINTN idx;
      bs->SetTimer(c->tick, TimerRelative, 1); /* expires at the next tick */
      bs->WaitForEvent(1, &c->tick, &idx);
    }
  }
  return c->in[c->pos++];
}

int efi_chan_read_line(struct efi_chan *c, char *buf, size_t cap) {
  if (!c->io) return console_read_line(c->st, buf, cap);
  size_t n = 0;
  for (;;) {
    char ch = next_byte(c);
    if (ch == '\r' || ch == '\n') {
      if (!n) continue;
      buf[n] = 0;
      return (int)n;
    }
    if (ch >= 32 && ch < 127 && n + 1 < cap) buf[n++] = ch;
  }
}
