/* EFI status -> errno, in one table, and errno names.
 *
 * Where a status is ambiguous the mapping follows what Linux reports for the
 * same network condition: EFI_NO_MAPPING (no address yet) is ENETDOWN as for
 * an interface without an address; EFI_NOT_STARTED (instance not configured
 * or connection gone) is ENOTCONN; ICMP unreachables map as Linux maps them.
 * Socket calls refine a few by context (connect: EFI_ACCESS_DENIED ->
 * EISCONN; bind/listen: EFI_ACCESS_DENIED -> EADDRINUSE).
 */
#include "internal.h"

static const struct {
  EFI_STATUS status;
  int err;
  const char *name;
} status_table[] = {
    {EFI_SUCCESS, 0, "EFI_SUCCESS"},
    {EFI_LOAD_ERROR, EFISOCK_EIO, "EFI_LOAD_ERROR"},
    {EFI_INVALID_PARAMETER, EFISOCK_EINVAL, "EFI_INVALID_PARAMETER"},
    {EFI_UNSUPPORTED, EFISOCK_EOPNOTSUPP, "EFI_UNSUPPORTED"},
    {EFI_BAD_BUFFER_SIZE, EFISOCK_EINVAL, "EFI_BAD_BUFFER_SIZE"},
    {EFI_BUFFER_TOO_SMALL, EFISOCK_ENOBUFS, "EFI_BUFFER_TOO_SMALL"},
    {EFI_NOT_READY, EFISOCK_EAGAIN, "EFI_NOT_READY"},
    {EFI_DEVICE_ERROR, EFISOCK_EIO, "EFI_DEVICE_ERROR"},
    {EFI_WRITE_PROTECTED, EFISOCK_EROFS, "EFI_WRITE_PROTECTED"},
    {EFI_OUT_OF_RESOURCES, EFISOCK_ENOBUFS, "EFI_OUT_OF_RESOURCES"},
    {EFI_VOLUME_CORRUPTED, EFISOCK_EIO, "EFI_VOLUME_CORRUPTED"},
    {EFI_VOLUME_FULL, EFISOCK_ENOSPC, "EFI_VOLUME_FULL"},
    {EFI_NO_MEDIA, EFISOCK_ENETDOWN, "EFI_NO_MEDIA"},
    {EFI_MEDIA_CHANGED, EFISOCK_ENETRESET, "EFI_MEDIA_CHANGED"},
    {EFI_NOT_FOUND, EFISOCK_ENOENT, "EFI_NOT_FOUND"},
    {EFI_ACCESS_DENIED, EFISOCK_EACCES, "EFI_ACCESS_DENIED"},
    {EFI_NO_RESPONSE, EFISOCK_ETIMEDOUT, "EFI_NO_RESPONSE"},
    {EFI_NO_MAPPING, EFISOCK_ENETDOWN, "EFI_NO_MAPPING"},
    {EFI_TIMEOUT, EFISOCK_ETIMEDOUT, "EFI_TIMEOUT"},
    {EFI_NOT_STARTED, EFISOCK_ENOTCONN, "EFI_NOT_STARTED"},
    {EFI_ALREADY_STARTED, EFISOCK_EALREADY, "EFI_ALREADY_STARTED"},
    {EFI_ABORTED, EFISOCK_ECONNABORTED, "EFI_ABORTED"},
    {EFI_ICMP_ERROR, EFISOCK_EHOSTUNREACH, "EFI_ICMP_ERROR"},
    {EFI_TFTP_ERROR, EFISOCK_EPROTO, "EFI_TFTP_ERROR"},
    {EFI_PROTOCOL_ERROR, EFISOCK_EPROTO, "EFI_PROTOCOL_ERROR"},
    {EFI_INCOMPATIBLE_VERSION, EFISOCK_EPROTO, "EFI_INCOMPATIBLE_VERSION"},
    {EFI_SECURITY_VIOLATION, EFISOCK_EACCES, "EFI_SECURITY_VIOLATION"},
    {EFI_CRC_ERROR, EFISOCK_EBADMSG, "EFI_CRC_ERROR"},
    {EFI_END_OF_MEDIA, EFISOCK_EIO, "EFI_END_OF_MEDIA"},
    {EFI_END_OF_FILE, EFISOCK_EIO, "EFI_END_OF_FILE"},
    {EFI_INVALID_LANGUAGE, EFISOCK_EINVAL, "EFI_INVALID_LANGUAGE"},
    {EFI_COMPROMISED_DATA, EFISOCK_EBADMSG, "EFI_COMPROMISED_DATA"},
    {EFI_IP_ADDRESS_CONFLICT, EFISOCK_EADDRINUSE, "EFI_IP_ADDRESS_CONFLICT"},
    {EFI_HTTP_ERROR, EFISOCK_EPROTO, "EFI_HTTP_ERROR"},
    {EFI_NETWORK_UNREACHABLE, EFISOCK_ENETUNREACH, "EFI_NETWORK_UNREACHABLE"},
    {EFI_HOST_UNREACHABLE, EFISOCK_EHOSTUNREACH, "EFI_HOST_UNREACHABLE"},
    {EFI_PROTOCOL_UNREACHABLE, EFISOCK_ENOPROTOOPT, "EFI_PROTOCOL_UNREACHABLE"},
    {EFI_PORT_UNREACHABLE, EFISOCK_ECONNREFUSED, "EFI_PORT_UNREACHABLE"},
    {EFI_CONNECTION_FIN, 0, "EFI_CONNECTION_FIN"},
    {EFI_CONNECTION_RESET, EFISOCK_ECONNRESET, "EFI_CONNECTION_RESET"},
    {EFI_CONNECTION_REFUSED, EFISOCK_ECONNREFUSED, "EFI_CONNECTION_REFUSED"},
};

int efisock_status_to_errno(EFI_STATUS s) {
  for (unsigned i = 0; i < EN_ARRAY_SIZE(status_table); i++)
    if (status_table[i].status == s) return status_table[i].err;
  return EFISOCK_EIO; /* a status the spec does not list for network protocols */
}

const char *efisock_status_name(EFI_STATUS s) {
  for (unsigned i = 0; i < EN_ARRAY_SIZE(status_table); i++)
    if (status_table[i].status == s) return status_table[i].name;
  return EFI_ERROR(s) ? "EFI_UNKNOWN_ERROR" : "EFI_WARNING";
}

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
  for (unsigned i = 0; i < EN_ARRAY_SIZE(errno_table); i++)
    if (errno_table[i].err == err) return errno_table[i].name;
  return "E?";
}

const char *efisock_strerror(int err) {
  for (unsigned i = 0; i < EN_ARRAY_SIZE(errno_table); i++)
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
