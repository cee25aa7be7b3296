/* WWW-Authenticate parsing and CRI credentials decoding. */
#include <errno.h>
#include <string.h>

#include "images/registry_http.h"
#include "tests/unit/testing.h"

struct challenge_case {
  const char *header;
  enum img_auth_scheme scheme;
  const char *realm, *service, *scope;
};

static const struct challenge_case good[] = {
    {"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\"",
     IMG_AUTH_BEARER, "https://auth.docker.io/token", "registry.docker.io", NULL},
    {"Bearer realm=\"https://r.io/t\",service=\"r.io\",scope=\"repository:a/b:pull\"",
     IMG_AUTH_BEARER, "https://r.io/t", "r.io", "repository:a/b:pull"},
    /* case-insensitive scheme and names, spaces around '=' and ',' */
    {"bearer  REALM = \"http://127.0.0.1:8/t\" , Service=reg", IMG_AUTH_BEARER,
     "http://127.0.0.1:8/t", "reg", NULL},
    {"Basic realm=\"basic-realm\"", IMG_AUTH_BASIC, "basic-realm", NULL, NULL},
    {"Basic realm=\"Registry Realm\", charset=\"UTF-8\"", IMG_AUTH_BASIC, "Registry Realm", NULL,
     NULL},
    /* escapes inside a quoted string; a comma inside quotes */
    {"Bearer realm=\"https://x/t?a=1,b=2\",service=\"s\\\"q\"", IMG_AUTH_BEARER,
     "https://x/t?a=1,b=2", "s\"q", NULL},
    /* several challenges: Bearer is preferred wherever it is */
    {"Basic realm=\"b\", Bearer realm=\"https://t/\",service=\"s\"", IMG_AUTH_BEARER, "https://t/",
     "s", NULL},
    {"Negotiate abc==, Basic realm=\"b\"", IMG_AUTH_BASIC, "b", NULL, NULL},
    {"Newauth realm=\"apps\", type=1, title=\"Login\", Basic realm=\"simple\"", IMG_AUTH_BASIC,
     "simple", NULL, NULL},
    /* a scope with spaces (several scopes) */
    {"Bearer realm=\"https://t\",scope=\"repository:a:pull repository:b:pull\"", IMG_AUTH_BEARER,
     "https://t", NULL, "repository:a:pull repository:b:pull"},
};

static void test_good_challenges(void) {
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    const struct challenge_case *c = &good[i];
    cleanup_error crio_error_t err = NULL;
    struct img_auth_challenge ch;
    fprintf(stderr, "   %s\n", c->header);
    if (img_auth_challenge_parse(c->header, &ch, &err) < 0) {
      fprintf(stderr, "unexpected error: %s\n", crio_error_message(&err));
      CHECK(0);
    }
    CHECK_INT_EQ(ch.scheme, c->scheme);
    CHECK_STR_EQ(ch.realm, c->realm);
    if (c->service)
      CHECK_STR_EQ(ch.service, c->service);
    else
      CHECK(ch.service == NULL);
    if (c->scope)
      CHECK_STR_EQ(ch.scope, c->scope);
    else
      CHECK(ch.scope == NULL);
    img_auth_challenge_clear(&ch);
  }
}

static void test_bad_challenges(void) {
  static const struct {
    const char *header, *part;
  } bad[] = {
      {"", "no Bearer or Basic challenge"},
      {"Negotiate abc==", "no Bearer or Basic challenge"},
      {"Bearer service=\"x\"", "without a realm"},
      {"Bearer realm=\"ftp://x/t\"", "not an http(s) URL"},
      {"Bearer realm=\"https://x/t", "bad value for parameter realm"},
      {"=x", "expected an auth scheme"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cleanup_error crio_error_t err = NULL;
    struct img_auth_challenge ch;
    CHECK_INT_EQ(img_auth_challenge_parse(bad[i].header, &ch, &err), -1);
    fprintf(stderr, "   %s -> %s\n", bad[i].header, crio_error_message(&err));
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
    CHECK(strstr(crio_error_message(&err), bad[i].part) != NULL);
  }
}

static void test_credentials(void) {
  cleanup_error crio_error_t err = NULL;
  struct auth_creds c;
  /* auth = base64("user:pa:ss") wins over username/password */
  struct img_auth a = {.username = "other", .password = "x", .auth = "dXNlcjpwYTpzcw=="};
  CHECK_INT_EQ(auth_creds_from(&a, &c, &err), 0);
  CHECK_STR_EQ(c.username, "user");
  CHECK_STR_EQ(c.password, "pa:ss");
  auth_creds_clear(&c);
  /* unpadded base64 is accepted too */
  a.auth = "dXNlcjpwYTpzcw";
  CHECK_INT_EQ(auth_creds_from(&a, &c, &err), 0);
  CHECK_STR_EQ(c.password, "pa:ss");
  auth_creds_clear(&c);

  struct img_auth plain = {
      .username = "u", .password = "p", .identity_token = "", .registry_token = "rt"};
  CHECK_INT_EQ(auth_creds_from(&plain, &c, &err), 0);
  CHECK_STR_EQ(c.username, "u");
  CHECK_STR_EQ(c.password, "p");
  CHECK(c.identity_token == NULL);
  CHECK_STR_EQ(c.registry_token, "rt");
  auth_creds_clear(&c);

  CHECK_INT_EQ(auth_creds_from(NULL, &c, &err), 0);
  CHECK(c.username == NULL && c.registry_token == NULL);

  struct img_auth bad = {.auth = "not base64!"};
  CHECK_INT_EQ(auth_creds_from(&bad, &c, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  bad.auth = "bm9jb2xvbg=="; /* "nocolon" */
  CHECK_INT_EQ(auth_creds_from(&bad, &c, &err), -1);
  CHECK(strstr(crio_error_message(&err), "user:password") != NULL);
}

int main(void) {
  RUN_TEST(test_good_challenges);
  RUN_TEST(test_bad_challenges);
  RUN_TEST(test_credentials);
  return 0;
}
