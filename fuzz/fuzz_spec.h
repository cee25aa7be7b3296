/* What the targets that build OCI specs share (fuzz_spec.c): a host with
 * fixed facts, and a fresh root filesystem with /etc/passwd and /etc/group
 * beside an "outside" directory that nothing may touch. */
#ifndef CRIO_FUZZ_SPEC_H
#define CRIO_FUZZ_SPEC_H

#include "api/api.pb-c.h"
#include "oci/oci.h"

/* The same facts on every machine, so an input behaves the same here and
 * where it is replayed. */
const struct oci_spec_host *fuzz_spec_host(void);

/* A pod config with metadata and a hostname, as a valid RunPodSandbox has. */
Runtime__V1__PodSandboxConfig *fuzz_spec_default_pod(void);

/* Makes <workdir>/rootfs afresh (etc/passwd, etc/group) and an empty
 * <workdir>/outside; returns the rootfs path. */
const char *fuzz_rootfs_reset(void);
/* Aborts unless <workdir> holds only rootfs and outside, and outside is
 * still empty: nothing was written outside the root. */
void fuzz_rootfs_check_contained(void);

#endif
