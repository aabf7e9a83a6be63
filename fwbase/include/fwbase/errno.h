/* errno values (Linux's numbering, so results compare directly with the
 * Linux reference backend), getaddrinfo's EAI_* codes, and their names. One
 * definition for efi-net, the agent on every platform and the bare-metal
 * image; efisock/socket.h re-exports it. */
#ifndef FWBASE_ERRNO_H
#define FWBASE_ERRNO_H

#define EFISOCK_EPERM 1
#define EFISOCK_ENOENT 2
#define EFISOCK_EINTR 4
#define EFISOCK_EIO 5
#define EFISOCK_EBADF 9
#define EFISOCK_EAGAIN 11
#define EFISOCK_ENOMEM 12
#define EFISOCK_EACCES 13
#define EFISOCK_EFAULT 14
#define EFISOCK_EBUSY 16
#define EFISOCK_ENODEV 19
#define EFISOCK_EEXIST 17
#define EFISOCK_EINVAL 22
#define EFISOCK_EMFILE 24
#define EFISOCK_ENOSPC 28
#define EFISOCK_EDOM 33
#define EFISOCK_EROFS 30
#define EFISOCK_EPIPE 32
#define EFISOCK_ERANGE 34
#define EFISOCK_ENOSYS 38
#define EFISOCK_EPROTO 71
#define EFISOCK_EBADMSG 74
#define EFISOCK_EOVERFLOW 75
#define EFISOCK_ENOTSOCK 88
#define EFISOCK_EDESTADDRREQ 89
#define EFISOCK_EMSGSIZE 90
#define EFISOCK_EPROTOTYPE 91
#define EFISOCK_ENOPROTOOPT 92
#define EFISOCK_EPROTONOSUPPORT 93
#define EFISOCK_ESOCKTNOSUPPORT 94
#define EFISOCK_EOPNOTSUPP 95
#define EFISOCK_EAFNOSUPPORT 97
#define EFISOCK_EADDRINUSE 98
#define EFISOCK_EADDRNOTAVAIL 99
#define EFISOCK_ENETDOWN 100
#define EFISOCK_ENETUNREACH 101
#define EFISOCK_ENETRESET 102
#define EFISOCK_ECONNABORTED 103
#define EFISOCK_ECONNRESET 104
#define EFISOCK_ENOBUFS 105
#define EFISOCK_EISCONN 106
#define EFISOCK_ENOTCONN 107
#define EFISOCK_ESHUTDOWN 108
#define EFISOCK_ETIMEDOUT 110
#define EFISOCK_ECONNREFUSED 111
#define EFISOCK_EHOSTDOWN 112
#define EFISOCK_EHOSTUNREACH 113
#define EFISOCK_EALREADY 114
#define EFISOCK_EINPROGRESS 115
#define EFISOCK_EWOULDBLOCK EFISOCK_EAGAIN

#define EFISOCK_EAI_BADFLAGS (-1)
#define EFISOCK_EAI_NONAME (-2)
#define EFISOCK_EAI_AGAIN (-3)
#define EFISOCK_EAI_FAIL (-4)
#define EFISOCK_EAI_FAMILY (-6)
#define EFISOCK_EAI_SOCKTYPE (-7)
#define EFISOCK_EAI_SERVICE (-8)
#define EFISOCK_EAI_MEMORY (-10)
#define EFISOCK_EAI_SYSTEM (-11)
#define EFISOCK_EAI_OVERFLOW (-12)

const char *efisock_errname(int err);  /* "ECONNRESET"; "E?" when unknown */
const char *efisock_strerror(int err); /* glibc's text */
const char *efisock_gai_strerror(int err);

#endif
