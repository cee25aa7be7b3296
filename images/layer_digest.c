/* Digests of layer streams (OpenSSL EVP) and OCI chain ids. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "images/layer_internal.h"

static size_t hex_len_of(const char *algorithm, size_t alg_len) {
  if (alg_len == 6 && strncmp(algorithm, "sha256", 6) == 0)
    return 64;
  if (alg_len == 6 && strncmp(algorithm, "sha512", 6) == 0)
    return 128;
  return 0;
}

static bool lower_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

bool img_digest_valid(const char *digest) {
  if (digest == NULL)
    return false;
  const char *colon = strchr(digest, ':');
  if (colon == NULL)
    return false;
  size_t hex = hex_len_of(digest, (size_t)(colon - digest));
  return hex != 0 && strlen(colon + 1) == hex && lower_hex(colon + 1, hex);
}

const char *img_chain_id_hex(const char *chain_id) {
  if (chain_id == NULL || strncmp(chain_id, "sha256:", 7) != 0 || !img_digest_valid(chain_id))
    return NULL;
  return chain_id + 7;
}

int img_hash_init(struct img_hash *h, const char *algorithm, crio_error_t *err) {
  size_t alg_len = strcspn(algorithm, ":");
  const EVP_MD *md = NULL;
  h->md_ctx = NULL;
  if (hex_len_of(algorithm, alg_len) == 64) {
    md = EVP_sha256();
    h->algorithm = "sha256";
  } else if (hex_len_of(algorithm, alg_len) == 128) {
    md = EVP_sha512();
    h->algorithm = "sha512";
  } else {
    return crio_error(err, EINVAL, "unsupported digest algorithm \"%.*s\"", (int)alg_len,
                      algorithm);
  }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
    EVP_MD_CTX_free(ctx);
    return crio_error(err, ENOMEM, "initialise %s digest", h->algorithm);
  }
  h->md_ctx = ctx;
  return 0;
}

void img_hash_update(struct img_hash *h, const void *buf, size_t len) {
  /* EVP_DigestUpdate cannot fail for in-memory software digests. */
  if (len > 0)
    EVP_DigestUpdate(h->md_ctx, buf, len);
}

void img_hash_final(struct img_hash *h, char out[IMG_DIGEST_MAX]) {
  static const char hexdigits[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_DigestFinal_ex(h->md_ctx, md, &md_len);
  size_t off = (size_t)snprintf(out, IMG_DIGEST_MAX, "%s:", h->algorithm);
  for (unsigned int i = 0; i < md_len && off + 2 < IMG_DIGEST_MAX; i++) {
    out[off++] = hexdigits[md[i] >> 4];
    out[off++] = hexdigits[md[i] & 0xf];
  }
  out[off] = '\0';
  img_hash_release(h);
}

void img_hash_release(struct img_hash *h) {
  EVP_MD_CTX_free(h->md_ctx);
  h->md_ctx = NULL;
}

int img_layer_chain_id(const char *parent_chain_id, const char *diff_id, char out[IMG_DIGEST_MAX],
                       crio_error_t *err) {
  struct img_hash h;
  if (img_chain_id_hex(diff_id) == NULL)
    return crio_error(err, EINVAL, "diff_id \"%s\" is not a sha256 digest", diff_id ? diff_id : "");
  if (parent_chain_id == NULL || parent_chain_id[0] == '\0') {
    snprintf(out, IMG_DIGEST_MAX, "%s", diff_id);
    return 0;
  }
  if (img_chain_id_hex(parent_chain_id) == NULL)
    return crio_error(err, EINVAL, "chain id \"%s\" is not a sha256 digest", parent_chain_id);
  if (img_hash_init(&h, "sha256", err) < 0)
    return -1;
  img_hash_update(&h, parent_chain_id, strlen(parent_chain_id));
  img_hash_update(&h, " ", 1);
  img_hash_update(&h, diff_id, strlen(diff_id));
  img_hash_final(&h, out);
  return 0;
}
