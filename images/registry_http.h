/* Private to the registry client files of images/ (http.c, auth.c,
 * repo.c): the client object and one HTTP exchange over libcurl. */
#ifndef CRIO_IMAGES_REGISTRY_HTTP_H
#define CRIO_IMAGES_REGISTRY_HTTP_H

#include <pthread.h>

#include "images/pull_libs.h"
#include "images/registry.h"

struct token_entry;

/* Idle curl handles the client keeps for reuse. */
#define IMG_REGISTRY_POOL_MAX 8

struct img_registry_client {
  /* DNS and TLS sessions are shared between threads; connections are not
   * (libcurl does not support sharing its connection cache between
   * concurrent threads), so idle easy handles, which keep their
   * connections open, are pooled instead. */
  CURLSH *share; /* made on first use (pool_lock), dropped with the libraries */
  pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
  pthread_mutex_t pool_lock;
  CURL **pool;
  size_t pool_len;
  /* libcurl is loaded only while pulls use it (pull_libs.h): before it
   * goes, the pooled handles and the share are freed. */
  struct img_pull_libs_user libs_user;

  char *certs_dir;
  long connect_timeout, request_timeout, low_speed_time, low_speed_limit;
  char *user_agent;

  pthread_mutex_t tokens_lock;
  struct token_entry *tokens; /* auth.c */
};

struct http_request {
  const char *method; /* "GET" (default) or "POST" */
  const char *url;
  /* The whole Authorization value ("Bearer ..."); sent to url's origin
   * only, never to a host a redirect leads to. */
  const char *authorization;
  const char *accept;
  const char *content_type; /* POST */
  const char *body;         /* POST */
  size_t body_len;
  /* TLS unverified for url's origin (an insecure registry); a redirect to
   * another origin is verified. */
  bool insecure;
  bool follow_redirects;
  /* 2xx bodies go to sink when set (no overall timeout, only the low-speed
   * one); otherwise into response.body, failing with EFBIG past max_body. */
  img_blob_sink sink;
  void *opaque;
  size_t max_body;
};

struct http_response {
  long status;
  /* 2xx body without a sink; otherwise the start of an error body. */
  char *body;
  size_t body_len;
  char *content_type;
  char *docker_content_digest;
  char *www_authenticate;
  char *final_url; /* after redirects */
};

/* http.c: makes the client's curl share if libcurl was (re)loaded since
 * the last request; the caller holds the pull libraries.  (client.c frees
 * it; making it here keeps http.c from calling client.c, which calls
 * auth.c, which calls http.c.) */
int client_share_ready(struct img_registry_client *client, crio_error_t *err);

/* One exchange.  Fails only when no HTTP answer arrived (or the sink
 * failed); any status is returned in resp for the caller to judge. */
int http_perform(struct img_registry_client *client, const struct http_request *req,
                 struct http_response *resp, crio_error_t *err);
void http_response_clear(struct http_response *resp);

/* "scheme://host[:port]" of url, malloc'd; NULL if url does not parse. */
char *http_url_origin(const char *url);
/* curl_easy_escape without a handle; malloc'd. */
char *http_escape(const char *s);
/* The registry's own words from an error body ({"errors":[{"code",
 * "message"}]}), or a short excerpt of a body that is not that; malloc'd. */
char *http_error_summary(const struct http_response *resp);

/* auth.c: credentials and tokens. */
struct auth_creds {
  char *username, *password; /* from username/password or auth */
  char *identity_token;
  char *registry_token;
};
/* Decodes CRI's AuthConfig (auth = base64 "user:pass" wins). */
int auth_creds_from(const struct img_auth *auth, struct auth_creds *out, crio_error_t *err);
void auth_creds_clear(struct auth_creds *c);

/* The Authorization value for a request answering challenge, or *out NULL
 * for none.  A bearer token comes from the client's cache unless fresh,
 * else from the token server (realm), and is cached per registry, scope
 * and credentials until it expires.  registry_origin is the registry's
 * "scheme://host[:port]": an insecure registry's token server is unverified
 * only when it is on that same origin. */
int auth_authorization(struct img_registry_client *client, const char *registry_origin,
                       bool insecure, const struct img_auth_challenge *challenge,
                       const struct auth_creds *creds, const char *scope, bool fresh, char **out,
                       crio_error_t *err);
void auth_tokens_free(struct img_registry_client *client);
/* The token server's answer (docker's token spec): "token" or
 * "access_token", and "expires_in" clamped to [60 s, 24 h].  EPROTO when
 * there is no token.  Exposed for the fuzz target. */
int auth_token_response_parse(const struct http_response *resp, const char *realm, char **token,
                              int64_t *lifetime_s, crio_error_t *err);

#endif
