/* The freestanding image's string.h: fwbase's runtime is its libc. */
#ifndef BMK_LIBC_STRING_H
#define BMK_LIBC_STRING_H
#include "fwbase/rt.h"
#endif
