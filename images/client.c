/* The registry client's lifecycle: the share of DNS and TLS sessions
 * between handles and the pool of handles http.c makes and reuses (both
 * freed here before libcurl is unloaded: pull_libs.h), and the token cache
 * auth.c fills.  Apart from http.c and auth.c
 * so neither needs the other to make or free a client: auth.c asks http.c
 * for tokens, and http.c knows nothing of auth. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/registry_http.h"

/* Before libcurl is unloaded (no request in flight anywhere). */
static void drop_curl(void *opaque) {
  struct img_registry_client *c = opaque;
  pthread_mutex_lock(&c->pool_lock);
  for (size_t i = 0; i < c->pool_len; i++)
    img_curl_easy_cleanup(c->pool[i]);
  c->pool_len = 0;
  if (c->share)
    img_curl_share_cleanup(c->share);
  c->share = NULL;
  pthread_mutex_unlock(&c->pool_lock);
}

int img_registry_client_new(const struct img_registry_options *options,
                            struct img_registry_client **out, crio_error_t *err) {
  static const struct img_registry_options defaults = {0};
  const struct img_registry_options *o = options ? options : &defaults;

  struct img_registry_client *c = xzalloc(sizeof(*c));
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init(&c->share_locks[i], NULL);
  pthread_mutex_init(&c->pool_lock, NULL);
  pthread_mutex_init(&c->tokens_lock, NULL);
  c->pool = xcalloc(IMG_REGISTRY_POOL_MAX, sizeof(*c->pool));
  c->certs_dir = xstrdup(o->certs_dir ? o->certs_dir : IMG_CERTS_DIR);
  c->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : 30;
  c->request_timeout = o->request_timeout > 0 ? o->request_timeout : 120;
  c->low_speed_time = o->low_speed_time > 0 ? o->low_speed_time : 60;
  c->low_speed_limit = o->low_speed_limit > 0 ? o->low_speed_limit : 1;
  c->user_agent = o->user_agent ? xstrdup(o->user_agent) : xstrdup("crio-c/" CRIO_VERSION);
  c->libs_user.drop = drop_curl;
  c->libs_user.opaque = c;
  img_pull_libs_register(&c->libs_user);
  *out = c;
  return 0;
}

void img_registry_client_free(struct img_registry_client *c) {
  if (!c)
    return;
  img_pull_libs_unregister(&c->libs_user); /* frees the pool's handles and the share */
  free(c->pool);
  auth_tokens_free(c);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_destroy(&c->share_locks[i]);
  pthread_mutex_destroy(&c->pool_lock);
  pthread_mutex_destroy(&c->tokens_lock);
  free(c->certs_dir);
  free(c->user_agent);
  free(c);
}

void cleanup_img_registry_clientp(struct img_registry_client **c) {
  img_registry_client_free(*c);
  *c = NULL;
}
