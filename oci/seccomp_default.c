/* The built-in RuntimeDefault seccomp profile.
 *
 * An allow-list: any syscall not named here fails with EPERM (runc's and
 * crun's errno when a rule gives none), which programs treat like any
 * other refusal.  It is close in spirit to Docker's and containerd's
 * default (the profile most images are tested against), grouped here by
 * what the calls are for, with these choices of our own:
 *
 *  - What only a capability makes useful is allowed only with it (mount
 *    with CAP_SYS_ADMIN, reboot with CAP_SYS_BOOT, ...): without the
 *    capability the kernel refuses anyway, and not exposing the code path
 *    at all is what the filter is for.
 *  - Without CAP_SYS_ADMIN, clone may not create namespaces (a masked
 *    argument check) and clone3, whose flags live in memory a filter
 *    cannot read, answers ENOSYS so that the C library falls back to
 *    clone instead of failing thread creation.
 *  - io_uring is left out: it reaches most of the kernel through one
 *    syscall, beyond the reach of this filter, and has been the source of
 *    many local privilege escalations (containerd and ChromeOS dropped it
 *    from their defaults for this reason).
 *  - socket(AF_VSOCK) is refused: vsock connects to the hypervisor and the
 *    host, which no network namespace isolates.
 *  - ptrace and process_vm_* are allowed: since Linux 4.8 seccomp is
 *    re-checked after a tracer changes a syscall, so tracing no longer
 *    bypasses the filter, and debuggers and profilers inside a container
 *    are common; the kernel's own ptrace checks apply.
 *
 * Syscalls are named for every architecture the filter covers: libseccomp
 * (in runc and crun) skips a name an architecture does not have (such as
 * the 32-bit *32 and *_time64 calls on x86_64 itself, or arch_prctl on
 * arm), so one list serves them all. */
#include <errno.h>
#include <linux/capability.h>
#include <string.h>

#include "oci/spec_internal.h"

#define NONE (-1)

struct syscall_group {
  int cap;                  /* allowed only with this capability (or NONE) */
  const char *const *names; /* NULL-terminated */
};

static const char *const process_calls[] = {
    "exit", "exit_group", "fork", "vfork", "execve", "execveat", "wait4", "waitid", "waitpid",
    "kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "set_tid_address", "set_robust_list",
    "get_robust_list", "rseq", "restart_syscall", "prctl", "arch_prctl", "get_thread_area",
    "set_thread_area", "setsid", "getsid", "setpgid", "getpgid", "getpgrp", "pidfd_open",
    "pidfd_send_signal", "capget", "capset", "umask", "ptrace", "process_vm_readv",
    "process_vm_writev",
    /* x86 only: 16-bit segments for Wine and old runtimes. */
    "modify_ldt", NULL};

/* Changing credentials is checked by the kernel against the process's
 * capabilities (SETUID/SETGID), which is the control that matters. */
static const char *const credential_calls[] = {
    "getuid",    "getuid32",    "geteuid",   "geteuid32",   "getgid",    "getgid32",
    "getegid",   "getegid32",   "getresuid", "getresuid32", "getresgid", "getresgid32",
    "getgroups", "getgroups32", "setuid",    "setuid32",    "setgid",    "setgid32",
    "setreuid",  "setreuid32",  "setregid",  "setregid32",  "setresuid", "setresuid32",
    "setresgid", "setresgid32", "setfsuid",  "setfsuid32",  "setfsgid",  "setfsgid32",
    "setgroups", "setgroups32", NULL};

static const char *const signal_calls[] = {"rt_sigaction",
                                           "rt_sigprocmask",
                                           "rt_sigreturn",
                                           "rt_sigpending",
                                           "rt_sigsuspend",
                                           "rt_sigtimedwait",
                                           "rt_sigtimedwait_time64",
                                           "rt_sigqueueinfo",
                                           "rt_tgsigqueueinfo",
                                           "sigaltstack",
                                           "sigreturn",
                                           "sigprocmask",
                                           "signalfd",
                                           "signalfd4",
                                           "pause",
                                           "alarm",
                                           NULL};

static const char *const memory_calls[] = {"brk",
                                           "mmap",
                                           "mmap2",
                                           "munmap",
                                           "mremap",
                                           "mprotect",
                                           "madvise",
                                           "mincore",
                                           "msync",
                                           "mlock",
                                           "mlock2",
                                           "mlockall",
                                           "munlock",
                                           "munlockall",
                                           "membarrier",
                                           "memfd_create",
                                           "memfd_secret",
                                           "pkey_alloc",
                                           "pkey_free",
                                           "pkey_mprotect",
                                           "remap_file_pages",
                                           "process_mrelease",
                                           NULL};

static const char *const file_calls[] = {
    "open", "openat", "openat2", "creat", "close", "close_range", "read", "write", "readv",
    "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2", "lseek", "_llseek",
    "dup", "dup2", "dup3", "fcntl", "fcntl64", "flock", "fsync", "fdatasync", "sync", "syncfs",
    "sync_file_range", "fallocate", "ftruncate", "ftruncate64", "truncate", "truncate64",
    "fadvise64", "fadvise64_64", "readahead", "sendfile", "sendfile64", "splice", "tee", "vmsplice",
    "copy_file_range", "ioctl", "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64",
    "newfstatat", "fstatat64", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "access",
    "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "mkdir", "mkdirat",
    /* Device nodes still need CAP_MKNOD and the device cgroup. */
    "mknod", "mknodat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat", "symlink",
    "symlinkat", "unlink", "unlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat",
    "chown", "chown32", "fchown", "fchown32", "lchown", "lchown32", "fchownat", "utime", "utimes",
    "utimensat", "utimensat_time64", "futimesat", "getdents", "getdents64", "getxattr", "lgetxattr",
    "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr", "llistxattr", "flistxattr",
    "removexattr", "lremovexattr", "fremovexattr",
    /* Harmless alone: opening a handle needs open_by_handle_at (below). */
    "name_to_handle_at", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    "fanotify_mark", "pipe", "pipe2", NULL};

static const char *const event_calls[] = {"select",
                                          "_newselect",
                                          "pselect6",
                                          "pselect6_time64",
                                          "poll",
                                          "ppoll",
                                          "ppoll_time64",
                                          "epoll_create",
                                          "epoll_create1",
                                          "epoll_ctl",
                                          "epoll_ctl_old",
                                          "epoll_wait",
                                          "epoll_wait_old",
                                          "epoll_pwait",
                                          "epoll_pwait2",
                                          "eventfd",
                                          "eventfd2",
                                          "timerfd_create",
                                          "timerfd_settime",
                                          "timerfd_settime64",
                                          "timerfd_gettime",
                                          "timerfd_gettime64",
                                          "futex",
                                          "futex_time64",
                                          "futex_waitv",
                                          "io_setup",
                                          "io_destroy",
                                          "io_submit",
                                          "io_cancel",
                                          "io_getevents",
                                          "io_pgetevents",
                                          "io_pgetevents_time64",
                                          NULL};

/* adjtimex and clock_adjtime only read unless CAP_SYS_TIME is held. */
static const char *const time_calls[] = {"time",
                                         "gettimeofday",
                                         "clock_gettime",
                                         "clock_gettime64",
                                         "clock_getres",
                                         "clock_getres_time64",
                                         "clock_nanosleep",
                                         "clock_nanosleep_time64",
                                         "nanosleep",
                                         "adjtimex",
                                         "clock_adjtime",
                                         "clock_adjtime64",
                                         "getitimer",
                                         "setitimer",
                                         "timer_create",
                                         "timer_delete",
                                         "timer_settime",
                                         "timer_settime64",
                                         "timer_gettime",
                                         "timer_gettime64",
                                         "timer_getoverrun",
                                         "times",
                                         NULL};

static const char *const sched_calls[] = {"sched_getaffinity",
                                          "sched_setaffinity",
                                          "sched_getattr",
                                          "sched_setattr",
                                          "sched_getparam",
                                          "sched_setparam",
                                          "sched_getscheduler",
                                          "sched_setscheduler",
                                          "sched_get_priority_max",
                                          "sched_get_priority_min",
                                          "sched_rr_get_interval",
                                          "sched_rr_get_interval_time64",
                                          "sched_yield",
                                          "getpriority",
                                          "setpriority",
                                          "ioprio_get",
                                          "ioprio_set",
                                          "getrlimit",
                                          "ugetrlimit",
                                          "setrlimit",
                                          "prlimit64",
                                          "getrusage",
                                          "getcpu",
                                          "sysinfo",
                                          "uname",
                                          "getrandom",
                                          NULL};

/* socket() itself is allowed by an argument rule (no AF_VSOCK); socketcall
 * is 32-bit x86's multiplexer, whose arguments a filter cannot see. */
static const char *const network_calls[] = {
    "socketpair", "socketcall",      "bind",        "connect",    "listen",     "accept",
    "accept4",    "getsockname",     "getpeername", "getsockopt", "setsockopt", "send",
    "sendto",     "sendmsg",         "sendmmsg",    "recv",       "recvfrom",   "recvmsg",
    "recvmmsg",   "recvmmsg_time64", "shutdown",    NULL};

/* System V and POSIX IPC stay inside the IPC namespace. */
static const char *const ipc_calls[] = {"ipc",
                                        "msgctl",
                                        "msgget",
                                        "msgrcv",
                                        "msgsnd",
                                        "semctl",
                                        "semget",
                                        "semop",
                                        "semtimedop",
                                        "semtimedop_time64",
                                        "shmat",
                                        "shmctl",
                                        "shmdt",
                                        "shmget",
                                        "mq_open",
                                        "mq_unlink",
                                        "mq_timedsend",
                                        "mq_timedsend_time64",
                                        "mq_timedreceive",
                                        "mq_timedreceive_time64",
                                        "mq_notify",
                                        "mq_getsetattr",
                                        NULL};

/* A program may confine itself further. */
static const char *const self_sandbox_calls[] = {
    "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", NULL};

/* 32-bit ARM's private calls (cache maintenance for JITs, TLS). */
static const char *const arm_calls[] = {"arm_fadvise64_64",
                                        "arm_sync_file_range",
                                        "sync_file_range2",
                                        "breakpoint",
                                        "cacheflush",
                                        "set_tls",
                                        NULL};

static const char *const sys_admin_calls[] = {"bpf",           "clone",           "clone3",
                                              "fanotify_init", "fsconfig",        "fsmount",
                                              "fsopen",        "fspick",          "lookup_dcookie",
                                              "mount",         "mount_setattr",   "move_mount",
                                              "open_tree",     "perf_event_open", "quotactl",
                                              "quotactl_fd",   "setdomainname",   "sethostname",
                                              "setns",         "syslog",          "umount",
                                              "umount2",       "unshare",         NULL};
static const char *const dac_read_search_calls[] = {"open_by_handle_at", NULL};
static const char *const sys_boot_calls[] = {"reboot", NULL};
static const char *const sys_chroot_calls[] = {"chroot", NULL};
static const char *const sys_module_calls[] = {"delete_module", "init_module", "finit_module",
                                               NULL};
static const char *const sys_pacct_calls[] = {"acct", NULL};
static const char *const sys_ptrace_calls[] = {"kcmp", "pidfd_getfd", "process_madvise", NULL};
static const char *const sys_rawio_calls[] = {"iopl", "ioperm", NULL};
static const char *const sys_time_calls[] = {"settimeofday", "stime", "clock_settime",
                                             "clock_settime64", NULL};
static const char *const sys_tty_config_calls[] = {"vhangup", NULL};
static const char *const sys_nice_calls[] = {"get_mempolicy", "mbind", "set_mempolicy",
                                             "set_mempolicy_home_node", NULL};
static const char *const syslog_calls[] = {"syslog", NULL};
static const char *const bpf_calls[] = {"bpf", NULL};
static const char *const perfmon_calls[] = {"perf_event_open", NULL};

static const struct syscall_group groups[] = {
    {NONE, process_calls},
    {NONE, credential_calls},
    {NONE, signal_calls},
    {NONE, memory_calls},
    {NONE, file_calls},
    {NONE, event_calls},
    {NONE, time_calls},
    {NONE, sched_calls},
    {NONE, network_calls},
    {NONE, ipc_calls},
    {NONE, self_sandbox_calls},
    {NONE, arm_calls},
    {CAP_SYS_ADMIN, sys_admin_calls},
    {CAP_DAC_READ_SEARCH, dac_read_search_calls},
    {CAP_SYS_BOOT, sys_boot_calls},
    {CAP_SYS_CHROOT, sys_chroot_calls},
    {CAP_SYS_MODULE, sys_module_calls},
    {CAP_SYS_PACCT, sys_pacct_calls},
    {CAP_SYS_PTRACE, sys_ptrace_calls},
    {CAP_SYS_RAWIO, sys_rawio_calls},
    {CAP_SYS_TIME, sys_time_calls},
    {CAP_SYS_TTY_CONFIG, sys_tty_config_calls},
    {CAP_SYS_NICE, sys_nice_calls},
    {CAP_SYSLOG, syslog_calls},
    {CAP_BPF, bpf_calls},
    {CAP_PERFMON, perfmon_calls},
};
#define N_GROUPS (sizeof(groups) / sizeof(groups[0]))

/* Flags of clone that create namespaces: CLONE_NEWNS | CLONE_NEWCGROUP |
 * CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
 * CLONE_NEWNET. */
#define CLONE_NAMESPACE_FLAGS 0x7E020000ULL
#define AF_VSOCK_FAMILY 40
/* personality(2) values programs use: PER_LINUX, PER_LINUX32 (32-bit uname),
 * UNAME26, PER_LINUX32|UNAME26, and 0xffffffff (query only).  Others turn
 * on behaviours such as READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE. */
static const uint64_t personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

const char *const *spec_seccomp_arches(size_t *n) {
#if defined(__x86_64__)
  static const char *const arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
#elif defined(__aarch64__)
  static const char *const arches[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
#elif defined(__i386__)
  static const char *const arches[] = {"SCMP_ARCH_X86"};
#elif defined(__arm__)
  static const char *const arches[] = {"SCMP_ARCH_ARM"};
#else
#error "no seccomp architectures for this machine: add them here"
#endif
  *n = sizeof(arches) / sizeof(arches[0]);
  return arches;
}

const char *spec_seccomp_default_name(size_t i) {
  for (size_t g = 0; g < N_GROUPS; g++)
    for (const char *const *p = groups[g].names; *p; p++)
      if (i-- == 0)
        return *p;
  return NULL;
}

static bool array_has_string(const cJSON *arr, const char *s) {
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
      return true;
  }
  return false;
}

static cJSON *rule(const char *name, const char *action) {
  cJSON *r = cJSON_CreateObject();
  cJSON *names = cJSON_AddArrayToObject(r, "names");
  cJSON_AddItemToArray(names, cJSON_CreateString(name));
  cJSON_AddStringToObject(r, "action", action);
  return r;
}

static void add_arg(cJSON *r, unsigned index, uint64_t value, const char *op) {
  cJSON *args = cJSON_GetObjectItemCaseSensitive(r, "args");
  if (args == NULL)
    args = cJSON_AddArrayToObject(r, "args");
  cJSON *a = cJSON_CreateObject();
  cJSON_AddNumberToObject(a, "index", index);
  cJSON_AddItemToObject(a, "value", spec_json_uint(value));
  cJSON_AddStringToObject(a, "op", op);
  cJSON_AddItemToArray(args, a);
}

void oci_seccomp_default_profile(uint64_t caps, cJSON **out) {
  cJSON *profile = cJSON_CreateObject();
  cJSON_AddStringToObject(profile, "defaultAction", "SCMP_ACT_ERRNO");
  size_t n_arches;
  const char *const *arches = spec_seccomp_arches(&n_arches);
  cJSON_AddItemToObject(profile, "architectures", spec_json_strv(arches, n_arches));
  cJSON *syscalls = cJSON_AddArrayToObject(profile, "syscalls");

  /* One rule allows every name without conditions.  Names are unique
   * among the unconditional groups; a capability group may repeat one
   * (syslog, bpf, perf_event_open), listed once. */
  cJSON *allow = cJSON_CreateObject();
  cJSON *names = cJSON_AddArrayToObject(allow, "names");
  cJSON_AddStringToObject(allow, "action", "SCMP_ACT_ALLOW");
  cJSON_AddItemToArray(syscalls, allow);
  for (size_t g = 0; g < N_GROUPS; g++) {
    if (groups[g].cap != NONE && !(caps & (1ULL << groups[g].cap)))
      continue;
    for (const char *const *p = groups[g].names; *p; p++)
      if (groups[g].cap == NONE || !array_has_string(names, *p))
        cJSON_AddItemToArray(names, cJSON_CreateString(*p));
  }

  cJSON *r = rule("socket", "SCMP_ACT_ALLOW");
  add_arg(r, 0, AF_VSOCK_FAMILY, "SCMP_CMP_NE");
  cJSON_AddItemToArray(syscalls, r);
  /* One rule per value: conditions within a rule are ANDed. */
  for (size_t i = 0; i < sizeof(personalities) / sizeof(personalities[0]); i++) {
    r = rule("personality", "SCMP_ACT_ALLOW");
    add_arg(r, 0, personalities[i], "SCMP_CMP_EQ");
    cJSON_AddItemToArray(syscalls, r);
  }
  if (!(caps & (1ULL << CAP_SYS_ADMIN))) {
    /* MASKED_EQ: (flags & value) == valueTwo (0). */
    r = rule("clone", "SCMP_ACT_ALLOW");
    add_arg(r, 0, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ");
    cJSON_AddItemToArray(syscalls, r);
    r = rule("clone3", "SCMP_ACT_ERRNO");
    cJSON_AddNumberToObject(r, "errnoRet", ENOSYS);
    cJSON_AddItemToArray(syscalls, r);
  }
  *out = profile;
}
