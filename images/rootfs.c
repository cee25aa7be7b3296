/* What a container's root filesystem needs of the image service: the
 * directories of an image's layers, for the overlay's lower dirs.  The
 * mount itself is oci/'s (oci/rootfs.h); the layer store stays internal
 * to images/. */
#include "images/service_internal.h"

int img_service_layer_dirs(struct img_service *svc, const char *const *chain_ids, size_t n,
                           char ***out, crio_error_t *err) {
  return img_layer_store_diff_dirs(svc->layers, chain_ids, n, out, err);
}
