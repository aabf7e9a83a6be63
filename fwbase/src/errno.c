/* errno and EAI names and texts (glibc's wording). */
#include "fwbase/errno.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
  int err;
  const char *name, *text;
} errno_table[] = {
    {0, "OK", "Success"},
    {EFISOCK_EPERM, "EPERM", "Operation not permitted"},
    {EFISOCK_ENOENT, "ENOENT", "No such file or directory"},
    {EFISOCK_EINTR, "EINTR", "Interrupted system call"},
    {EFISOCK_EIO, "EIO", "Input/output error"},
    {EFISOCK_EBADF, "EBADF", "Bad file descriptor"},
    {EFISOCK_EAGAIN, "EAGAIN", "Resource temporarily unavailable"},
    {EFISOCK_ENOMEM, "ENOMEM", "Cannot allocate memory"},
    {EFISOCK_EACCES, "EACCES", "Permission denied"},
    {EFISOCK_EFAULT, "EFAULT", "Bad address"},
    {EFISOCK_EBUSY, "EBUSY", "Device or resource busy"},
    {EFISOCK_ENODEV, "ENODEV", "No such device"},
    {EFISOCK_EEXIST, "EEXIST", "File exists"},
    {EFISOCK_EINVAL, "EINVAL", "Invalid argument"},
    {EFISOCK_EMFILE, "EMFILE", "Too many open files"},
    {EFISOCK_ENOSPC, "ENOSPC", "No space left on device"},
    {EFISOCK_EROFS, "EROFS", "Read-only file system"},
    {EFISOCK_EPIPE, "EPIPE", "Broken pipe"},
    {EFISOCK_EDOM, "EDOM", "Numerical argument out of domain"},
    {EFISOCK_ERANGE, "ERANGE", "Numerical result out of range"},
    {EFISOCK_ENOSYS, "ENOSYS", "Function not implemented"},
    {EFISOCK_EPROTO, "EPROTO", "Protocol error"},
    {EFISOCK_EBADMSG, "EBADMSG", "Bad message"},
    {EFISOCK_EOVERFLOW, "EOVERFLOW", "Value too large for defined data type"},
    {EFISOCK_ENOTSOCK, "ENOTSOCK", "Socket operation on non-socket"},
    {EFISOCK_EDESTADDRREQ, "EDESTADDRREQ", "Destination address required"},
    {EFISOCK_EMSGSIZE, "EMSGSIZE", "Message too long"},
    {EFISOCK_EPROTOTYPE, "EPROTOTYPE", "Protocol wrong type for socket"},
    {EFISOCK_ENOPROTOOPT, "ENOPROTOOPT", "Protocol not available"},
    {EFISOCK_EPROTONOSUPPORT, "EPROTONOSUPPORT", "Protocol not supported"},
    {EFISOCK_ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT", "Socket type not supported"},
    {EFISOCK_EOPNOTSUPP, "EOPNOTSUPP", "Operation not supported"},
    {EFISOCK_EAFNOSUPPORT, "EAFNOSUPPORT", "Address family not supported by protocol"},
    {EFISOCK_EADDRINUSE, "EADDRINUSE", "Address already in use"},
    {EFISOCK_EADDRNOTAVAIL, "EADDRNOTAVAIL", "Cannot assign requested address"},
    {EFISOCK_ENETDOWN, "ENETDOWN", "Network is down"},
    {EFISOCK_ENETUNREACH, "ENETUNREACH", "Network is unreachable"},
    {EFISOCK_ENETRESET, "ENETRESET", "Network dropped connection on reset"},
    {EFISOCK_ECONNABORTED, "ECONNABORTED", "Software caused connection abort"},
    {EFISOCK_ECONNRESET, "ECONNRESET", "Connection reset by peer"},
    {EFISOCK_ENOBUFS, "ENOBUFS", "No buffer space available"},
    {EFISOCK_EISCONN, "EISCONN", "Transport endpoint is already connected"},
    {EFISOCK_ENOTCONN, "ENOTCONN", "Transport endpoint is not connected"},
    {EFISOCK_ESHUTDOWN, "ESHUTDOWN", "Cannot send after transport endpoint shutdown"},
    {EFISOCK_ETIMEDOUT, "ETIMEDOUT", "Connection timed out"},
    {EFISOCK_ECONNREFUSED, "ECONNREFUSED", "Connection refused"},
    {EFISOCK_EHOSTDOWN, "EHOSTDOWN", "Host is down"},
    {EFISOCK_EHOSTUNREACH, "EHOSTUNREACH", "No route to host"},
    {EFISOCK_EALREADY, "EALREADY", "Operation already in progress"},
    {EFISOCK_EINPROGRESS, "EINPROGRESS", "Operation now in progress"},
};

const char *efisock_errname(int err) {
  for (unsigned i = 0; i < ARRAY_SIZE(errno_table); i++)
    if (errno_table[i].err == err) return errno_table[i].name;
  return "E?";
}

const char *efisock_strerror(int err) {
  for (unsigned i = 0; i < ARRAY_SIZE(errno_table); i++)
    if (errno_table[i].err == err) return errno_table[i].text;
  return "Unknown error";
}

const char *efisock_gai_strerror(int err) {
  switch (err) {
  case 0: return "Success";
  case EFISOCK_EAI_BADFLAGS: return "Bad value for ai_flags";
  case EFISOCK_EAI_NONAME: return "Name or service not known";
  case EFISOCK_EAI_AGAIN: return "Temporary failure in name resolution";
  case EFISOCK_EAI_FAIL: return "Non-recoverable failure in name resolution";
  case EFISOCK_EAI_FAMILY: return "ai_family not supported";
  case EFISOCK_EAI_SOCKTYPE: return "ai_socktype not supported";
  case EFISOCK_EAI_SERVICE: return "Servname not supported for ai_socktype";
  case EFISOCK_EAI_MEMORY: return "Memory allocation failure";
  case EFISOCK_EAI_SYSTEM: return "System error";
  case EFISOCK_EAI_OVERFLOW: return "Argument buffer overflow";
  default: return "Unknown error";
  }
}
