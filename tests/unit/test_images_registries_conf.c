/* registries.conf v2: search list, longest-prefix match, location
 * rewrites, mirrors in order before the primary, blocked registries,
 * wildcards, and errors that name the place in the file. */
#include <errno.h>
#include <string.h>

#include "images/registry.h"
#include "tests/unit/testing.h"

static struct img_registries_conf *parse_ok(const char *text) {
  cleanup_error crio_error_t err = NULL;
  struct img_registries_conf *conf = NULL;
  if (img_registries_conf_parse(text, strlen(text), "registries.conf", &conf, &err) < 0) {
    fprintf(stderr, "unexpected error: %s\n", crio_error_message(&err));
    CHECK(0);
  }
  return conf;
}

/* "host/repository[ insecure][ mirror]|..." for the sources of image. */
static char *sources_of(const struct img_registries_conf *conf, const char *image,
                        crio_error_t *err) {
  cleanup_img_reference struct img_reference ref = {0};
  struct img_pull_source *s = NULL;
  size_t n = 0;
  CHECK(img_reference_parse(image, &ref, err) == 0);
  if (img_registries_pull_sources(conf, &ref, &s, &n, err) < 0)
    return NULL;
  char *out = xstrdup("");
  for (size_t i = 0; i < n; i++) {
    char *next = xasprintf("%s%s%s/%s%s%s", out, i ? "|" : "", s[i].host, s[i].repository,
                           s[i].insecure ? " insecure" : "", s[i].mirror ? " mirror" : "");
    free(out);
    out = next;
  }
  img_pull_sources_free(s, n);
  return out;
}

static void check_sources(const struct img_registries_conf *conf, const char *image,
                          const char *expected) {
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *got = sources_of(conf, image, &err);
  if (!got)
    fprintf(stderr, "%s: unexpected error: %s\n", image, crio_error_message(&err));
  CHECK_STR_EQ(got, expected);
}

static const char *conf_text =
    "unqualified-search-registries = [\"registry.local:5000\", \"docker.io\"]\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"example.com/foo\"\n"
    "location = \"internal:5000/bar\"\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"example.com/foo/special\"\n"
    "location = \"special.example.net\"\n"
    "insecure = true\n"
    "\n"
    "[[registry]]\n"
    "location = \"example.com\"\n"
    "[[registry.mirror]]\n"
    "location = \"mirror-a.local/ex\"\n"
    "[[registry.mirror]]\n"
    "location = \"mirror-b.local:5000\"\n"
    "insecure = true\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"docker.io\"\n"
    "location = \"docker.io\"\n"
    "[[registry.mirror]]\n"
    "location = \"dockerhub-mirror.local\"\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"blocked.io/evil\"\n"
    "blocked = true\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"*.wild.org\"\n"
    "insecure = true\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"digest.io\"\n"
    "mirror-by-digest-only = true\n"
    "[[registry.mirror]]\n"
    "location = \"m.digest.io\"\n"
    "\n"
    "[[registry]]\n"
    "prefix = \"per-mirror.io\"\n"
    "[[registry.mirror]]\n"
    "location = \"tags.local\"\n"
    "pull-from-mirror = \"tag-only\"\n"
    "[[registry.mirror]]\n"
    "location = \"digests.local\"\n"
    "pull-from-mirror = \"digest-only\"\n";

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_matching(void) {
  cleanup_img_registries_conf struct img_registries_conf *conf = parse_ok(conf_text);
  /* prefix rewritten to location, the rest kept */
  check_sources(conf, "example.com/foo/app:1", "internal:5000/bar/app");
  /* the longest prefix wins */
  check_sources(conf, "example.com/foo/special/x", "special.example.net/x insecure");
  /* a prefix matches only at a separator: foobar is not foo */
  check_sources(conf, "example.com/foobar/app",
                "mirror-a.local/ex/foobar/app mirror|"
                "mirror-b.local:5000/foobar/app insecure mirror|"
                "example.com/foobar/app");
  /* no [[registry]]: the reference's own host */
  check_sources(conf, "quay.io/x/y", "quay.io/x/y");
  /* docker.io's API host, and its mirror with library/ */
  check_sources(conf, "busybox",
                "dockerhub-mirror.local/library/busybox "
                "mirror|registry-1.docker.io/library/busybox");
  /* wildcard: any subdomain, with or without port; not the bare domain */
  check_sources(conf, "a.b.wild.org:5000/x", "a.b.wild.org:5000/x insecure");
  check_sources(conf, "wild.org/x", "wild.org/x");
  check_sources(conf, "notwild.org/x", "notwild.org/x");
  /* mirror-by-digest-only: mirrors only for digests */
  check_sources(conf, "digest.io/x:1", "digest.io/x");
  check_sources(conf, "digest.io/x@" D64, "m.digest.io/x mirror|digest.io/x");
  /* pull-from-mirror per mirror */
  check_sources(conf, "per-mirror.io/x:1", "tags.local/x mirror|per-mirror.io/x");
  check_sources(conf, "per-mirror.io/x@" D64, "digests.local/x mirror|per-mirror.io/x");
}

static void test_blocked(void) {
  cleanup_img_registries_conf struct img_registries_conf *conf = parse_ok(conf_text);
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *got = sources_of(conf, "blocked.io/evil/x:1", &err);
  CHECK(got == NULL);
  CHECK_INT_EQ(crio_error_status(&err), EACCES);
  CHECK(strstr(crio_error_message(&err), "blocked.io/evil/x:1") != NULL);
  CHECK(strstr(crio_error_message(&err), "blocked in registries.conf") != NULL);
  crio_error_release(&err);
  /* only below the blocked prefix */
  check_sources(conf, "blocked.io/good", "blocked.io/good");
}

static void check_candidates(const struct img_registries_conf *conf, const char *image,
                             const char *expected) {
  cleanup_error crio_error_t err = NULL;
  cleanup_img_reference struct img_reference ref = {0};
  struct img_reference *c = NULL;
  size_t n = 0;
  cleanup_free char *got = xstrdup("");
  CHECK(img_reference_parse(image, &ref, &err) == 0);
  CHECK(img_registries_short_name_candidates(conf, &ref, &c, &n, &err) == 0);
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *one = img_reference_format(&c[i]);
    char *next = xasprintf("%s%s%s", got, i ? "|" : "", one);
    free(got);
    got = next;
  }
  img_references_free(c, n);
  CHECK_STR_EQ(got, expected);
}

static void test_short_names(void) {
  cleanup_img_registries_conf struct img_registries_conf *conf = parse_ok(conf_text);
  cleanup_img_registries_conf struct img_registries_conf *empty = parse_ok("");
  check_candidates(conf, "busybox:1", "registry.local:5000/busybox:1|docker.io/library/busybox:1");
  check_candidates(conf, "team/app",
                   "registry.local:5000/team/app:latest|"
                   "docker.io/team/app:latest");
  /* qualified names are not searched */
  check_candidates(conf, "quay.io/x/y", "quay.io/x/y:latest");
  check_candidates(conf, "docker.io/busybox", "docker.io/library/busybox:latest");
  /* no list (or no file): docker.io */
  check_candidates(empty, "busybox", "docker.io/library/busybox:latest");
  check_candidates(NULL, "busybox", "docker.io/library/busybox:latest");
}

static void check_bad(const char *text, const char *part) {
  cleanup_error crio_error_t err = NULL;
  struct img_registries_conf *conf = NULL;
  CHECK_INT_EQ(img_registries_conf_parse(text, strlen(text), "registries.conf", &conf, &err), -1);
  fprintf(stderr, "   -> %s\n", crio_error_message(&err));
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  CHECK(strstr(crio_error_message(&err), part) != NULL);
  CHECK(conf == NULL);
}

static void test_errors(void) {
  check_bad("[[registry]]\ninsecure = true\n", "needs a prefix or a location");
  check_bad("[[registry]]\nlocation = \"https://x.io\"\n",
            "registries.conf:2:1: registry[0].location: \"https://x.io\": "
            "write host[:port][/path] without a scheme");
  check_bad("[[registry]]\nprefix = \"*.x.io/foo\"\n", "wildcard prefix");
  check_bad("[[registry]]\nprefix = \"x.*.io\"\n", "'*' only as a leading");
  check_bad("[[registry]]\nprefix = \"x.io\"\ninsecure = \"yes\"\n",
            "registry[0].insecure: expected boolean");
  check_bad("[[registry]]\nlocation = \"x.io\"\n[[registry]]\nprefix = "
            "\"x.io\"\n",
            "prefix \"x.io\" defined twice");
  check_bad("[[registry]]\nlocation = \"x.io\"\n[[registry.mirror]]\n"
            "insecure = true\n",
            "a mirror needs a location");
  check_bad("[[registry]]\nlocation = \"x.io\"\n[[registry.mirror]]\n"
            "location = \"m\"\npull-from-mirror = \"sometimes\"\n",
            "pull-from-mirror \"sometimes\"");
  check_bad("[registries.search]\nregistries = [\"docker.io\"]\n", "version 1");
  check_bad("unqualified-search-registries = [\"docker.io/library\"]\n", "want host[:port]");
  check_bad("unqualified-search-registries = \"docker.io\"\n", "expected array");
  check_bad("[[registry]\n", "registries.conf:1:");
}

static void test_missing_file_is_empty(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_img_registries_conf struct img_registries_conf *conf = NULL;
  CHECK_INT_EQ(img_registries_conf_load("/nonexistent/registries.conf", &conf, &err), 0);
  check_candidates(conf, "busybox", "docker.io/library/busybox:latest");
}

int main(void) {
  RUN_TEST(test_matching);
  RUN_TEST(test_blocked);
  RUN_TEST(test_short_names);
  RUN_TEST(test_errors);
  RUN_TEST(test_missing_file_is_empty);
  return 0;
}
