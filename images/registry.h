/* images/registry.h: the registry client part of images/ — image
 * references, registries.conf, the distribution HTTP API (auth, tokens,
 * TLS, mirrors), manifests and indexes, digests, and streaming blob
 * downloads.  Internal to images/: images/images.h is the folder's
 * interface and re-exports what the rest of the daemon needs.
 *
 * Error statuses (crio_error_t), so callers and cri/ can tell cases apart:
 *   EINVAL     a malformed reference, registries.conf or argument
 *   EACCES     a registry blocked by registries.conf, or credentials refused
 *              (401/403 after authenticating)
 *   ENOENT     manifest or blob unknown to the registry (404)
 *   EBADMSG    a digest mismatch, or a manifest/index/config that does not
 *              parse or lacks required fields
 *   ENOTSUP    Docker schema 1, an unknown media type or digest algorithm
 *   EFBIG      a manifest over IMG_MANIFEST_MAX, a config over
 *              IMG_CONFIG_MAX, or a blob larger than its descriptor says
 *   ETIMEDOUT  a transfer slower than low_speed_limit for low_speed_time
 *              seconds (curl averages over a few seconds, so a stall right
 *              after a burst is noticed a little later), or a timeout
 *   EHOSTUNREACH / ECONNREFUSED  the registry cannot be reached
 *   EPROTO     TLS failures and other protocol errors (unexpected status,
 *              a token server answer without a token)
 *   ECANCELED  a blob sink asked to stop
 * Messages name the reference or URL they are about.
 *
 * Threads: a struct img_registry_client and a struct img_repo may be used
 * from several threads at once (one curl easy handle per request, sharing
 * connections, DNS and TLS sessions through a locked curl share; the token
 * cache has its own lock), so layers can download in parallel. */
#ifndef CRIO_IMAGES_REGISTRY_H
#define CRIO_IMAGES_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define IMG_DEFAULT_DOMAIN "docker.io"
#define IMG_DEFAULT_TAG "latest"
/* Where registries.conf and per-registry certificates live by default. */
#define IMG_REGISTRIES_CONF_PATH "/etc/containers/registries.conf"
#define IMG_CERTS_DIR "/etc/containers/certs.d"

/* Size limits: a manifest or index is read into memory whole, and so is an
 * image config; a hostile registry must not make us allocate without bound. */
#define IMG_MANIFEST_MAX (4 * 1024 * 1024)
#define IMG_CONFIG_MAX (8 * 1024 * 1024)

/* ==== references (reference.c) ==========================================
 * The grammar of github.com/distribution/reference:
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path            (at most 255 characters)
 *   domain     := host [ ":" port ]              host: DNS labels or [IPv6]
 *   path       := component ( "/" component )*
 *   component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest     := algorithm ":" hex              (sha256: 64, sha512: 128)
 *
 * The first of several components is a domain when it contains '.' or ':',
 * is "localhost", or has an uppercase letter (docker's rule: a path cannot,
 * so "Foo/bar" is registry "Foo").  Normalisation (docker's):
 *   busybox                    -> docker.io/library/busybox:latest
 *   index.docker.io/x/y        -> docker.io/x/y:latest
 *   docker.io/busybox          -> docker.io/library/busybox:latest
 * A digest-only reference keeps tag NULL; "latest" is added only when the
 * text has neither tag nor digest.  A 64-hex string alone is refused (it
 * would be an image id, which is the caller's to look up). */
struct img_reference {
  char *domain; /* "docker.io", "quay.io", "localhost:5000", "[::1]:5000" */
  char *path;   /* "library/busybox" */
  char *tag;    /* NULL when the reference has only a digest */
  char *digest; /* "sha256:<hex>", or NULL */
  /* The text named no domain: registries.conf's
   * unqualified-search-registries decide where to look (see
   * img_registries_short_name_candidates).  domain is docker.io meanwhile. */
  bool short_name;
  /* path got "library/" from docker.io normalisation ("busybox"); dropped
   * again when a short name is tried on another registry. */
  bool implicit_library;
};

int img_reference_parse(const char *text, struct img_reference *out, crio_error_t *err);
/* "domain/path[:tag][@digest]", malloc'd. */
char *img_reference_format(const struct img_reference *ref);
/* "domain/path", malloc'd. */
char *img_reference_name(const struct img_reference *ref);
/* Deep copy; with a new domain when domain is non-NULL (short_name off,
 * and an implicit "library/" kept only on docker.io). */
void img_reference_copy(struct img_reference *dst, const struct img_reference *src,
                        const char *domain);
void img_reference_clear(struct img_reference *ref);
#define cleanup_img_reference __attribute__((cleanup(img_reference_clear)))

/* ==== digests (digest.c) ===================================================
 * "algorithm:hex" with lowercase hex; sha256 and sha512 (OpenSSL EVP). */
int img_digest_validate(const char *digest, crio_error_t *err);
/* "sha256:<hex>" of data, malloc'd. */
char *img_digest_sha256(const void *data, size_t len);
/* "sha256:<hex>" -> "<hex>" (pointer into digest), NULL if malformed. */
const char *img_digest_hex(const char *digest);
/* 0 when data hashes to expected; EBADMSG naming both digests if not. */
int img_digest_verify(const char *expected, const void *data, size_t len, crio_error_t *err);

/* Incremental verification of a stream. */
struct img_digester;
int img_digester_new(const char *expected, struct img_digester **out, crio_error_t *err);
void img_digester_update(struct img_digester *d, const void *data, size_t len);
/* Compares with the expected digest: EBADMSG on mismatch.  Call once. */
int img_digester_finish(struct img_digester *d, crio_error_t *err);
void img_digester_free(struct img_digester *d);
void cleanup_img_digesterp(struct img_digester **d);
#define cleanup_img_digester __attribute__((cleanup(cleanup_img_digesterp)))

/* ==== registries.conf v2 (registries_conf.c) =================================
 *   unqualified-search-registries = ["docker.io", "quay.io"]
 *   [[registry]]
 *   prefix = "example.com/foo"   # or "*.example.com"; defaults to location
 *   location = "internal:5000/bar"
 *   insecure = false             # plain http allowed, TLS not verified
 *   blocked = false
 *   [[registry.mirror]]
 *   location = "mirror.local/foo"
 *   insecure = true
 * The [[registry]] whose prefix is the longest match of a reference's
 * "domain/path" (matching at a '/' or ':' boundary or whole) applies. */
struct img_registries_conf;

/* An absent file is an empty configuration (docker.io for short names). */
int img_registries_conf_load(const char *path, struct img_registries_conf **out, crio_error_t *err);
int img_registries_conf_parse(const char *text, size_t len, const char *label,
                              struct img_registries_conf **out, crio_error_t *err);
void img_registries_conf_free(struct img_registries_conf *conf);
void cleanup_img_registries_confp(struct img_registries_conf **conf);
#define cleanup_img_registries_conf __attribute__((cleanup(cleanup_img_registries_confp)))

/* Fully qualified references to try, in order, for a reference: for a
 * short name one per unqualified-search-registries entry ("docker.io" when
 * the list is empty or conf is NULL), otherwise the reference itself.
 * Release with img_references_free. */
int img_registries_short_name_candidates(const struct img_registries_conf *conf,
                                         const struct img_reference *ref,
                                         struct img_reference **out, size_t *n_out,
                                         crio_error_t *err);
void img_references_free(struct img_reference *refs, size_t n);

/* Where to fetch a qualified reference from. */
struct img_pull_source {
  char *host;       /* "host[:port]" to connect to */
  char *repository; /* path on that host: the location's path + the rest */
  bool insecure;    /* http allowed, TLS unverified: this host only */
  bool mirror;      /* a [[registry.mirror]] rather than the primary */
};
/* The mirrors of the matching [[registry]] in order, then its location
 * (or the reference's own domain when nothing matches).  EACCES when the
 * matching entry is blocked.  docker.io is reached at registry-1.docker.io. */
int img_registries_pull_sources(const struct img_registries_conf *conf,
                                const struct img_reference *ref, struct img_pull_source **out,
                                size_t *n_out, crio_error_t *err);
void img_pull_sources_free(struct img_pull_source *sources, size_t n);

/* ==== HTTP client and the distribution API (http.c, auth.c) ================= */

/* Credentials, as CRI's AuthConfig carries them.  Every field may be NULL
 * or "".  auth is base64("user:pass") and wins over username/password;
 * identity_token is an OAuth2 refresh token exchanged at the token
 * server (POST grant_type=refresh_token); registry_token is a bearer
 * token sent as is. */
struct img_auth {
  const char *username;
  const char *password;
  const char *auth;
  const char *identity_token;
  const char *registry_token;
};

struct img_registry_options {
  /* Root of HOST[:PORT]/{*.crt,*.cert,*.key}; NULL for IMG_CERTS_DIR. */
  const char *certs_dir;
  /* Seconds; 0 means the default in parentheses. */
  long connect_timeout;   /* (30) */
  long request_timeout;   /* whole manifest/token request (120); not blobs */
  long low_speed_time;    /* a transfer below low_speed_limit for this long
                             is cancelled with ETIMEDOUT (60) */
  long low_speed_limit;   /* bytes per second (1) */
  const char *user_agent; /* NULL for "crio-c/VERSION" */
};

struct img_registry_client;
int img_registry_client_new(const struct img_registry_options *options,
                            struct img_registry_client **out, crio_error_t *err);
void img_registry_client_free(struct img_registry_client *client);
void cleanup_img_registry_clientp(struct img_registry_client **client);
#define cleanup_img_registry_client __attribute__((cleanup(cleanup_img_registry_clientp)))

/* One repository on one endpoint, with credentials for it.  Opening pings
 * /v2/ (https first; http too when the source is insecure) and learns the
 * authentication challenge; tokens are fetched on demand and cached in the
 * client per registry + scope until they expire. */
struct img_repo;
int img_repo_open(struct img_registry_client *client, const struct img_pull_source *source,
                  const struct img_auth *auth, struct img_repo **out, crio_error_t *err);
void img_repo_free(struct img_repo *repo);
void cleanup_img_repop(struct img_repo **repo);
#define cleanup_img_repo __attribute__((cleanup(cleanup_img_repop)))

/* A manifest or index by tag or digest, at most IMG_MANIFEST_MAX bytes.
 * When reference is a digest the body is verified against it; otherwise
 * against Docker-Content-Digest when the registry sends one.  *digest is
 * the body's digest (sha256 unless reference says otherwise). */
struct img_fetched_manifest {
  char *body;
  size_t len;
  char *media_type; /* Content-Type, or NULL */
  char *digest;
};
int img_repo_get_manifest(struct img_repo *repo, const char *tag_or_digest,
                          struct img_fetched_manifest *out, crio_error_t *err);
void img_fetched_manifest_clear(struct img_fetched_manifest *m);

/* Receives a blob's bytes as they arrive.  Returning -1 (with err set)
 * stops the download; the download then fails with that error. */
typedef int (*img_blob_sink)(void *opaque, const void *data, size_t len, crio_error_t *err);
struct img_blob_progress {
  uint64_t bytes;    /* delivered to the sink */
  uint64_t expected; /* from the descriptor; 0 if unknown */
};
/* Streams a blob to sink, following redirects to blob storage (without
 * sending our Authorization to another host), hashing as it goes.  Fails
 * with EBADMSG at the end when the digest differs, with EFBIG as soon as
 * more than expected_size bytes arrive (expected_size < 0: unknown).  The
 * sink may have seen every byte by then: a consumer must treat its output
 * as untrusted until this returns 0.  progress may be NULL. */
int img_repo_get_blob(struct img_repo *repo, const char *digest, int64_t expected_size,
                      img_blob_sink sink, void *opaque, struct img_blob_progress *progress,
                      crio_error_t *err);
/* A blob into memory (a config), verified, at most max_size bytes. */
int img_repo_get_blob_mem(struct img_repo *repo, const char *digest, size_t max_size, char **out,
                          size_t *len, crio_error_t *err);

/* ==== authentication challenges (auth.c) =====================================
 * Parsed WWW-Authenticate: a scheme and its parameters (quoted strings
 * unescaped).  Exposed for tests. */
enum img_auth_scheme { IMG_AUTH_NONE = 0, IMG_AUTH_BASIC, IMG_AUTH_BEARER };
struct img_auth_challenge {
  enum img_auth_scheme scheme;
  char *realm;
  char *service;
  char *scope;
};
/* Of several challenges in one header, Bearer is preferred to Basic.  EINVAL
 * for a header that does not parse or names only unknown schemes. */
int img_auth_challenge_parse(const char *header, struct img_auth_challenge *out, crio_error_t *err);
void img_auth_challenge_clear(struct img_auth_challenge *c);

/* ==== manifests (manifest.c, platform.c) ====================================== */
#define IMG_MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMG_MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMG_MEDIA_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMG_MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MEDIA_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

struct img_platform {
  char *os;           /* "linux" */
  char *architecture; /* GOARCH: "amd64", "arm64", "arm", "386", ... */
  char *variant;      /* "v8", "v7", ... or NULL */
};
/* This host's platform, in GOARCH names from uname(2). */
void img_platform_host(struct img_platform *out);
/* GOARCH aliases (x86_64, aarch64, armhf...) to canonical names; arm64's
 * variant "v8" (and "8") counts as none, arm's default variant is v7. */
void img_platform_normalize(struct img_platform *p);
void img_platform_clear(struct img_platform *p);

struct img_descriptor {
  char *media_type;
  char *digest;
  int64_t size;
  struct img_platform platform; /* index entries only; fields may be NULL */
};

enum img_manifest_kind {
  IMG_MANIFEST_IMAGE, /* OCI image manifest or Docker schema 2 */
  IMG_MANIFEST_INDEX, /* OCI index or Docker manifest list */
};
struct img_manifest {
  enum img_manifest_kind kind;
  char *media_type;
  /* IMG_MANIFEST_IMAGE */
  struct img_descriptor config;
  struct img_descriptor *layers;
  size_t n_layers;
  /* IMG_MANIFEST_INDEX */
  struct img_descriptor *manifests;
  size_t n_manifests;
};
/* Parses a manifest or index; content_type (may be NULL) is what the
 * registry said, the body's mediaType wins when both exist and must agree
 * with it in kind.  Every descriptor's digest is validated.  ENOTSUP for
 * schema 1 ("unsupported: Docker schema 1 manifest ..."). */
int img_manifest_parse(const char *body, size_t len, const char *content_type,
                       struct img_manifest **out, crio_error_t *err);
void img_manifest_free(struct img_manifest *m);
void cleanup_img_manifestp(struct img_manifest **m);
#define cleanup_img_manifest __attribute__((cleanup(cleanup_img_manifestp)))
/* The index entry for platform (img_platform_host() when NULL): exact
 * os/architecture, then the best variant (exact, else none given, else for
 * arm the highest variant not above ours).  ENOENT listing what the index
 * offers when nothing fits. */
int img_index_select(const struct img_manifest *index, const struct img_platform *platform,
                     const struct img_descriptor **out, crio_error_t *err);

/* ==== pulling an image's metadata (fetch.c) ===================================
 * Resolves a reference (short names through unqualified-search-registries,
 * then mirrors before the primary), fetches the manifest, descends from an
 * index to this platform's manifest, and fetches the config.  The first
 * source that has the image wins; ENOENT/EACCES/network errors move on to
 * the next, and the error returned at the end lists every attempt. */
struct img_pull {
  struct img_reference ref; /* the qualified reference that was found */
  struct img_pull_source source;
  struct img_repo *repo;                /* open, for img_pull_blob */
  char *manifest_digest;                /* of the image manifest (after the index) */
  char *index_digest;                   /* of the index, or NULL */
  struct img_fetched_manifest manifest; /* the image manifest's bytes */
  struct img_manifest *parsed;          /* kind == IMG_MANIFEST_IMAGE */
  char *config;                         /* config blob, verified */
  size_t config_len;
};
/* conf may be NULL (no registries.conf), auth NULL (anonymous), platform
 * NULL (this host). */
int img_pull_manifest(struct img_registry_client *client, const struct img_registries_conf *conf,
                      const char *image, const struct img_auth *auth,
                      const struct img_platform *platform, struct img_pull **out,
                      crio_error_t *err);
/* Streams layer i of the pulled manifest to sink (img_repo_get_blob). */
int img_pull_layer(struct img_pull *pull, size_t i, img_blob_sink sink, void *opaque,
                   struct img_blob_progress *progress, crio_error_t *err);
void img_pull_free(struct img_pull *pull);
void cleanup_img_pullp(struct img_pull **pull);
#define cleanup_img_pull __attribute__((cleanup(cleanup_img_pullp)))

#endif
