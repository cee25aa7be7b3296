/* Manifests and indexes (OCI and Docker), schema 1 refused, malformed
 * documents refused, and the choice of an index entry by platform. */
#include <errno.h>
#include <string.h>

#include "images/registry.h"
#include "tests/unit/testing.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c /* 4 x 16 = 64 */
#define DA D("aaaa")
#define DB D("bbbb")
#define DC D("cccc")
#define DD D("dddd")
#define DE D("eeee")
#define DF D("ffff")

static struct img_manifest *parse_ok(const char *json, const char *type) {
  cleanup_error crio_error_t err = NULL;
  struct img_manifest *m = NULL;
  if (img_manifest_parse(json, strlen(json), type, &m, &err) < 0) {
    fprintf(stderr, "unexpected error: %s\n", crio_error_message(&err));
    CHECK(0);
  }
  return m;
}

static void check_bad(const char *json, const char *type, int status, const char *part) {
  cleanup_error crio_error_t err = NULL;
  struct img_manifest *m = NULL;
  CHECK_INT_EQ(img_manifest_parse(json, strlen(json), type, &m, &err), -1);
  fprintf(stderr, "   -> %s\n", crio_error_message(&err));
  CHECK_INT_EQ(crio_error_status(&err), status);
  CHECK(strstr(crio_error_message(&err), part) != NULL);
  CHECK(m == NULL);
}

static const char *oci_manifest =
    "{\"schemaVersion\":2,"
    "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
    "\"digest\":\"" DA "\",\"size\":1234},"
    "\"layers\":["
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
    "\"digest\":\"" DB "\",\"size\":100},"
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
    "\"digest\":\"" DC "\",\"size\":0}],"
    "\"annotations\":{\"a\":\"b\"}}";

static void test_oci_manifest(void) {
  cleanup_img_manifest struct img_manifest *m = parse_ok(oci_manifest, NULL);
  CHECK_INT_EQ(m->kind, IMG_MANIFEST_IMAGE);
  CHECK_STR_EQ(m->media_type, IMG_MEDIA_OCI_MANIFEST);
  CHECK_STR_EQ(m->config.digest, DA);
  CHECK_INT_EQ(m->config.size, 1234);
  CHECK_INT_EQ(m->n_layers, 2);
  CHECK_STR_EQ(m->layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
  CHECK_STR_EQ(m->layers[1].digest, DC);
  CHECK_INT_EQ(m->layers[1].size, 0);
}

static void test_docker_manifest_and_media_type_sources(void) {
  const char *docker =
      "{\"schemaVersion\":2,"
      "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
      "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
      "\"digest\":\"" DA "\",\"size\":7},"
      "\"layers\":[{\"mediaType\":"
      "\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
      "\"digest\":\"" DB "\",\"size\":9}]}";
  cleanup_img_manifest struct img_manifest *m =
      parse_ok(docker, IMG_MEDIA_DOCKER_MANIFEST "; charset=utf-8");
  CHECK_INT_EQ(m->kind, IMG_MANIFEST_IMAGE);
  CHECK_STR_EQ(m->media_type, IMG_MEDIA_DOCKER_MANIFEST);
  CHECK_INT_EQ(m->n_layers, 1);

  /* No mediaType in the body (OCI allows it): the Content-Type says. */
  const char *bare = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x/y\","
                     "\"digest\":\"" DA "\",\"size\":1},\"layers\":[]}";
  cleanup_img_manifest struct img_manifest *m2 = parse_ok(bare, IMG_MEDIA_DOCKER_MANIFEST);
  CHECK_STR_EQ(m2->media_type, IMG_MEDIA_DOCKER_MANIFEST);
  /* ... or, with an unhelpful Content-Type, the fields. */
  cleanup_img_manifest struct img_manifest *m3 = parse_ok(bare, "application/json");
  CHECK_INT_EQ(m3->kind, IMG_MANIFEST_IMAGE);
  CHECK_STR_EQ(m3->media_type, IMG_MEDIA_OCI_MANIFEST);
}

#define ENTRY(digest, type, os, arch, variant_json)                                                \
  "{\"mediaType\":\"" type "\",\"digest\":\"" digest "\",\"size\":500,"                            \
  "\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"" variant_json "}}"
#define OCI_M "application/vnd.oci.image.manifest.v1+json"
#define DOCKER_M "application/vnd.docker.distribution.manifest.v2+json"

static const char *index_json =
    "{\"schemaVersion\":2,"
    "\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
    "\"manifests\":[" ENTRY(DA, OCI_M, "linux", "arm", ",\"variant\":\"v6\"") "," ENTRY(
        DB, OCI_M, "linux", "arm64",
        ",\"variant\":\"v8\"") "," ENTRY(DC, OCI_M, "windows", "amd64",
                                         "") "," ENTRY(DD, OCI_M, "linux", "amd64",
                                                       "") "," ENTRY(DE, OCI_M, "linux", "arm",
                                                                     ",\"variant\":\"v7\"") ","
    /* buildx attestations: not an image */
    ENTRY(DF, "application/vnd.in-toto+json", "unknown", "unknown", "") "]}";

static const char *select_digest(const struct img_manifest *index, const char *os, const char *arch,
                                 const char *variant) {
  struct img_platform p = {(char *)os, (char *)arch, (char *)variant};
  const struct img_descriptor *d = NULL;
  cleanup_error crio_error_t err = NULL;
  if (img_index_select(index, &p, &d, &err) < 0) {
    fprintf(stderr, "   %s/%s/%s -> %s\n", os, arch, variant ? variant : "",
            crio_error_message(&err));
    return NULL;
  }
  return d->digest;
}

static void test_index_and_platforms(void) {
  cleanup_img_manifest struct img_manifest *index = parse_ok(index_json, NULL);
  CHECK_INT_EQ(index->kind, IMG_MANIFEST_INDEX);
  CHECK_STR_EQ(index->media_type, IMG_MEDIA_OCI_INDEX);
  CHECK_INT_EQ(index->n_manifests, 6);
  CHECK_STR_EQ(index->manifests[0].platform.variant, "v6");
  CHECK(index->manifests[2].platform.variant == NULL);

  CHECK_STR_EQ(select_digest(index, "linux", "amd64", NULL), DD);
  CHECK_STR_EQ(select_digest(index, "linux", "x86_64", NULL), DD);
  CHECK_STR_EQ(select_digest(index, "windows", "amd64", NULL), DC);
  /* arm64's v8 is no variant at all */
  CHECK_STR_EQ(select_digest(index, "linux", "arm64", NULL), DB);
  CHECK_STR_EQ(select_digest(index, "linux", "aarch64", "8"), DB);
  /* arm: the exact variant, else the highest older one */
  CHECK_STR_EQ(select_digest(index, "linux", "arm", "v7"), DE);
  CHECK_STR_EQ(select_digest(index, "linux", "arm", NULL), DE); /* v7 */
  CHECK_STR_EQ(select_digest(index, "linux", "arm", "v6"), DA);
  CHECK_STR_EQ(select_digest(index, "linux", "armhf", NULL), DE);
  CHECK_STR_EQ(select_digest(index, "linux", "arm", "v8"), DE);
  CHECK(select_digest(index, "linux", "arm", "v5") == NULL);
  CHECK(select_digest(index, "linux", "s390x", NULL) == NULL);
  CHECK(select_digest(index, "unknown", "unknown", NULL) == NULL);

  /* The host: this machine is amd64. */
  struct img_platform host;
  img_platform_host(&host);
  CHECK_STR_EQ(host.os, "linux");
  const struct img_descriptor *d = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(img_index_select(index, NULL, &d, &err), 0);
  if (strcmp(host.architecture, "amd64") == 0)
    CHECK_STR_EQ(d->digest, DD);
  img_platform_clear(&host);

  /* ENOENT says what the index offers. */
  struct img_platform riscv = {"linux", "riscv64", NULL};
  CHECK_INT_EQ(img_index_select(index, &riscv, &d, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  CHECK(strstr(crio_error_message(&err), "linux/riscv64") != NULL);
  CHECK(strstr(crio_error_message(&err), "linux/arm/v6, linux/arm64/v8") != NULL);
}

static void test_docker_manifest_list(void) {
  const char *list = "{\"schemaVersion\":2,\"mediaType\":"
                     "\"application/vnd.docker.distribution.manifest.list.v2+json\","
                     "\"manifests\":[" ENTRY(DA, DOCKER_M, "linux", "amd64", "") "]}";
  cleanup_img_manifest struct img_manifest *m = parse_ok(list, NULL);
  CHECK_INT_EQ(m->kind, IMG_MANIFEST_INDEX);
  CHECK_STR_EQ(m->media_type, IMG_MEDIA_DOCKER_LIST);
  CHECK_STR_EQ(select_digest(m, "linux", "amd64", NULL), DA);
  /* an index without mediaType is recognised by its manifests */
  const char *bare = "{\"schemaVersion\":2,\"manifests\":[]}";
  cleanup_img_manifest struct img_manifest *m2 = parse_ok(bare, NULL);
  CHECK_INT_EQ(m2->kind, IMG_MANIFEST_INDEX);
  CHECK_INT_EQ(m2->n_manifests, 0);
}

static void test_rejected(void) {
  const char *schema1 = "{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"1\",\"fsLayers\":[]}";
  check_bad(schema1, NULL, ENOTSUP, "Docker schema 1");
  check_bad("{}", "application/vnd.docker.distribution.manifest.v1+prettyjws", ENOTSUP,
            "Docker schema 1");
  check_bad("not json", NULL, EBADMSG, "not a JSON object");
  check_bad("[1,2]", NULL, EBADMSG, "not a JSON object");
  check_bad("{\"schemaVersion\":3}", NULL, EBADMSG, "schemaVersion must be 2");
  check_bad("{\"mediaType\":\"" OCI_M "\"}", NULL, EBADMSG, "schemaVersion must be 2");
  check_bad("{\"schemaVersion\":2,\"mediaType\":\"application/x-foo\"}", NULL, ENOTSUP,
            "unsupported manifest mediaType application/x-foo");
  check_bad("{\"schemaVersion\":2,\"mediaType\":\"" OCI_M "\",\"layers\":[]}", NULL, EBADMSG,
            "no config");
  check_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":"
            "\"" DA "\",\"size\":1}}",
            NULL, EBADMSG, "layers: missing or not an array");
  check_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":"
            "\"sha256:abc\",\"size\":1},\"layers\":[]}",
            NULL, EBADMSG, "config: invalid digest");
  check_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":"
            "\"md5:d41d8cd98f00b204e9800998ecf8427e\",\"size\":1},\"layers\":[]}",
            NULL, ENOTSUP, "unsupported digest algorithm");
  check_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":"
            "\"" DA "\",\"size\":-1},\"layers\":[]}",
            NULL, EBADMSG, "config: size");
  check_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":"
            "\"" DA "\",\"size\":1.5},\"layers\":[]}",
            NULL, EBADMSG, "config: size");
  check_bad("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":"
            "\"" DA "\",\"size\":1},\"layers\":[{\"digest\":\"" DB "\",\"size\":1}]}",
            NULL, EBADMSG, "layers[0]: no mediaType");
  /* both an index and a manifest: ambiguous */
  check_bad("{\"schemaVersion\":2,\"manifests\":[],\"config\":{\"mediaType\":"
            "\"x\",\"digest\":\"" DA "\",\"size\":1},\"layers\":[]}",
            NULL, EBADMSG, "both manifests and config/layers");
  /* the registry's Content-Type and the body disagree */
  check_bad(oci_manifest, IMG_MEDIA_OCI_INDEX, EBADMSG, "but the registry sent Content-Type");
  check_bad("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\","
            "\"digest\":\"" DA "\",\"size\":1,\"platform\":\"linux\"}]}",
            NULL, EBADMSG, "manifests[0]: platform is not an object");
}

static void test_size_limit(void) {
  size_t len = IMG_MANIFEST_MAX + 1;
  cleanup_free char *big = xmalloc(len + 1);
  memset(big, ' ', len);
  big[len] = '\0';
  big[0] = '{';
  big[len - 1] = '}';
  cleanup_error crio_error_t err = NULL;
  struct img_manifest *m = NULL;
  CHECK_INT_EQ(img_manifest_parse(big, len, NULL, &m, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EFBIG);
}

int main(void) {
  RUN_TEST(test_oci_manifest);
  RUN_TEST(test_docker_manifest_and_media_type_sources);
  RUN_TEST(test_index_and_platforms);
  RUN_TEST(test_docker_manifest_list);
  RUN_TEST(test_rejected);
  RUN_TEST(test_size_limit);
  return 0;
}
