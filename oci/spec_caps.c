/* Capability names as the OCI spec spells them, and CRI-O's default set. */
#include <linux/capability.h>
#include <strings.h>

#include "oci/spec_internal.h"

_Static_assert(CAP_LAST_CAP >= SPEC_CAP_LAST, "kernel headers older than the table");

static const char *const cap_names[SPEC_CAP_LAST + 1] = {
    [CAP_CHOWN] = "CAP_CHOWN",
    [CAP_DAC_OVERRIDE] = "CAP_DAC_OVERRIDE",
    [CAP_DAC_READ_SEARCH] = "CAP_DAC_READ_SEARCH",
    [CAP_FOWNER] = "CAP_FOWNER",
    [CAP_FSETID] = "CAP_FSETID",
    [CAP_KILL] = "CAP_KILL",
    [CAP_SETGID] = "CAP_SETGID",
    [CAP_SETUID] = "CAP_SETUID",
    [CAP_SETPCAP] = "CAP_SETPCAP",
    [CAP_LINUX_IMMUTABLE] = "CAP_LINUX_IMMUTABLE",
    [CAP_NET_BIND_SERVICE] = "CAP_NET_BIND_SERVICE",
    [CAP_NET_BROADCAST] = "CAP_NET_BROADCAST",
    [CAP_NET_ADMIN] = "CAP_NET_ADMIN",
    [CAP_NET_RAW] = "CAP_NET_RAW",
    [CAP_IPC_LOCK] = "CAP_IPC_LOCK",
    [CAP_IPC_OWNER] = "CAP_IPC_OWNER",
    [CAP_SYS_MODULE] = "CAP_SYS_MODULE",
    [CAP_SYS_RAWIO] = "CAP_SYS_RAWIO",
    [CAP_SYS_CHROOT] = "CAP_SYS_CHROOT",
    [CAP_SYS_PTRACE] = "CAP_SYS_PTRACE",
    [CAP_SYS_PACCT] = "CAP_SYS_PACCT",
    [CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
    [CAP_SYS_BOOT] = "CAP_SYS_BOOT",
    [CAP_SYS_NICE] = "CAP_SYS_NICE",
    [CAP_SYS_RESOURCE] = "CAP_SYS_RESOURCE",
    [CAP_SYS_TIME] = "CAP_SYS_TIME",
    [CAP_SYS_TTY_CONFIG] = "CAP_SYS_TTY_CONFIG",
    [CAP_MKNOD] = "CAP_MKNOD",
    [CAP_LEASE] = "CAP_LEASE",
    [CAP_AUDIT_WRITE] = "CAP_AUDIT_WRITE",
    [CAP_AUDIT_CONTROL] = "CAP_AUDIT_CONTROL",
    [CAP_SETFCAP] = "CAP_SETFCAP",
    [CAP_MAC_OVERRIDE] = "CAP_MAC_OVERRIDE",
    [CAP_MAC_ADMIN] = "CAP_MAC_ADMIN",
    [CAP_SYSLOG] = "CAP_SYSLOG",
    [CAP_WAKE_ALARM] = "CAP_WAKE_ALARM",
    [CAP_BLOCK_SUSPEND] = "CAP_BLOCK_SUSPEND",
    [CAP_AUDIT_READ] = "CAP_AUDIT_READ",
    [CAP_PERFMON] = "CAP_PERFMON",
    [CAP_BPF] = "CAP_BPF",
    [CAP_CHECKPOINT_RESTORE] = "CAP_CHECKPOINT_RESTORE",
};

int spec_cap_from_name(const char *name) {
  if (name == NULL)
    return -1;
  /* The kubelet passes Kubernetes' spelling ("NET_ADMIN"); the OCI spec's
   * ("CAP_NET_ADMIN") and any case are accepted too, as CRI-O does. */
  if (strncasecmp(name, "CAP_", 4) == 0)
    name += 4;
  for (int i = 0; i <= SPEC_CAP_LAST; i++)
    if (strcasecmp(name, cap_names[i] + 4) == 0)
      return i;
  return -1;
}

const char *spec_cap_name(int cap) {
  return cap >= 0 && cap <= SPEC_CAP_LAST ? cap_names[cap] : NULL;
}

uint64_t spec_caps_default(void) {
  /* CRI-O's default_capabilities: what most images need to start as root
   * (chown files, switch user, bind low ports, signal their children),
   * nothing that reaches the kernel's or other tenants' state.  Docker's
   * set less NET_RAW, MKNOD, SYS_CHROOT, AUDIT_WRITE and SETFCAP. */
  static const int defaults[] = {CAP_CHOWN,   CAP_DAC_OVERRIDE,     CAP_FSETID,
                                 CAP_FOWNER,  CAP_SETGID,           CAP_SETUID,
                                 CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_KILL};
  uint64_t caps = 0;
  for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
    caps |= 1ULL << defaults[i];
  return caps;
}

cJSON *spec_caps_json(uint64_t caps) {
  cJSON *arr = cJSON_CreateArray();
  for (int i = 0; i <= SPEC_CAP_LAST; i++)
    if (caps & (1ULL << i))
      cJSON_AddItemToArray(arr, cJSON_CreateString(cap_names[i]));
  return arr;
}
