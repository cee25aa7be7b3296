/* Digests: validation, whole and streamed verification, sha256 and
 * sha512, unknown algorithms refused. */
#include <errno.h>
#include <string.h>

#include "images/registry.h"
#include "tests/unit/testing.h"

/* sha256("abc") and sha512("abc") from FIPS 180-2's examples. */
#define ABC_SHA256 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC_SHA512                                                                                 \
  "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"                        \
  "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

static void test_validate(void) {
  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(img_digest_validate(ABC_SHA256, &err), 0);
  CHECK_INT_EQ(img_digest_validate(ABC_SHA512, &err), 0);
  static const struct {
    const char *digest;
    int status;
    const char *part;
  } bad[] = {
      {"", EINVAL, "want algorithm:hex"},
      {"sha256", EINVAL, "want algorithm:hex"},
      {"sha256:abc", EINVAL, "wants 64 hex digits, not 3"},
      {"sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", EINVAL,
       "not lowercase hex"},
      {"sha256:zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", EINVAL,
       "not lowercase hex"},
      {"md5:d41d8cd98f00b204e9800998ecf8427e", ENOTSUP, "unsupported digest algorithm \"md5\""},
      {"blake3:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ENOTSUP,
       "unsupported digest algorithm"},
      {"SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", EINVAL,
       "bad algorithm name"},
      {":abc", EINVAL, "bad algorithm name"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    crio_error_release(&err);
    CHECK_INT_EQ(img_digest_validate(bad[i].digest, &err), -1);
    fprintf(stderr, "   %s -> %s\n", bad[i].digest, crio_error_message(&err));
    CHECK_INT_EQ(crio_error_status(&err), bad[i].status);
    CHECK(strstr(crio_error_message(&err), bad[i].part) != NULL);
  }
}

static void test_verify_whole(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *computed = img_digest_sha256("abc", 3);
  CHECK_STR_EQ(computed, ABC_SHA256);
  CHECK_INT_EQ(img_digest_verify(ABC_SHA256, "abc", 3, &err), 0);
  CHECK_INT_EQ(img_digest_verify(ABC_SHA512, "abc", 3, &err), 0);
  CHECK_INT_EQ(img_digest_verify(ABC_SHA256, "abd", 3, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EBADMSG);
  CHECK(strstr(crio_error_message(&err), "digest mismatch: expected " ABC_SHA256 ", got sha256:") !=
        NULL);
  crio_error_release(&err);
  CHECK_INT_EQ(img_digest_verify("sha1:a9993e364706816aba3e25717850c26c9cd0d89d", "abc", 3, &err),
               -1);
  CHECK_INT_EQ(crio_error_status(&err), ENOTSUP);
}

static void test_verify_streamed(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_img_digester struct img_digester *d = NULL;
  cleanup_img_digester struct img_digester *d512 = NULL;
  CHECK_INT_EQ(img_digester_new(ABC_SHA256, &d, &err), 0);
  img_digester_update(d, "a", 1);
  img_digester_update(d, "", 0);
  img_digester_update(d, "bc", 2);
  CHECK_INT_EQ(img_digester_finish(d, &err), 0);
  CHECK_INT_EQ(img_digester_new(ABC_SHA512, &d512, &err), 0);
  img_digester_update(d512, "ab", 2);
  img_digester_update(d512, "cd", 2); /* one byte too many */
  CHECK_INT_EQ(img_digester_finish(d512, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EBADMSG);
}

int main(void) {
  RUN_TEST(test_validate);
  RUN_TEST(test_verify_whole);
  RUN_TEST(test_verify_streamed);
  return 0;
}
