/* Formatting for the console and the hypercalls: %d %i %u %x %X %o %s %c %p
 * with 0/- flags, width, precision for strings, and l/ll/z/h modifiers. */
#ifndef BMK_PRINTF_H
#define BMK_PRINTF_H
#include <stdarg.h>
#include <stddef.h>

int bmk_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap);
int bmk_snprintf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int bmk_strcmp(const char *a, const char *b);

#endif
