/* One repository on one registry endpoint: the distribution API's ping,
 * manifests and blobs, with authentication and digest checks. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "images/registry_http.h"

#define MANIFEST_ACCEPT                                                                            \
  IMG_MEDIA_OCI_MANIFEST ", " IMG_MEDIA_OCI_INDEX ", " IMG_MEDIA_DOCKER_MANIFEST                   \
                         ", " IMG_MEDIA_DOCKER_LIST

struct img_repo {
  struct img_registry_client *client;
  char *host;
  char *repository;
  bool insecure;
  char *origin; /* "https://host" or, for an insecure one, maybe http */
  char *scope;  /* repository:NAME:pull */
  struct img_auth_challenge challenge;
  struct auth_creds creds;
};

void img_repo_free(struct img_repo *r) {
  if (!r)
    return;
  free(r->host);
  free(r->repository);
  free(r->origin);
  free(r->scope);
  img_auth_challenge_clear(&r->challenge);
  auth_creds_clear(&r->creds);
  free(r);
}

void cleanup_img_repop(struct img_repo **r) {
  img_repo_free(*r);
  *r = NULL;
}

/* GET /v2/ on origin: 200 (no auth) or 401 with a challenge. */
static int ping(struct img_repo *r, const char *origin, crio_error_t *err) {
  cleanup_free char *url = xasprintf("%s/v2/", origin);
  struct http_request req = {.url = url, .insecure = r->insecure, .max_body = 64 * 1024};
  struct http_response resp = {0};
  int ret = 0;
  if (http_perform(r->client, &req, &resp, err) < 0)
    return -1;
  if (resp.status == 401) {
    if (!resp.www_authenticate)
      ret = crio_error(err, EPROTO, "GET %s: 401 without WWW-Authenticate", url);
    else if (img_auth_challenge_parse(resp.www_authenticate, &r->challenge, err) < 0)
      ret = crio_error_prefix(err, "GET %s", url);
  } else if (resp.status != 200) {
    cleanup_free char *why = http_error_summary(&resp);
    ret = crio_error(err, EPROTO, "GET %s: HTTP %ld%s%s (not a registry?)", url, resp.status,
                     why[0] ? ": " : "", why);
  }
  http_response_clear(&resp);
  return ret;
}

int img_repo_open(struct img_registry_client *client, const struct img_pull_source *source,
                  const struct img_auth *auth, struct img_repo **out, crio_error_t *err) {
  struct img_repo *r = xzalloc(sizeof(*r));
  cleanup_free char *https = xasprintf("https://%s", source->host);
  r->client = client;
  r->host = xstrdup(source->host);
  r->repository = xstrdup(source->repository);
  r->insecure = source->insecure;
  r->scope = xasprintf("repository:%s:pull", source->repository);
  if (auth_creds_from(auth, &r->creds, err) < 0) {
    img_repo_free(r);
    return -1;
  }
  if (ping(r, https, err) == 0) {
    r->origin = steal_pointer(&https);
  } else if (r->insecure) {
    /* An insecure registry may speak plain HTTP: try it, as
     * containers/image does, after https failed for any reason. */
    cleanup_error crio_error_t https_err = steal_pointer(err);
    cleanup_free char *http = xasprintf("http://%s", source->host);
    img_auth_challenge_clear(&r->challenge);
    cleanup_error crio_error_t http_err = NULL;
    if (ping(r, http, &http_err) < 0) {
      crio_error(err, crio_error_status(&http_err), "%s; %s", crio_error_message(&https_err),
                 crio_error_message(&http_err));
      img_repo_free(r);
      return -1;
    }
    r->origin = steal_pointer(&http);
  } else {
    img_repo_free(r);
    return -1;
  }
  *out = r;
  return 0;
}

/* A GET on the repository's API with authentication: a cached token that
 * is refused is refetched once before giving up. */
static int repo_get(struct img_repo *r, const char *url, const char *accept,
                    struct http_request *req, struct http_response *resp, crio_error_t *err) {
  for (int attempt = 0;; attempt++) {
    cleanup_free char *authorization = NULL;
    if (auth_authorization(r->client, r->origin, r->insecure, &r->challenge, &r->creds, r->scope,
                           attempt > 0, &authorization, err) < 0)
      return crio_error_prefix(err, "%s", r->host);
    req->url = url;
    req->accept = accept;
    req->insecure = r->insecure;
    req->authorization = authorization;
    int ret = http_perform(r->client, req, resp, err);
    if (authorization)
      explicit_bzero(authorization, strlen(authorization));
    if (ret < 0)
      return -1;
    if (resp->status == 401 && attempt == 0 && r->challenge.scheme == IMG_AUTH_BEARER &&
        !r->creds.registry_token) {
      http_response_clear(resp);
      continue;
    }
    return 0;
  }
}

/* An error for a non-2xx answer about what (a manifest or blob). */
static int status_error(const struct img_repo *r, const char *url, const struct http_response *resp,
                        crio_error_t *err) {
  cleanup_free char *why = http_error_summary(resp);
  const char *sep = why[0] ? ": " : "";
  switch (resp->status) {
  case 401:
    if (r->challenge.scheme == IMG_AUTH_BASIC && !r->creds.username)
      return crio_error(err, EACCES, "GET %s: authentication required%s%s", url, sep, why);
    return crio_error(err, EACCES, "GET %s: unauthorized (HTTP 401)%s%s", url, sep, why);
  case 403:
    return crio_error(err, EACCES, "GET %s: forbidden (HTTP 403)%s%s", url, sep, why);
  case 404:
    return crio_error(err, ENOENT, "GET %s: not found%s%s", url, sep, why);
  case 429:
    return crio_error(err, EAGAIN, "GET %s: too many requests (HTTP 429)%s%s", url, sep, why);
  default:
    return crio_error(err, EPROTO, "GET %s: HTTP %ld%s%s", url, resp->status, sep, why);
  }
}

void img_fetched_manifest_clear(struct img_fetched_manifest *m) {
  free(m->body);
  free(m->media_type);
  free(m->digest);
  memset(m, 0, sizeof(*m));
}

/* "type/subtype; charset=..." -> "type/subtype" */
static char *bare_media_type(const char *content_type) {
  if (!content_type)
    return NULL;
  size_t len = strcspn(content_type, ";");
  while (len && (content_type[len - 1] == ' ' || content_type[len - 1] == '\t'))
    len--;
  return len ? xstrndup(content_type, len) : NULL;
}

int img_repo_get_manifest(struct img_repo *r, const char *ref, struct img_fetched_manifest *out,
                          crio_error_t *err) {
  cleanup_free char *url = xasprintf("%s/v2/%s/manifests/%s", r->origin, r->repository, ref);
  struct http_request req = {.max_body = IMG_MANIFEST_MAX};
  struct http_response resp = {0};
  bool by_digest = strchr(ref, ':') != NULL;
  memset(out, 0, sizeof(*out));

  if (by_digest && img_digest_validate(ref, err) < 0)
    return -1;
  if (repo_get(r, url, MANIFEST_ACCEPT, &req, &resp, err) < 0)
    return crio_error_prefix(err, "manifest %s", ref);
  if (resp.status != 200) {
    status_error(r, url, &resp, err);
    http_response_clear(&resp);
    return -1;
  }
  /* Pulled by digest: the body must hash to it.  By tag: to what the
   * registry says it is, when it says (then the digest a later pull by
   * digest would use is the one we computed). */
  const char *expected = by_digest ? ref : resp.docker_content_digest;
  if (expected) {
    cleanup_error crio_error_t verr = NULL;
    if (img_digest_verify(expected, resp.body ? resp.body : "", resp.body_len, &verr) < 0) {
      int status = crio_error_status(&verr);
      crio_error(err, status, "manifest %s from %s: %s", ref, url, crio_error_message(&verr));
      http_response_clear(&resp);
      return -1;
    }
    out->digest = xstrdup(expected);
  } else {
    out->digest = img_digest_sha256(resp.body ? resp.body : "", resp.body_len);
  }
  out->body = resp.body ? steal_pointer(&resp.body) : xstrdup("");
  out->len = resp.body_len;
  out->media_type = bare_media_type(resp.content_type);
  http_response_clear(&resp);
  return 0;
}

/* The sink in front of the caller's: counts, bounds and hashes. */
struct blob_stream {
  struct img_digester *digester;
  img_blob_sink sink;
  void *opaque;
  uint64_t bytes;
  int64_t expected_size;
  const char *digest;
};

static int blob_chunk(void *opaque, const void *data, size_t len, crio_error_t *err) {
  struct blob_stream *s = opaque;
  if (s->expected_size >= 0 && s->bytes + len > (uint64_t)s->expected_size)
    return crio_error(err, EFBIG, "blob %s: more than the %" PRId64 " bytes its descriptor says",
                      s->digest, s->expected_size);
  img_digester_update(s->digester, data, len);
  s->bytes += len;
  return s->sink(s->opaque, data, len, err);
}

int img_repo_get_blob(struct img_repo *r, const char *digest, int64_t expected_size,
                      img_blob_sink sink, void *opaque, struct img_blob_progress *progress,
                      crio_error_t *err) {
  cleanup_img_digester struct img_digester *digester = NULL;
  cleanup_free char *url = NULL;
  struct blob_stream stream = {
      .sink = sink, .opaque = opaque, .expected_size = expected_size, .digest = digest};
  struct http_request req = {.sink = blob_chunk, .opaque = &stream, .follow_redirects = true};
  struct http_response resp = {0};
  int ret;

  if (img_digester_new(digest, &digester, err) < 0)
    return crio_error_prefix(err, "blob");
  stream.digester = digester;
  if (progress) {
    progress->bytes = 0;
    progress->expected = expected_size > 0 ? (uint64_t)expected_size : 0;
  }
  url = xasprintf("%s/v2/%s/blobs/%s", r->origin, r->repository, digest);
  ret = repo_get(r, url, NULL, &req, &resp, err);
  if (progress)
    progress->bytes = stream.bytes;
  if (ret < 0)
    return crio_error_prefix(err, "blob %s", digest);
  if (resp.status != 200) {
    status_error(r, url, &resp, err);
    http_response_clear(&resp);
    return -1;
  }
  http_response_clear(&resp);
  if (expected_size >= 0 && stream.bytes != (uint64_t)expected_size)
    return crio_error(err, EBADMSG,
                      "blob %s: got %" PRIu64 " bytes, its "
                      "descriptor says %" PRId64,
                      digest, stream.bytes, expected_size);
  if (img_digester_finish(digester, err) < 0)
    return crio_error_prefix(err, "blob from %s", url);
  return 0;
}

struct mem_sink {
  char *data;
  size_t len, cap, max;
  const char *digest;
};

static int mem_chunk(void *opaque, const void *data, size_t len, crio_error_t *err) {
  struct mem_sink *m = opaque;
  if (m->len + len > m->max)
    return crio_error(err, EFBIG, "blob %s: larger than %zu bytes", m->digest, m->max);
  if (m->len + len + 1 > m->cap) {
    m->cap = (m->len + len + 1) * 2;
    m->data = xrealloc(m->data, m->cap);
  }
  memcpy(m->data + m->len, data, len);
  m->len += len;
  m->data[m->len] = '\0';
  return 0;
}

int img_repo_get_blob_mem(struct img_repo *r, const char *digest, size_t max_size, char **out,
                          size_t *len, crio_error_t *err) {
  struct mem_sink m = {.max = max_size, .digest = digest};
  if (img_repo_get_blob(r, digest, -1, mem_chunk, &m, NULL, err) < 0) {
    free(m.data);
    return -1;
  }
  *out = m.data ? m.data : xstrdup("");
  *len = m.len;
  return 0;
}
