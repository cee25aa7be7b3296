/* Registry authentication input: the first byte picks a WWW-Authenticate
 * header (img_auth_challenge_parse), a token server's JSON answer
 * (auth_token_response_parse), or the base64 "user:password" of a CRI
 * AuthConfig.auth (auth_creds_from). */
#include <string.h>

#include "fuzz/fuzz.h"
#include "images/registry.h"
#include "images/registry_http.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet_logs();
  return 0;
}

static void fuzz_challenge(const char *header) {
  struct img_auth_challenge ch = {0};
  cleanup_error crio_error_t err = NULL;
  if (img_auth_challenge_parse(header, &ch, &err) == 0) {
    FUZZ_ASSERT(ch.scheme == IMG_AUTH_BASIC || ch.scheme == IMG_AUTH_BEARER);
  } else {
    FUZZ_ASSERT(crio_error_status(&err) != 0);
  }
  img_auth_challenge_clear(&ch);
}

static void fuzz_token(const uint8_t *data, size_t size) {
  struct http_response resp = {.status = 200, .body = (char *)data, .body_len = size};
  char *token = NULL;
  int64_t lifetime = 0;
  cleanup_error crio_error_t err = NULL;
  if (auth_token_response_parse(&resp, "https://auth.example/token", &token, &lifetime, &err) ==
      0) {
    FUZZ_ASSERT(token && *token);
    FUZZ_ASSERT(lifetime >= 60 && lifetime <= 24 * 3600);
  }
  free(token);
}

static void fuzz_creds(const char *auth) {
  struct img_auth in = {.auth = auth, .username = "u", .password = "p"};
  struct auth_creds creds = {0};
  cleanup_error crio_error_t err = NULL;
  if (auth_creds_from(&in, &creds, &err) == 0)
    auth_creds_clear(&creds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  cleanup_free char *text = fuzz_cstring(data + 1, size - 1);
  switch (data[0] % 3) {
  case 0:
    fuzz_challenge(text);
    break;
  case 1:
    fuzz_token(data + 1, size - 1);
    break;
  case 2:
    fuzz_creds(text);
    break;
  }
  return 0;
}
