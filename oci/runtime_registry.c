/* The runtimes a handler may name (its runtime_type): a table of tables,
 * apart from the code they share so that neither depends on the other. */
#include <errno.h>
#include <string.h>

#include "oci/runtime_internal.h"

const struct oci_runtime_ops *oci_runtime_ops_get(const char *name, crio_error_t *err) {
  static const struct oci_runtime_ops *const all[] = {&oci_runtime_runc, &oci_runtime_crun,
                                                      &oci_runtime_runsc};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    if (name && strcmp(name, all[i]->name) == 0)
      return all[i];
  crio_error(err, EINVAL, "unknown runtime type \"%s\" (known: runc, crun, runsc)",
             name ? name : "");
  return NULL;
}
