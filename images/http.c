/* One HTTP exchange with a registry over libcurl: TLS against the system
 * CAs plus certs.d, client certificates, insecure origins, redirects
 * followed by hand so that Authorization never leaves its origin, bodies
 * into memory (bounded) or into a streaming sink. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "images/registry_http.h"

#define MAX_REDIRECTS 10
/* How much of a non-2xx body is kept for the error message. */
#define ERROR_BODY_MAX (64 * 1024)

static CURL *pool_take(struct img_registry_client *c) {
  CURL *h = NULL;
  pthread_mutex_lock(&c->pool_lock);
  if (c->pool_len > 0)
    h = c->pool[--c->pool_len];
  pthread_mutex_unlock(&c->pool_lock);
  return h ? h : img_curl_easy_init();
}

/* A handle keeps its idle connections across curl_easy_reset, which is
 * what makes pooling worth it. */
static void pool_give(struct img_registry_client *c, CURL *h) {
  img_curl_easy_reset(h);
  pthread_mutex_lock(&c->pool_lock);
  if (c->pool_len < IMG_REGISTRY_POOL_MAX) {
    c->pool[c->pool_len++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&c->pool_lock);
  if (h)
    img_curl_easy_cleanup(h);
}

/* ---- URLs ---------------------------------------------------------------- */

struct url_parts {
  char *scheme, *host, *port; /* port NULL when the URL names none */
};

static void url_parts_clear(struct url_parts *p) {
  img_curl_free(p->scheme);
  img_curl_free(p->host);
  img_curl_free(p->port);
  memset(p, 0, sizeof(*p));
}

static int url_split(const char *url, struct url_parts *out) {
  CURLU *u = img_curl_url();
  int ret = -1;
  memset(out, 0, sizeof(*out));
  if (u && img_curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      img_curl_url_get(u, CURLUPART_SCHEME, &out->scheme, 0) == CURLUE_OK &&
      img_curl_url_get(u, CURLUPART_HOST, &out->host, 0) == CURLUE_OK) {
    if (img_curl_url_get(u, CURLUPART_PORT, &out->port, 0) != CURLUE_OK)
      out->port = NULL;
    ret = 0;
  }
  img_curl_url_cleanup(u);
  if (ret < 0)
    url_parts_clear(out);
  return ret;
}

char *http_url_origin(const char *url) {
  cleanup_error crio_error_t err = NULL;
  if (img_pull_libs_hold(&err) < 0) {
    log_warning("registry: %s", crio_error_message(&err));
    return NULL;
  }
  struct url_parts p;
  char *origin = NULL;
  if (url_split(url, &p) == 0) {
    origin = xasprintf("%s://%s%s%s", p.scheme, p.host, p.port ? ":" : "", p.port ? p.port : "");
    url_parts_clear(&p);
  }
  img_pull_libs_release();
  return origin;
}

/* RFC 3986's unreserved characters stay, every other byte is %XX, as
 * curl_easy_escape does (without needing libcurl loaded). */
char *http_escape(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t len = strlen(s);
  char *out = xmalloc(3 * len + 1), *o = out;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '.' || *p == '_' || *p == '~') {
      *o++ = (char)*p;
    } else {
      *o++ = '%';
      *o++ = hex[*p >> 4];
      *o++ = hex[*p & 15];
    }
  }
  *o = '\0';
  return out;
}

/* ---- TLS material from certs.d --------------------------------------------
 * containers-certs.d(5): HOST[:PORT]/ holds *.crt (CAs to trust in addition
 * to the system's), and *.cert + *.key pairs (a client certificate). */

struct tls_files {
  char **cas; /* NULL-terminated */
  size_t n_cas;
  char *client_cert, *client_key;
};

static void tls_files_clear(struct tls_files *t) {
  for (size_t i = 0; i < t->n_cas; i++)
    free(t->cas[i]);
  free(t->cas);
  free(t->client_cert);
  free(t->client_key);
  memset(t, 0, sizeof(*t));
}

static bool has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int tls_files_load(const char *certs_dir, const char *hostport, struct tls_files *out,
                          crio_error_t *err) {
  cleanup_free char *dir = xasprintf("%s/%s", certs_dir, hostport);
  cleanup_dir DIR *d = opendir(dir);
  struct dirent *e;
  memset(out, 0, sizeof(*out));
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR)
      return 0;
    return crio_error_errno(err, errno, "open %s", dir);
  }
  cleanup_strv char **names = xcalloc(1, sizeof(char *));
  size_t n = 0;
  while ((e = readdir(d)) != NULL) {
    if (has_suffix(e->d_name, ".crt") || has_suffix(e->d_name, ".cert") ||
        has_suffix(e->d_name, ".key")) {
      names = xrealloc(names, (n + 2) * sizeof(char *));
      names[n++] = xstrdup(e->d_name);
      names[n] = NULL;
    }
  }
  qsort(names, n, sizeof(char *), name_cmp); /* deterministic order */
  out->cas = xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    const char *name = names[i];
    if (has_suffix(name, ".crt")) {
      out->cas[out->n_cas++] = xasprintf("%s/%s", dir, name);
    } else if (has_suffix(name, ".cert")) {
      cleanup_free char *key = xasprintf("%s/%.*s.key", dir, (int)(strlen(name) - 5), name);
      struct stat st;
      if (stat(key, &st) < 0) {
        tls_files_clear(out);
        return crio_error(err, EINVAL,
                          "client certificate %s/%s has no "
                          "key %s",
                          dir, name, key);
      }
      if (!out->client_cert) {
        out->client_cert = xasprintf("%s/%s", dir, name);
        out->client_key = steal_pointer(&key);
      }
    } else { /* .key */
      cleanup_free char *cert = xasprintf("%s/%.*s.cert", dir, (int)(strlen(name) - 4), name);
      struct stat st;
      if (stat(cert, &st) < 0) {
        tls_files_clear(out);
        return crio_error(err, EINVAL,
                          "key %s/%s has no client "
                          "certificate %s",
                          dir, name, cert);
      }
    }
  }
  return 0;
}

/* Adds certs.d CAs to the store curl has filled with the system CAs. */
static CURLcode add_cas(CURL *curl, void *sslctx, void *userptr) {
  const struct tls_files *t = userptr;
  X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);
  (void)curl;
  for (size_t i = 0; i < t->n_cas; i++) {
    BIO *bio = BIO_new_file(t->cas[i], "r");
    X509 *x;
    int added = 0;
    if (!bio) {
      log_warning("certs.d: cannot read %s", t->cas[i]);
      return CURLE_SSL_CACERT_BADFILE;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
      /* A CA also in the system store is no error. */
      X509_STORE_add_cert(store, x);
      X509_free(x);
      added++;
    }
    BIO_free(bio);
    if (added == 0) {
      log_warning("certs.d: no PEM certificate in %s", t->cas[i]);
      return CURLE_SSL_CACERT_BADFILE;
    }
  }
  return CURLE_OK;
}

/* ---- one transfer ---------------------------------------------------------- */

struct transfer {
  CURL *curl;
  const struct http_request *req;
  struct http_response *resp;
  size_t body_cap;
  bool too_big;
  bool sink_failed;
  crio_error_t sink_err;
};

static char *trimmed_dup(const char *s, size_t len) {
  while (len && (*s == ' ' || *s == '\t')) {
    s++;
    len--;
  }
  while (len &&
         (s[len - 1] == '\r' || s[len - 1] == '\n' || s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  return xstrndup(s, len);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud) {
  struct transfer *t = ud;
  size_t len = size * nitems;
  struct http_response *r = t->resp;
  const char *colon = memchr(buf, ':', len);

  if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
    /* A new response (after 100 Continue): forget the previous headers. */
    free(r->content_type);
    free(r->docker_content_digest);
    free(r->www_authenticate);
    r->content_type = r->docker_content_digest = r->www_authenticate = NULL;
    return len;
  }
  if (!colon)
    return len;
  size_t name_len = (size_t)(colon - buf);
  char *value = trimmed_dup(colon + 1, len - name_len - 1);
  if (name_len == 12 && strncasecmp(buf, "Content-Type", 12) == 0) {
    free(r->content_type);
    r->content_type = value;
  } else if (name_len == 21 && strncasecmp(buf, "Docker-Content-Digest", 21) == 0) {
    free(r->docker_content_digest);
    r->docker_content_digest = value;
  } else if (name_len == 16 && strncasecmp(buf, "WWW-Authenticate", 16) == 0) {
    /* Several headers are one comma-separated list (RFC 9110 5.3). */
    if (r->www_authenticate) {
      char *joined = xasprintf("%s, %s", r->www_authenticate, value);
      free(r->www_authenticate);
      free(value);
      r->www_authenticate = joined;
    } else {
      r->www_authenticate = value;
    }
  } else {
    free(value);
  }
  return len;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct transfer *t = ud;
  struct http_response *r = t->resp;
  size_t len = size * nmemb;
  long status = 0;
  img_curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  bool ok = status >= 200 && status < 300;

  if (ok && t->req->sink) {
    if (t->req->sink(t->req->opaque, ptr, len, &t->sink_err) < 0) {
      t->sink_failed = true;
      return 0;
    }
    return len;
  }
  size_t limit = ok ? t->req->max_body : ERROR_BODY_MAX;
  size_t keep = len;
  if (r->body_len + len > limit) {
    if (ok) {
      t->too_big = true;
      return 0;
    }
    keep = limit - r->body_len; /* an error body is only for the message */
  }
  if (r->body_len + keep + 1 > t->body_cap) {
    t->body_cap = (r->body_len + keep + 1) * 2;
    r->body = xrealloc(r->body, t->body_cap);
  }
  memcpy(r->body + r->body_len, ptr, keep);
  r->body_len += keep;
  r->body[r->body_len] = '\0';
  return len;
}

void http_response_clear(struct http_response *r) {
  free(r->body);
  free(r->content_type);
  free(r->docker_content_digest);
  free(r->www_authenticate);
  free(r->final_url);
  memset(r, 0, sizeof(*r));
}

static int curl_failure(CURLcode rc, const char *errbuf, const char *method, const char *url,
                        crio_error_t *err) {
  const char *what = errbuf[0] ? errbuf : img_curl_easy_strerror(rc);
  int status;
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    status = EHOSTUNREACH;
    break;
  case CURLE_COULDNT_CONNECT:
    status = ECONNREFUSED;
    break;
  case CURLE_OPERATION_TIMEDOUT:
    status = ETIMEDOUT;
    break;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  /* With TLS 1.3 a refused client certificate shows up as an alert on
   * the first read or write after the handshake. */
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
    status = EPROTO;
    break;
  default:
    status = EIO;
  }
  return crio_error(err, status, "%s %s: %s", method, url, what);
}

/* libcurl's threaded resolver detaches its thread when a transfer ends
 * before the name is resolved (a timeout, a stop): that thread runs
 * libcurl's code until getaddrinfo returns, so libcurl must not be
 * unloaded after it.  No name lookup time means the transfer ended before
 * one finished (or never needed a thread: an address, a cached name;
 * keeping the library loaded then is merely cautious). */
static void keep_libs_if_resolving(CURL *h, CURLcode rc) {
  if (rc == CURLE_OK || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY)
    return;
  curl_off_t lookup_us = 0;
  if (img_curl_easy_getinfo(h, CURLINFO_NAMELOOKUP_TIME_T, &lookup_us) != CURLE_OK ||
      lookup_us == 0)
    img_pull_libs_keep("a transfer ended during a name lookup");
}

/* The client's curl share of DNS and TLS sessions, made at the first
 * request after libcurl was (re)loaded (client.c frees it before the
 * library is unloaded). */
static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *userptr) {
  struct img_registry_client *c = userptr;
  (void)handle;
  (void)access;
  pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *userptr) {
  struct img_registry_client *c = userptr;
  (void)handle;
  pthread_mutex_unlock(&c->share_locks[data]);
}

int client_share_ready(struct img_registry_client *c, crio_error_t *err) {
  pthread_mutex_lock(&c->pool_lock);
  if (!c->share) {
    c->share = img_curl_share_init();
    if (c->share) {
      img_curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
      img_curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
      img_curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
      img_curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
      img_curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
  }
  bool ok = c->share != NULL;
  pthread_mutex_unlock(&c->pool_lock);
  return ok ? 0 : crio_error(err, ENOMEM, "curl_share_init failed");
}

static int perform_once(struct img_registry_client *c, const struct http_request *req,
                        const char *url, bool same_origin, struct http_response *resp,
                        crio_error_t *err) {
  char errbuf[CURL_ERROR_SIZE] = "";
  struct curl_slist *headers = NULL;
  struct tls_files tls = {0};
  struct url_parts parts;
  struct transfer t = {.req = req, .resp = resp};
  const char *method = req->method ? req->method : "GET";
  CURLcode rc;
  int ret = -1;

  if (url_split(url, &parts) < 0)
    return crio_error(err, EINVAL, "invalid URL %s", url);
  {
    cleanup_free char *hostport =
        xasprintf("%s%s%s", parts.host, parts.port ? ":" : "", parts.port ? parts.port : "");
    bool https = strcmp(parts.scheme, "https") == 0;
    url_parts_clear(&parts);
    if (https && tls_files_load(c->certs_dir, hostport, &tls, err) < 0)
      return -1;
  }

  if (client_share_ready(c, err) < 0) {
    tls_files_clear(&tls);
    return -1;
  }
  t.curl = pool_take(c);
  if (!t.curl) {
    tls_files_clear(&tls);
    return crio_error(err, ENOMEM, "curl_easy_init failed");
  }
  CURL *h = t.curl;
  img_curl_easy_setopt(h, CURLOPT_URL, url);
  img_curl_easy_setopt(h, CURLOPT_SHARE, c->share);
  img_curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  img_curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  img_curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  img_curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  img_curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  img_curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
  img_curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout);
  img_curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->low_speed_limit);
  img_curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->low_speed_time);
  if (!req->sink)
    img_curl_easy_setopt(h, CURLOPT_TIMEOUT, c->request_timeout);
  /* curl may keep one CA store per handle for reuse; the certs.d CAs we add
   * to a store must not leak into a later connection to another host. */
  img_curl_easy_setopt(h, CURLOPT_CA_CACHE_TIMEOUT, 0L);
  if (tls.n_cas > 0) {
    img_curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, add_cas);
    img_curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, &tls);
  }
  if (tls.client_cert) {
    img_curl_easy_setopt(h, CURLOPT_SSLCERT, tls.client_cert);
    img_curl_easy_setopt(h, CURLOPT_SSLKEY, tls.client_key);
  }
  if (req->insecure && same_origin) {
    img_curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    img_curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  img_curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  img_curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  img_curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  img_curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);

  if (req->accept) {
    cleanup_free char *v = xasprintf("Accept: %s", req->accept);
    headers = img_curl_slist_append(headers, v);
  }
  if (req->authorization && same_origin) {
    cleanup_free char *v = xasprintf("Authorization: %s", req->authorization);
    headers = img_curl_slist_append(headers, v);
  }
  if (strcmp(method, "POST") == 0) {
    cleanup_free char *v =
        xasprintf("Content-Type: %s",
                  req->content_type ? req->content_type : "application/x-www-form-urlencoded");
    headers = img_curl_slist_append(headers, v);
    img_curl_easy_setopt(h, CURLOPT_POST, 1L);
    img_curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    img_curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
  }
  img_curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  rc = img_curl_easy_perform(h);
  keep_libs_if_resolving(h, rc);
  if (t.sink_failed) {
    *err = steal_pointer(&t.sink_err);
    if (!*err)
      crio_error(err, ECANCELED, "%s %s: stopped by the receiver", method, url);
  } else if (t.too_big) {
    crio_error(err, EFBIG, "%s %s: response larger than %zu bytes", method, url, req->max_body);
  } else if (rc != CURLE_OK) {
    curl_failure(rc, errbuf, method, url, err);
  } else {
    img_curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    ret = 0;
  }
  if (ret == 0 && resp->status >= 300 && resp->status < 400) {
    char *location = NULL;
    img_curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location);
    resp->final_url = location ? xstrdup(location) : NULL;
  }
  crio_error_release(&t.sink_err);
  img_curl_slist_free_all(headers);
  pool_give(c, h);
  tls_files_clear(&tls);
  return ret;
}

static bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static int perform_held(struct img_registry_client *c, const struct http_request *req,
                        struct http_response *resp, crio_error_t *err) {
  cleanup_free char *origin = http_url_origin(req->url);
  cleanup_free char *url = xstrdup(req->url);
  memset(resp, 0, sizeof(*resp));
  if (!origin)
    return crio_error(err, EINVAL, "invalid URL %s", req->url);
  for (int hop = 0;; hop++) {
    cleanup_free char *here = http_url_origin(url);
    bool same_origin = here && strcmp(here, origin) == 0;
    if (perform_once(c, req, url, same_origin, resp, err) < 0) {
      http_response_clear(resp);
      return -1;
    }
    if (!req->follow_redirects || !is_redirect(resp->status) || !resp->final_url)
      break;
    if (hop == MAX_REDIRECTS) {
      http_response_clear(resp);
      return crio_error(err, EPROTO, "GET %s: more than %d redirects", req->url, MAX_REDIRECTS);
    }
    log_debug("registry: %s redirects to %s", url, resp->final_url);
    free(url);
    url = steal_pointer(&resp->final_url);
    http_response_clear(resp);
  }
  if (!resp->final_url)
    resp->final_url = xstrdup(url);
  return 0;
}

int http_perform(struct img_registry_client *c, const struct http_request *req,
                 struct http_response *resp, crio_error_t *err) {
  memset(resp, 0, sizeof(*resp));
  if (img_pull_libs_hold(err) < 0)
    return crio_error_prefix(err, "%s %s", req->method ? req->method : "GET", req->url);
  int r = perform_held(c, req, resp, err);
  img_pull_libs_release();
  return r;
}

char *http_error_summary(const struct http_response *resp) {
  cJSON *root = resp->body ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
  cJSON *errors = cJSON_GetObjectItemCaseSensitive(root, "errors");
  cJSON *first = cJSON_IsArray(errors) ? cJSON_GetArrayItem(errors, 0) : NULL;
  char *out = NULL;
  if (first) {
    cJSON *code = cJSON_GetObjectItemCaseSensitive(first, "code");
    cJSON *message = cJSON_GetObjectItemCaseSensitive(first, "message");
    out = xasprintf("%s%s%s", cJSON_IsString(code) ? code->valuestring : "",
                    cJSON_IsString(code) && cJSON_IsString(message) ? ": " : "",
                    cJSON_IsString(message) ? message->valuestring : "");
  } else if (resp->body_len > 0) {
    size_t n = resp->body_len < 200 ? resp->body_len : 200;
    out = xstrndup(resp->body, n);
    for (char *p = out; *p; p++)
      if (*p == '\n' || *p == '\r' || (unsigned char)*p < 0x20)
        *p = ' ';
  } else {
    out = xstrdup("");
  }
  cJSON_Delete(root);
  return out;
}
