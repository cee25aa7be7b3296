/* conmon's attach socket, <bundle>/attach (conmon's conn_sock.c): a
 * SOCK_SEQPACKET unix socket conmon listens on for as long as it watches
 * the container.  What the container writes arrives as packets of at most
 * 8193 bytes whose first byte names the pipe (2 stdout, 3 stderr; with a
 * terminal everything is stdout); what is written to the socket goes to
 * the container's stdin (when it was created with stdin).  A shutdown of
 * our write side makes conmon close the container's stdin, unless conmon
 * runs with --leave-stdin-open (a container without stdin_once).  When
 * conmon exits, the socket reports EOF.
 *
 * The bundle path may be longer than a sockaddr_un holds: the socket is
 * reached through /proc/self/fd/<bundle dir fd>/attach, as conmon binds
 * it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "oci/runtime_internal.h"

int oci_conmon_attach_connect(const char *bundle, int *fd_out, crio_error_t *err) {
  cleanup_close int dir_fd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return crio_error_errno(err, errno, "open %s", bundle);
  cleanup_close int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return crio_error_errno(err, errno, "attach socket");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/" OCI_CONMON_ATTACH, dir_fd);
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    if (errno == ENOENT || errno == ECONNREFUSED)
      return crio_error(err, EBUSY, "conmon is not running (no attach socket in %s)", bundle);
    return crio_error_errno(err, errno, "connect to %s/" OCI_CONMON_ATTACH, bundle);
  }
  *fd_out = steal_fd(&fd);
  return 0;
}
