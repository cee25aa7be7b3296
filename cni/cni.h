/* cni/: CNI network configuration and plugin execution.  So far: finding
 * and validating the network configuration the daemon would use, which is
 * what Status' NetworkReady reports.  Plugin execution (ADD, DEL, CHECK)
 * comes with pod networking. */
#ifndef CRIO_CNI_H
#define CRIO_CNI_H

#include "common/common.h"

struct cni_network {
  char *name;        /* the network's "name" */
  char *cni_version; /* "cniVersion" */
  char *path;        /* file it came from */
  char *conflist;    /* the configuration list as JSON (a lone .conf is
                        wrapped into a list, as libcni does) */
};

/* Loads the first valid network configuration of `config_dir` in lexical
 * file order (*.conflist, *.conf, *.json, as libcni), and checks that the
 * binary of every plugin it names exists in one of `plugin_dirs`
 * (NULL-terminated).  ENOENT when there is none, EINVAL when the first
 * candidate is unusable — with a message saying why, for NetworkReady. */
int cni_network_load(const char *config_dir, const char *const *plugin_dirs,
                     struct cni_network *out, crio_error_t *err);
void cni_network_release(struct cni_network *net);

#endif
