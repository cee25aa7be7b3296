/* Image references: the distribution/reference grammar and docker's
 * normalisation, as a table of valid and invalid names. */
#include <errno.h>
#include <string.h>

#include "images/registry.h"
#include "tests/unit/testing.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX128 HEX64 HEX64

struct valid_case {
  const char *text;
  const char *domain, *path, *tag, *digest;
  bool short_name;
  const char *formatted;
};

static const struct valid_case valid[] = {
    {"busybox", "docker.io", "library/busybox", "latest", NULL, true,
     "docker.io/library/busybox:latest"},
    {"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL, true,
     "docker.io/library/busybox:1.36"},
    {"library/busybox", "docker.io", "library/busybox", "latest", NULL, true,
     "docker.io/library/busybox:latest"},
    {"docker.io/busybox", "docker.io", "library/busybox", "latest", NULL, false,
     "docker.io/library/busybox:latest"},
    {"index.docker.io/library/busybox:1", "docker.io", "library/busybox", "1", NULL, false,
     "docker.io/library/busybox:1"},
    {"index.docker.io/foo/bar", "docker.io", "foo/bar", "latest", NULL, false,
     "docker.io/foo/bar:latest"},
    {"quay.io/coreos/etcd:v3.5.0", "quay.io", "coreos/etcd", "v3.5.0", NULL, false,
     "quay.io/coreos/etcd:v3.5.0"},
    {"registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", NULL, false,
     "registry.k8s.io/pause:3.9"},
    {"localhost/foo", "localhost", "foo", "latest", NULL, false, "localhost/foo:latest"},
    {"localhost:5000/foo/bar:tag", "localhost:5000", "foo/bar", "tag", NULL, false,
     "localhost:5000/foo/bar:tag"},
    {"127.0.0.1:5000/a/b/c/d:1.0", "127.0.0.1:5000", "a/b/c/d", "1.0", NULL, false,
     "127.0.0.1:5000/a/b/c/d:1.0"},
    {"[::1]:5000/foo:bar", "[::1]:5000", "foo", "bar", NULL, false, "[::1]:5000/foo:bar"},
    {"[2001:db8::1]/foo", "[2001:db8::1]", "foo", "latest", NULL, false,
     "[2001:db8::1]/foo:latest"},
    /* docker's rule: an uppercase first component can only be a host. */
    {"Foo/bar", "Foo", "bar", "latest", NULL, false, "Foo/bar:latest"},
    {"example.com:443/x", "example.com:443", "x", "latest", NULL, false,
     "example.com:443/x:latest"},
    {"foo/bar@sha256:" HEX64, "docker.io", "foo/bar", NULL, "sha256:" HEX64, true,
     "docker.io/foo/bar@sha256:" HEX64},
    {"foo:tag@sha256:" HEX64, "docker.io", "library/foo", "tag", "sha256:" HEX64, true,
     "docker.io/library/foo:tag@sha256:" HEX64},
    {"my.registry:5000/img@sha512:" HEX128, "my.registry:5000", "img", NULL, "sha512:" HEX128,
     false, "my.registry:5000/img@sha512:" HEX128},
    {"a__b/c-d---e.f_g", "docker.io", "a__b/c-d---e.f_g", "latest", NULL, true,
     "docker.io/a__b/c-d---e.f_g:latest"},
    {"foo:_Under.score-1", "docker.io", "library/foo", "_Under.score-1", NULL, true,
     "docker.io/library/foo:_Under.score-1"},
    {"sub-domain.example.com/x9/y", "sub-domain.example.com", "x9/y", "latest", NULL, false,
     "sub-domain.example.com/x9/y:latest"},
};

struct invalid_case {
  const char *text;
  const char *message_part; /* the message must say this */
};

static const struct invalid_case invalid[] = {
    {"", "empty reference"},
    {"Busybox", "must be lowercase"},
    {"foo/Bar", "must be lowercase"},
    {"localhost:5000/Foo", "must be lowercase"},
    {"busybox:", "invalid tag"},
    {"busybox:-bad", "invalid tag"},
    {"busybox:a/b", "invalid registry host"}, /* "busybox:a" is a host */
    {"foo//bar", "invalid path component"},
    {"foo/bar/", "invalid path component"},
    {"-foo", "invalid path component"},
    {"foo-", "invalid path component"},
    {"foo..bar", "invalid path component"},
    {"foo___bar", "invalid path component"},
    {"foo.-bar", "invalid path component"},
    {"foo@sha256:abc", "hex digits"},
    {"foo@sha256:"
     "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
     "lowercase hex"},
    {"foo@md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported digest algorithm"},
    {"foo@", "invalid digest"},
    {"@sha256:" HEX64, "empty name"},
    {":tag", "empty name"},
    {HEX64, "64-byte hexadecimal"},
    {"http://foo/bar", "invalid registry host"},
    {"ex ample.com/foo", "invalid registry host"},
    {"example.com:port/foo", "invalid"},
    {"-example.com/foo", "invalid registry host"},
    {"example-.com/foo", "invalid registry host"},
    {"[::1/foo", "invalid registry host"},
    {"[::1]x/foo", "invalid registry host"},
    {"example.com:/foo", "invalid registry host"},
};

static void test_valid_references(void) {
  for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
    const struct valid_case *c = &valid[i];
    cleanup_error crio_error_t err = NULL;
    cleanup_img_reference struct img_reference ref = {0};
    fprintf(stderr, "   %s\n", c->text);
    if (img_reference_parse(c->text, &ref, &err) < 0) {
      fprintf(stderr, "unexpected error: %s\n", crio_error_message(&err));
      CHECK(0);
    }
    CHECK_STR_EQ(ref.domain, c->domain);
    CHECK_STR_EQ(ref.path, c->path);
    if (c->tag)
      CHECK_STR_EQ(ref.tag, c->tag);
    else
      CHECK(ref.tag == NULL);
    if (c->digest)
      CHECK_STR_EQ(ref.digest, c->digest);
    else
      CHECK(ref.digest == NULL);
    CHECK_INT_EQ(ref.short_name, c->short_name);
    cleanup_free char *formatted = img_reference_format(&ref);
    CHECK_STR_EQ(formatted, c->formatted);
    /* Formatting is a fixed point: the output parses to itself. */
    cleanup_img_reference struct img_reference again = {0};
    CHECK(img_reference_parse(formatted, &again, &err) == 0);
    cleanup_free char *formatted2 = img_reference_format(&again);
    CHECK_STR_EQ(formatted2, formatted);
  }
}

static void test_invalid_references(void) {
  for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
    const struct invalid_case *c = &invalid[i];
    cleanup_error crio_error_t err = NULL;
    struct img_reference ref = {0};
    int ret = img_reference_parse(c->text, &ref, &err);
    fprintf(stderr, "   \"%s\" -> %s\n", c->text, crio_error_message(&err));
    CHECK_INT_EQ(ret, -1);
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
    CHECK(strstr(crio_error_message(&err), c->message_part) != NULL);
    CHECK(ref.domain == NULL && ref.path == NULL);
  }
}

static void test_length_limits(void) {
  cleanup_error crio_error_t err = NULL;
  char name[300], tag[140];
  struct img_reference ref = {0};
  memset(name, 'a', sizeof(name));
  name[256] = '\0'; /* 256 > 255 */
  CHECK_INT_EQ(img_reference_parse(name, &ref, &err), -1);
  CHECK(strstr(crio_error_message(&err), "longer than 255") != NULL);
  crio_error_release(&err);
  /* The limit holds for the normalised name, as in distribution/reference:
   * "docker.io/library/" (18) + 237 = 255 parses, one more does not, so the
   * stored form of whatever parses parses again. */
  name[238] = '\0';
  CHECK_INT_EQ(img_reference_parse(name, &ref, &err), -1);
  CHECK(strstr(crio_error_message(&err), "once normalised") != NULL);
  crio_error_release(&err);
  name[237] = '\0';
  CHECK_INT_EQ(img_reference_parse(name, &ref, &err), 0);
  img_reference_clear(&ref);
  memcpy(name, "example.com/", 12);
  memset(name + 12, 'a', 243);
  name[255] = '\0';
  CHECK_INT_EQ(img_reference_parse(name, &ref, &err), 0);
  img_reference_clear(&ref);

  memset(tag, 't', sizeof(tag));
  memcpy(tag, "x:", 2);
  tag[2 + 128] = '\0';
  CHECK_INT_EQ(img_reference_parse(tag, &ref, &err), 0);
  img_reference_clear(&ref);
  tag[2 + 129] = 't';
  tag[2 + 129 + 1] = '\0';
  tag[2 + 128] = 't';
  CHECK_INT_EQ(img_reference_parse(tag, &ref, &err), -1);
}

static void test_copy_to_other_registry(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_img_reference struct img_reference a = {0}, b = {0}, c = {0}, d = {0};
  cleanup_img_reference struct img_reference lib = {0};
  CHECK(img_reference_parse("busybox:1", &a, &err) == 0);
  /* Docker's implicit library/ belongs to docker.io only. */
  img_reference_copy(&b, &a, "quay.io");
  CHECK_STR_EQ(b.domain, "quay.io");
  CHECK_STR_EQ(b.path, "busybox");
  CHECK_STR_EQ(b.tag, "1");
  CHECK(!b.short_name);
  img_reference_copy(&c, &a, "docker.io");
  CHECK_STR_EQ(c.path, "library/busybox");
  CHECK(img_reference_parse("library/busybox", &lib, &err) == 0);
  img_reference_copy(&d, &lib, "quay.io");
  CHECK_STR_EQ(d.path, "library/busybox");
}

int main(void) {
  RUN_TEST(test_valid_references);
  RUN_TEST(test_invalid_references);
  RUN_TEST(test_length_limits);
  RUN_TEST(test_copy_to_other_registry);
  return 0;
}
