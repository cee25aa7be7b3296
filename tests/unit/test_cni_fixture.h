/* Helpers for the cni/ unit tests: temporary dirs and files, commands,
 * test-owned network namespaces, and removing iptables state that plugins
 * left for a container id. */
#ifndef CRIO_TEST_CNI_FIXTURE_H
#define CRIO_TEST_CNI_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

/* A fresh directory under /tmp; the caller removes it with tfx_rm_rf. */
char *tfx_mkdtemp(const char *prefix);
void tfx_rm_rf(const char *path);
/* mode 0: leave the mode alone (/proc/sys files). */
void tfx_write(const char *path, const char *text, mode_t mode);
/* Whole file, or NULL when it cannot be read. */
char *tfx_read(const char *path);
bool tfx_exists(const char *path);
/* Runs a command line through /bin/sh, output to stderr; returns the exit
 * status (test code only; the library never uses a shell). */
int tfx_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Output of a command line (malloc'd). */
char *tfx_sh_output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Lowercase hex of n random bytes. */
void tfx_random_hex(char *out, size_t n_bytes);

/* A new network namespace pinned by a bind mount on `path` (a file the
 * call creates). */
void tfx_netns_create(const char *path);
/* Unmounts and removes the pin; the namespace dies with its last user. */
void tfx_netns_delete(const char *path);
/* Runs fn(arg) on a thread inside the netns at `path`; returns fn's value. */
int tfx_in_netns(const char *path, int (*fn)(void *), void *arg);

/* ICMP echo from inside the current thread's netns to `ipv4`: how many of
 * `count` got a reply. */
int tfx_ping(const char *ipv4, int count);

/* Deletes every iptables/ip6tables nat and filter rule mentioning
 * `marker` and the chains those rules jump to (a safety net after a
 * failed test; DEL should have done it). */
void tfx_iptables_purge(const char *marker);
/* portmap's shared chains (CNI-HOSTPORT-*) and the jumps to them: true
 * when they exist.  tfx_portmap_shared_remove() removes them unless some
 * container still has a DNAT rule there (they outlive every DEL). */
bool tfx_portmap_shared_exists(void);
void tfx_portmap_shared_remove(void);
/* Number of iptables-save lines (v4 and v6, all tables) containing
 * `marker`. */
int tfx_iptables_count(const char *marker);

#endif
