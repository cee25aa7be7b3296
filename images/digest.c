/* Content digests "algorithm:hex" (OCI image spec, descriptor.md):
 * sha256 and sha512 through OpenSSL EVP, whole or streamed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "images/registry.h"

struct img_digester {
  EVP_MD_CTX *ctx;
  char *expected;
  const char *algorithm; /* "sha256" or "sha512", static */
};

/* The registered algorithms.  The OCI spec also reserves blake3, which no
 * registry we know of serves; it is refused as unsupported. */
static const EVP_MD *digest_md(const char *digest, size_t alg_len, const char **name,
                               size_t *hex_len) {
  if (alg_len == 6 && memcmp(digest, "sha256", 6) == 0) {
    *name = "sha256";
    *hex_len = 64;
    return EVP_sha256();
  }
  if (alg_len == 6 && memcmp(digest, "sha512", 6) == 0) {
    *name = "sha512";
    *hex_len = 128;
    return EVP_sha512();
  }
  return NULL;
}

/* The grammar of an algorithm name: [a-z0-9]+ ([+._-] [a-z0-9]+)* */
static bool algorithm_syntax_valid(const char *s, size_t len) {
  bool after_sep = true;
  if (len == 0)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      after_sep = false;
    } else if (strchr("+._-", c) && !after_sep) {
      after_sep = true;
    } else {
      return false;
    }
  }
  return !after_sep;
}

static int digest_parse(const char *digest, const EVP_MD **md, const char **name,
                        crio_error_t *err) {
  const char *colon = digest ? strchr(digest, ':') : NULL;
  size_t hex_len = 0;
  if (!colon)
    return crio_error(err, EINVAL, "invalid digest \"%s\": want algorithm:hex",
                      digest ? digest : "");
  size_t alg_len = (size_t)(colon - digest);
  if (!algorithm_syntax_valid(digest, alg_len))
    return crio_error(err, EINVAL, "invalid digest \"%s\": bad algorithm name", digest);
  *md = digest_md(digest, alg_len, name, &hex_len);
  if (!*md)
    return crio_error(err, ENOTSUP,
                      "unsupported digest algorithm \"%.*s\" in \"%s\" "
                      "(supported: sha256, sha512)",
                      (int)alg_len, digest, digest);
  const char *hex = colon + 1;
  size_t len = strlen(hex);
  if (len != hex_len)
    return crio_error(err, EINVAL, "invalid digest \"%s\": %s wants %zu hex digits, not %zu",
                      digest, *name, hex_len, len);
  for (size_t i = 0; i < len; i++)
    if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
      return crio_error(err, EINVAL, "invalid digest \"%s\": not lowercase hex", digest);
  return 0;
}

int img_digest_validate(const char *digest, crio_error_t *err) {
  const EVP_MD *md;
  const char *name;
  return digest_parse(digest, &md, &name, err);
}

static char *format_digest(const char *name, const unsigned char *raw, unsigned len) {
  static const char hexdigits[] = "0123456789abcdef";
  size_t name_len = strlen(name);
  char *out = xmalloc(name_len + 1 + 2 * len + 1);
  memcpy(out, name, name_len);
  out[name_len] = ':';
  for (unsigned i = 0; i < len; i++) {
    out[name_len + 1 + 2 * i] = hexdigits[raw[i] >> 4];
    out[name_len + 2 + 2 * i] = hexdigits[raw[i] & 15];
  }
  out[name_len + 1 + 2 * len] = '\0';
  return out;
}

static void evp_failed(const char *what) {
  /* EVP calls on a known digest fail only when OpenSSL cannot allocate. */
  log_error("OpenSSL %s failed", what);
  abort();
}

char *img_digest_sha256(const void *data, size_t len) {
  unsigned char raw[EVP_MAX_MD_SIZE];
  unsigned raw_len = 0;
  if (!EVP_Digest(data, len, raw, &raw_len, EVP_sha256(), NULL))
    evp_failed("EVP_Digest");
  return format_digest("sha256", raw, raw_len);
}

int img_digester_new(const char *expected, struct img_digester **out, crio_error_t *err) {
  const EVP_MD *md;
  const char *name;
  if (digest_parse(expected, &md, &name, err) < 0)
    return -1;
  struct img_digester *d = xzalloc(sizeof(*d));
  d->ctx = EVP_MD_CTX_new();
  if (!d->ctx || !EVP_DigestInit_ex(d->ctx, md, NULL))
    evp_failed("EVP_DigestInit_ex");
  d->expected = xstrdup(expected);
  d->algorithm = name;
  *out = d;
  return 0;
}

void img_digester_update(struct img_digester *d, const void *data, size_t len) {
  if (len && !EVP_DigestUpdate(d->ctx, data, len))
    evp_failed("EVP_DigestUpdate");
}

int img_digester_finish(struct img_digester *d, crio_error_t *err) {
  unsigned char raw[EVP_MAX_MD_SIZE];
  unsigned raw_len = 0;
  if (!EVP_DigestFinal_ex(d->ctx, raw, &raw_len))
    evp_failed("EVP_DigestFinal_ex");
  cleanup_free char *got = format_digest(d->algorithm, raw, raw_len);
  if (strcmp(got, d->expected) != 0)
    return crio_error(err, EBADMSG, "digest mismatch: expected %s, got %s", d->expected, got);
  return 0;
}

void img_digester_free(struct img_digester *d) {
  if (!d)
    return;
  EVP_MD_CTX_free(d->ctx);
  free(d->expected);
  free(d);
}

void cleanup_img_digesterp(struct img_digester **d) {
  img_digester_free(*d);
  *d = NULL;
}

int img_digest_verify(const char *expected, const void *data, size_t len, crio_error_t *err) {
  cleanup_img_digester struct img_digester *d = NULL;
  if (img_digester_new(expected, &d, err) < 0)
    return -1;
  img_digester_update(d, data, len);
  return img_digester_finish(d, err);
}

const char *img_digest_hex(const char *digest) {
  if (digest == NULL)
    return NULL;
  const char *colon = strchr(digest, ':');
  if (colon == NULL || colon[1] == '\0' || !crio_is_hex_id(colon + 1, strlen(colon + 1)))
    return NULL;
  return colon + 1;
}
