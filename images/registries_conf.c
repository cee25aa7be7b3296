/* containers-registries.conf(5), version 2: short-name search list,
 * [[registry]] prefix/location/insecure/blocked and its mirrors.  Read with
 * toml/; matched the way containers/image matches (longest prefix that
 * ends at a separator, "*.domain" wildcards). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/registry.h"
#include "toml/toml.h"

enum pull_from { PULL_FROM_ALL, PULL_FROM_DIGEST_ONLY, PULL_FROM_TAG_ONLY };

struct conf_mirror {
  char *location;
  bool insecure;
  enum pull_from pull_from;
};

struct conf_registry {
  char *prefix;
  char *location; /* "" only with a wildcard prefix: no rewrite */
  bool wildcard;  /* prefix is "*.domain" */
  bool insecure;
  bool blocked;
  bool mirror_by_digest_only;
  struct conf_mirror *mirrors;
  size_t n_mirrors;
};

struct img_registries_conf {
  char **search; /* unqualified-search-registries, NULL-terminated */
  struct conf_registry *registries;
  size_t n_registries;
};

void img_registries_conf_free(struct img_registries_conf *conf) {
  if (!conf)
    return;
  for (size_t i = 0; conf->search && conf->search[i]; i++)
    free(conf->search[i]);
  free(conf->search);
  for (size_t i = 0; i < conf->n_registries; i++) {
    struct conf_registry *r = &conf->registries[i];
    free(r->prefix);
    free(r->location);
    for (size_t j = 0; j < r->n_mirrors; j++)
      free(r->mirrors[j].location);
    free(r->mirrors);
  }
  free(conf->registries);
  free(conf);
}

void cleanup_img_registries_confp(struct img_registries_conf **conf) {
  img_registries_conf_free(*conf);
  *conf = NULL;
}

/* A location or prefix names a registry and namespace, never a URL. */
static int check_location(const struct toml_value *table, const char *key, const char *value,
                          crio_error_t *err) {
  const struct toml_value *where = toml_get(table, key);
  if (!where) /* prefix defaulted to location */
    where = table;
  if (strstr(value, "://"))
    return toml_error(err, where,
                      "\"%s\": write host[:port][/path] "
                      "without a scheme",
                      value);
  if (value[0] == '/' || (value[0] && value[strlen(value) - 1] == '/'))
    return toml_error(err, where, "\"%s\": leading or trailing '/'", value);
  return 0;
}

static int parse_mirror(const struct toml_value *table, struct conf_mirror *out,
                        crio_error_t *err) {
  const char *location = NULL, *pull_from = NULL;
  if (table->type != TOML_TABLE)
    return toml_error(err, table, "expected a table");
  if (toml_get_string(table, "location", &location, err) < 0 ||
      toml_get_bool(table, "insecure", &out->insecure, err) < 0 ||
      toml_get_string(table, "pull-from-mirror", &pull_from, err) < 0)
    return -1;
  if (!location || !location[0])
    return toml_error(err, table, "a mirror needs a location");
  if (check_location(table, "location", location, err) < 0)
    return -1;
  if (!pull_from || !pull_from[0] || strcmp(pull_from, "all") == 0)
    out->pull_from = PULL_FROM_ALL;
  else if (strcmp(pull_from, "digest-only") == 0)
    out->pull_from = PULL_FROM_DIGEST_ONLY;
  else if (strcmp(pull_from, "tag-only") == 0)
    out->pull_from = PULL_FROM_TAG_ONLY;
  else
    return toml_error(err, table,
                      "pull-from-mirror \"%s\": want all, digest-only or "
                      "tag-only",
                      pull_from);
  out->location = xstrdup(location);
  return 0;
}

static int parse_registry(const struct toml_value *table, struct conf_registry *out,
                          crio_error_t *err) {
  const char *prefix = NULL, *location = NULL;
  const struct toml_value *mirrors = NULL;
  if (table->type != TOML_TABLE)
    return toml_error(err, table, "expected a table");
  if (toml_get_string(table, "prefix", &prefix, err) < 0 ||
      toml_get_string(table, "location", &location, err) < 0 ||
      toml_get_bool(table, "insecure", &out->insecure, err) < 0 ||
      toml_get_bool(table, "blocked", &out->blocked, err) < 0 ||
      toml_get_bool(table, "mirror-by-digest-only", &out->mirror_by_digest_only, err) < 0 ||
      toml_get_array(table, "mirror", &mirrors, err) < 0)
    return -1;
  if (location && location[0] && check_location(table, "location", location, err) < 0)
    return -1;
  if (!prefix || !prefix[0]) {
    if (!location || !location[0])
      return toml_error(err, table,
                        "a [[registry]] needs a prefix or a "
                        "location");
    prefix = location;
  }
  /* Where the prefix was written: its own key, or location's. */
  const struct toml_value *prefix_node =
      toml_get(table, "prefix") ? toml_get(table, "prefix") : toml_get(table, "location");
  if (toml_get(table, "prefix") && check_location(table, "prefix", prefix, err) < 0)
    return -1;
  if (strncmp(prefix, "*.", 2) == 0) {
    if (strchr(prefix, '/') || strchr(prefix, ':') || !prefix[2])
      return toml_error(err, prefix_node,
                        "prefix \"%s\": a wildcard prefix is "
                        "\"*.domain\" alone",
                        prefix);
    out->wildcard = true;
  } else if (strchr(prefix, '*')) {
    return toml_error(err, prefix_node,
                      "prefix \"%s\": '*' only as a leading "
                      "\"*.\"",
                      prefix);
  } else if (!location || !location[0]) {
    location = prefix;
  }
  out->prefix = xstrdup(prefix);
  out->location = xstrdup(location ? location : "");
  size_t n = toml_array_count(mirrors);
  out->mirrors = xcalloc(n ? n : 1, sizeof(*out->mirrors));
  for (size_t i = 0; i < n; i++) {
    if (parse_mirror(toml_array_item(mirrors, i), &out->mirrors[i], err) < 0)
      return -1;
    out->n_mirrors++;
    if (out->mirror_by_digest_only && out->mirrors[i].pull_from != PULL_FROM_ALL)
      return toml_error(err, toml_array_item(mirrors, i),
                        "pull-from-mirror cannot be combined with the "
                        "registry's mirror-by-digest-only");
  }
  return 0;
}

static int parse_tree(const struct toml_value *root, struct img_registries_conf *conf,
                      crio_error_t *err) {
  const struct toml_value *registries = NULL;
  if (toml_get(root, "registries"))
    return toml_error(err, toml_get(root, "registries"),
                      "registries.conf version 1 ([registries.search] ...) is "
                      "not supported; write version 2 (unqualified-search-"
                      "registries, [[registry]])");
  if (toml_get_string_array(root, "unqualified-search-registries", &conf->search, err) < 0)
    return -1;
  for (size_t i = 0; conf->search && conf->search[i]; i++) {
    const char *s = conf->search[i];
    if (!s[0] || strchr(s, '/') || strstr(s, "://"))
      return toml_error(err, toml_get(root, "unqualified-search-registries"),
                        "\"%s\": want host[:port]", s);
  }
  if (toml_get_array(root, "registry", &registries, err) < 0)
    return -1;
  size_t n = toml_array_count(registries);
  conf->registries = xcalloc(n ? n : 1, sizeof(*conf->registries));
  for (size_t i = 0; i < n; i++) {
    const struct toml_value *item = toml_array_item(registries, i);
    if (parse_registry(item, &conf->registries[i], err) < 0) {
      conf->n_registries = i + 1; /* free what was filled */
      return -1;
    }
    conf->n_registries = i + 1;
    for (size_t j = 0; j < i; j++)
      if (strcmp(conf->registries[j].prefix, conf->registries[i].prefix) == 0)
        return toml_error(err, item, "prefix \"%s\" defined twice", conf->registries[i].prefix);
  }
  return 0;
}

int img_registries_conf_parse(const char *text, size_t len, const char *label,
                              struct img_registries_conf **out, crio_error_t *err) {
  cleanup_toml struct toml_value *root = NULL;
  cleanup_img_registries_conf struct img_registries_conf *conf = xzalloc(sizeof(*conf));
  if (toml_parse(text, len, label, &root, err) < 0 || parse_tree(root, conf, err) < 0)
    return -1;
  *out = steal_pointer(&conf);
  return 0;
}

int img_registries_conf_load(const char *path, struct img_registries_conf **out,
                             crio_error_t *err) {
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_error crio_error_t read_err = NULL;
  if (crio_read_file(path, &text, &len, &read_err) < 0) {
    if (crio_error_status(&read_err) == ENOENT) {
      *out = xzalloc(sizeof(**out));
      return 0;
    }
    *err = steal_pointer(&read_err);
    return -1;
  }
  return img_registries_conf_parse(text, len, path, out, err);
}

/* ---- matching ------------------------------------------------------------ */

/* How many characters of ref a [[registry]] prefix matches, or 0.  ref is
 * "domain/path[:tag][@digest]". */
static size_t prefix_match_len(const struct conf_registry *r, const char *ref) {
  if (r->wildcard) {
    /* "*.example.com" matches any subdomain's host, port or not. */
    const char *suffix = r->prefix + 1; /* ".example.com" */
    size_t host_len = strcspn(ref, "/");
    const char *colon = memchr(ref, ':', host_len);
    size_t name_len = colon ? (size_t)(colon - ref) : host_len;
    size_t suffix_len = strlen(suffix);
    if (name_len > suffix_len && memcmp(ref + name_len - suffix_len, suffix, suffix_len) == 0)
      return host_len;
    return 0;
  }
  size_t len = strlen(r->prefix);
  if (strncmp(ref, r->prefix, len) != 0)
    return 0;
  if (ref[len] == '\0' || ref[len] == '/' || ref[len] == ':' || ref[len] == '@')
    return len;
  return 0;
}

/* The [[registry]] with the longest matching prefix, or NULL. */
static const struct conf_registry *find_registry(const struct img_registries_conf *conf,
                                                 const char *ref, size_t *matched) {
  const struct conf_registry *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; conf && i < conf->n_registries; i++) {
    size_t len = prefix_match_len(&conf->registries[i], ref);
    /* A wildcard counts by its own length, so "*.example.com" loses to an
     * exact "foo.example.com" as in containers/image. */
    size_t weight = conf->registries[i].wildcard ? strlen(conf->registries[i].prefix) : len;
    if (len > 0 && weight > best_len) {
      best = &conf->registries[i];
      best_len = weight;
      *matched = len;
    }
  }
  return best;
}

int img_registries_short_name_candidates(const struct img_registries_conf *conf,
                                         const struct img_reference *ref,
                                         struct img_reference **out, size_t *n_out,
                                         crio_error_t *err) {
  static char *default_search[] = {IMG_DEFAULT_DOMAIN, NULL};
  char **search = conf && conf->search && conf->search[0] ? conf->search : default_search;
  size_t n = 0;
  if (!ref->short_name) {
    *out = xcalloc(1, sizeof(**out));
    img_reference_copy(&(*out)[0], ref, NULL);
    *n_out = 1;
    return 0;
  }
  while (search[n])
    n++;
  *out = xcalloc(n, sizeof(**out));
  for (size_t i = 0; i < n; i++) {
    const char *domain = search[i];
    if (strcmp(domain, "index.docker.io") == 0)
      domain = IMG_DEFAULT_DOMAIN;
    img_reference_copy(&(*out)[i], ref, domain);
  }
  *n_out = n;
  (void)err;
  return 0;
}

void img_pull_sources_free(struct img_pull_source *sources, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(sources[i].host);
    free(sources[i].repository);
  }
  free(sources);
}

/* location + the part of the reference after the prefix, turned into a
 * host and a repository path.  The location's first component is a host
 * whatever it looks like ("myregistry/foo" is host myregistry), as in
 * containers/image, so this splits rather than re-parses. */
static int make_source(const char *location, const char *ref_text, size_t matched, bool insecure,
                       bool mirror, struct img_pull_source *out, crio_error_t *err) {
  cleanup_free char *rewritten = NULL;
  char *slash, *at, *colon;
  if (location[0])
    rewritten = xasprintf("%s%s", location, ref_text + matched);
  else
    rewritten = xstrdup(ref_text);
  /* The tag and digest stay those of the reference being pulled. */
  at = strchr(rewritten, '@');
  if (at)
    *at = '\0';
  slash = strchr(rewritten, '/');
  colon = strrchr(slash ? slash : rewritten, ':');
  if (colon && slash)
    *colon = '\0';
  if (!slash || !slash[1])
    return crio_error(err, EINVAL,
                      "registries.conf rewrites %s to %s, which names no "
                      "repository",
                      ref_text, rewritten);
  *slash = '\0';
  /* docker.io is a name; its API is served at registry-1.docker.io. */
  out->host =
      xstrdup(strcmp(rewritten, IMG_DEFAULT_DOMAIN) == 0 ? "registry-1.docker.io" : rewritten);
  out->repository = xstrdup(slash + 1);
  out->insecure = insecure;
  out->mirror = mirror;
  return 0;
}

int img_registries_pull_sources(const struct img_registries_conf *conf,
                                const struct img_reference *ref, struct img_pull_source **out,
                                size_t *n_out, crio_error_t *err) {
  cleanup_free char *text = img_reference_format(ref);
  size_t matched = 0, n = 0;
  const struct conf_registry *r = find_registry(conf, text, &matched);
  struct img_pull_source *sources = NULL;

  if (r && r->blocked)
    return crio_error(err, EACCES,
                      "registry for %s is blocked in registries.conf "
                      "(prefix \"%s\")",
                      text, r->prefix);
  sources = xcalloc((r ? r->n_mirrors : 0) + 1, sizeof(*sources));
  for (size_t i = 0; r && i < r->n_mirrors; i++) {
    const struct conf_mirror *m = &r->mirrors[i];
    bool by_digest = ref->digest != NULL;
    if (r->mirror_by_digest_only && !by_digest)
      continue;
    if ((m->pull_from == PULL_FROM_DIGEST_ONLY && !by_digest) ||
        (m->pull_from == PULL_FROM_TAG_ONLY && by_digest))
      continue;
    if (make_source(m->location, text, matched, m->insecure, true, &sources[n], err) < 0) {
      img_pull_sources_free(sources, n);
      return -1;
    }
    n++;
  }
  if (make_source(r ? r->location : "", text, matched, r && r->insecure, false, &sources[n], err) <
      0) {
    img_pull_sources_free(sources, n);
    return -1;
  }
  *out = sources;
  *n_out = n + 1;
  return 0;
}
