/* The freestanding C runtime fwnet's firmware-side code uses (EFI app and
 * bare-metal image): gcc may emit calls to these even with -fno-builtin
 * (struct copies, large memsets), and neither gnu-efi nor the bare-metal
 * image links a libc. On the host, libc provides the same functions and
 * this header only declares them. */
#ifndef FWBASE_RT_H
#define FWBASE_RT_H

#include <stddef.h>

void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *h, const char *n);
char *strncpy(char *d, const char *s, size_t n);
long strtol(const char *s, char **end, int base);
int atoi(const char *s);

/* ASCII case folding (DNS names compare case-insensitively, RFC 4343). */
static inline char fwb_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

#endif
