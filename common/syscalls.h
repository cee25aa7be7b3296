/* common/syscalls.h: the raw system calls libc does not wrap (or wraps only
 * in newer versions), as thin inline wrappers in one place, each defining
 * its number where the headers are too old.  They return what the kernel
 * does (-1 with errno set; ENOSYS where the kernel lacks the call): what to
 * do without one is the caller's policy, since callers differ (a rootfs
 * lookup walks by hand instead of openat2; a layer unpack refuses what it
 * cannot do safely). */
#ifndef CRIO_COMMON_SYSCALLS_H
#define CRIO_COMMON_SYSCALLS_H

#include <errno.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* These numbers are the same on every architecture (the calls were added
 * after the syscall tables were unified). */
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* openat2(2) with `flags` and `resolve` (RESOLVE_*); Linux 5.6. */
static inline int crio_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {.flags = flags, .resolve = resolve};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* pidfd_open(2); Linux 5.3. */
static inline int crio_pidfd_open(pid_t pid, unsigned flags) {
  return (int)syscall(SYS_pidfd_open, pid, flags);
}

/* pidfd_send_signal(2) without siginfo; Linux 5.1. */
static inline int crio_pidfd_send_signal(int pidfd, int sig, unsigned flags) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, flags);
}

/* close_range(2); Linux 5.9 (CLOSE_RANGE_CLOEXEC 5.11). */
static inline int crio_close_range(unsigned first, unsigned last, unsigned flags) {
  return (int)syscall(SYS_close_range, first, last, flags);
}

#endif
