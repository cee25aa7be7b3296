/* oci/rootfs.h: a container's root filesystem — an overlay mount of the
 * image's layers (read-only lower dirs) with a writable upper dir of the
 * container's own.  A sub-interface of oci/, like spec.h and runtime.h.
 *
 * Layout of a container dir (the caller names it; crio uses
 * <root>/containers/<id>):
 *   upper/   the container's writes
 *   work/    overlayfs's work dir (same filesystem as upper/)
 *   l/<n>    short symlinks to the lower dirs, n = 0 for the bottom layer
 *   merged/  the usual mount point
 * Mount options are limited to a page (4 KiB); absolute layer paths of
 * ~90 bytes would cap an image at ~40 layers.  The mount is therefore
 * made by a thread that unshare(CLONE_FS)s and chdir()s into the
 * container dir and names every dir relatively ("l/12"): about 500
 * layers fit, overlayfs's own limit.  The thread shares the daemon's
 * mount namespace, so the mount lands where the runtime sees it. */
#ifndef CRIO_OCI_ROOTFS_H
#define CRIO_OCI_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

struct oci_rootfs {
  const char *const *lower_dirs; /* absolute, bottom first; may be empty */
  size_t n_lower;
  const char *container_dir; /* absolute; created (0700) */
  const char *merged;        /* absolute mount point; created */
};

/* Makes the dirs and links and mounts the overlay on fs->merged.  Safe to
 * repeat: a merged dir that is already a mount point is left as it is.
 * An image without layers gets an empty lower dir (l/empty). */
int oci_rootfs_mount(const struct oci_rootfs *fs, crio_error_t *err);

/* 1 if path is a mount point, 0 if not (or absent), -1 on error. */
int oci_rootfs_is_mounted(const char *path, crio_error_t *err);

/* Unmounts path; EBUSY falls back to a lazy unmount (MNT_DETACH), as a
 * process that still holds a file in it must not block removal.  Not a
 * mount point or absent is success. */
int oci_rootfs_unmount(const char *path, crio_error_t *err);

/* rm -rf of a directory the daemon made (a container dir, a bundle):
 * never follows a symlink and never crosses into another filesystem (a
 * mount left inside fails the removal instead of emptying the mount).
 * Absent is success. */
int oci_remove_tree(const char *path, crio_error_t *err);

/* What a container's writable layer holds (rootfs_usage.c, read-only, for
 * ContainerStats): bytes (allocated blocks) and inodes under the upper dir,
 * walked with lstat of every entry, never following a link or crossing into
 * another filesystem, with a budget (200,000 entries, depth 128): a
 * container that wrote millions of files must not stall a stats call for
 * seconds.  Past the budget the sum so far is reported, a lower bound, and
 * `partial` says so.  (Where the upper dir is its own filesystem, a quota'd
 * volume, statfs would answer at once; here it shares the daemon's root, so
 * only a walk can tell the container's share.) */
struct oci_layer_usage {
  uint64_t bytes, inodes;
  unsigned entries;
  bool partial;
};
int oci_rootfs_upper_usage(const char *upper_dir, struct oci_layer_usage *out, crio_error_t *err);

/* The same for the stats calls, with each upper dir walked at most every
 * OCI_LAYER_SAMPLE_MAX_AGE_S seconds: a walk costs a few syscalls per file
 * the container wrote, against a few preads for its CPU and memory, and
 * disk usage is a slow-moving figure (cadvisor refreshes it every minute).
 * `sampled_ns` says when (CLOCK_REALTIME) the reported walk ran.
 * Thread-safe; one per daemon. */
#define OCI_LAYER_SAMPLE_MAX_AGE_S 10
struct oci_layer_sampler;
struct oci_layer_sampler *oci_layer_sampler_new(void);
void oci_layer_sampler_free(struct oci_layer_sampler *s);
int oci_layer_sample(struct oci_layer_sampler *s, const char *upper_dir,
                     struct oci_layer_usage *out, int64_t *sampled_ns, crio_error_t *err);

#endif
