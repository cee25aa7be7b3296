#include <errno.h>

#include "cri/internal.h"

/* One place maps our errno-like statuses to gRPC codes; the kubelet reacts
 * to the code (e.g. NOT_FOUND on a stop of a removed container is fine). */
grpc_status_code cri_status_from_errno(int status) {
  switch (status) {
  case 0:
    return GRPC_STATUS_OK;
  case EINVAL:
  case EBADMSG:
  case E2BIG:
  case ENAMETOOLONG:
    return GRPC_STATUS_INVALID_ARGUMENT;
  case ENOENT:
  case ESRCH:
    return GRPC_STATUS_NOT_FOUND;
  case EEXIST:
    return GRPC_STATUS_ALREADY_EXISTS;
  case EPERM:
  case EACCES:
    return GRPC_STATUS_PERMISSION_DENIED;
  case EBUSY:
  case ENOTEMPTY:
    return GRPC_STATUS_FAILED_PRECONDITION;
  case ETIMEDOUT:
    return GRPC_STATUS_DEADLINE_EXCEEDED;
  case ECANCELED:
    return GRPC_STATUS_CANCELLED;
  case ENOSYS:
  case EOPNOTSUPP:
    return GRPC_STATUS_UNIMPLEMENTED;
  case ENOSPC:
  case ENOMEM:
  case EAGAIN:
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
  case ERANGE:
    return GRPC_STATUS_OUT_OF_RANGE;
  case ECONNREFUSED:
  case EHOSTUNREACH:
    return GRPC_STATUS_UNAVAILABLE;
  default:
    return GRPC_STATUS_INTERNAL;
  }
}
