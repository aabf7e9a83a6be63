/* The freestanding image's stdlib.h. malloc is the platform's (mem.c). */
#ifndef BMK_LIBC_STDLIB_H
#define BMK_LIBC_STDLIB_H
#include <stddef.h>
void *malloc(size_t n);
void *calloc(size_t n, size_t sz);
void free(void *p);
#include "fwbase/rt.h" /* strtol, atoi */
#endif
