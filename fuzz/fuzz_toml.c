/* The TOML reader and the two files read with it: the first byte picks
 * raw TOML (parsed, then every value walked through the typed getters),
 * containers-registries.conf (img_registries_conf_parse, then the sources
 * a reference would be pulled from), or crio.conf (the daemon's own loader,
 * daemon_config_load with --config, which reads and does nothing else). */
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "fuzz/fuzz.h"
#include "images/registry.h"
#include "toml/toml.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet_logs();
  return 0;
}

static void walk(const struct toml_value *v, int depth) {
  FUZZ_ASSERT(depth < 10000);
  cleanup_free char *path = toml_value_path(v);
  FUZZ_ASSERT(path != NULL);
  FUZZ_ASSERT(toml_type_name(v->type) != NULL);
  crio_error_t err = NULL;
  const char *s;
  bool b;
  int64_t i;
  double d;
  char **strv = NULL;
  switch (v->type) {
  case TOML_TABLE:
    for (size_t k = 0; k < toml_table_count(v); k++) {
      const char *key = toml_table_key(v, k);
      FUZZ_ASSERT(key != NULL);
      FUZZ_ASSERT(toml_get(v, key) != NULL);
      walk(toml_table_value(v, k), depth + 1);
    }
    break;
  case TOML_ARRAY:
    for (size_t k = 0; k < toml_array_count(v); k++)
      walk(toml_array_item(v, k), depth + 1);
    if (toml_as_string_array(v, &strv, &err) == 0)
      cleanup_strvp(&strv);
    break;
  case TOML_STRING:
    FUZZ_ASSERT(toml_as_string(v, &s, &err) == 0 && s != NULL);
    break;
  case TOML_BOOL:
    FUZZ_ASSERT(toml_as_bool(v, &b, &err) == 0);
    break;
  case TOML_INTEGER:
    FUZZ_ASSERT(toml_as_int64(v, &i, &err) == 0);
    break;
  case TOML_FLOAT:
    FUZZ_ASSERT(toml_as_double(v, &d, &err) == 0);
    break;
  case TOML_DATETIME:
    break;
  }
  crio_error_release(&err);
}

static void fuzz_raw(const char *text, size_t len) {
  struct toml_value *root = NULL;
  cleanup_error crio_error_t err = NULL;
  if (toml_parse(text, len, "fuzz.toml", &root, &err) < 0) {
    FUZZ_ASSERT(root == NULL && *crio_error_message(&err));
    return;
  }
  FUZZ_ASSERT(root && root->type == TOML_TABLE);
  walk(root, 0);
  toml_get_path(root, "registry.mirror.location");
  toml_get_path(root, "crio.runtime.runtimes.runc");
  toml_free(root);
}

static void fuzz_registries(const char *text, size_t len) {
  cleanup_img_registries_conf struct img_registries_conf *conf = NULL;
  cleanup_error crio_error_t err = NULL;
  if (img_registries_conf_parse(text, len, "registries.conf", &conf, &err) < 0)
    return;
  static const char *const refs[] = {"busybox", "quay.io/a/b:1",
                                     "localhost:5000/x@sha256:"
                                     "0123456789abcdef0123456789abcdef"
                                     "0123456789abcdef0123456789abcdef",
                                     "example.com/foo/bar"};
  for (size_t r = 0; r < sizeof(refs) / sizeof(*refs); r++) {
    cleanup_img_reference struct img_reference ref = {0};
    cleanup_error crio_error_t rerr = NULL;
    FUZZ_ASSERT(img_reference_parse(refs[r], &ref, &rerr) == 0);
    struct img_reference *cands = NULL;
    size_t n = 0;
    cleanup_error crio_error_t cerr = NULL;
    if (img_registries_short_name_candidates(conf, &ref, &cands, &n, &cerr) < 0)
      continue;
    for (size_t c = 0; c < n; c++) {
      struct img_pull_source *sources = NULL;
      size_t ns = 0;
      cleanup_error crio_error_t serr = NULL;
      if (img_registries_pull_sources(conf, &cands[c], &sources, &ns, &serr) == 0) {
        for (size_t s = 0; s < ns; s++)
          FUZZ_ASSERT(sources[s].host && sources[s].repository);
        img_pull_sources_free(sources, ns);
      }
    }
    img_references_free(cands, n);
  }
}

static void fuzz_crio_conf(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fuzz_memfd(data, size, path);
  /* -d "": never the host's drop-in dir. */
  char *argv[] = {"crio", "--config", path, "-d", "", NULL};
  struct daemon_config cfg;
  struct daemon_invocation inv;
  cleanup_error crio_error_t err = NULL;
  daemon_config_load(5, argv, &cfg, &inv, &err);
  daemon_config_release(&cfg);
  daemon_invocation_release(&inv);
  close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  cleanup_free char *text = fuzz_cstring(data + 1, size - 1);
  switch (data[0] % 3) {
  case 0:
    fuzz_raw(text, size - 1);
    break;
  case 1:
    fuzz_registries(text, size - 1);
    break;
  case 2:
    fuzz_crio_conf(data + 1, size - 1);
    break;
  }
  return 0;
}
