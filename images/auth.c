/* Registry authentication: WWW-Authenticate challenges (RFC 9110 11.6.1),
 * CRI credentials, and bearer tokens from the token server (the
 * distribution token spec, and its OAuth2 refresh-token variant), cached
 * per registry, scope and credentials until they expire. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "images/registry_http.h"

#define TOKEN_CACHE_MAX 128
/* The token spec: a token without expires_in lives 60 seconds, and a
 * shorter lifetime is to be read as 60. */
#define TOKEN_MIN_LIFETIME_S 60
#define TOKEN_MAX_BYTES (1024 * 1024)

/* ---- challenges -------------------------------------------------------------- */

static bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ws(const char **p) {
  while (**p == ' ' || **p == '\t')
    (*p)++;
}

static char *read_token(const char **p) {
  const char *start = *p;
  while (is_tchar(**p))
    (*p)++;
  return *p > start ? xstrndup(start, (size_t)(*p - start)) : NULL;
}

/* quoted-string with backslash escapes; *p at the opening quote. */
static char *read_quoted(const char **p) {
  size_t cap = strlen(*p) + 1, len = 0;
  char *out = xmalloc(cap);
  (*p)++;
  while (**p && **p != '"') {
    if (**p == '\\' && (*p)[1])
      (*p)++;
    out[len++] = *(*p)++;
  }
  if (**p != '"') {
    free(out);
    return NULL;
  }
  (*p)++;
  out[len] = '\0';
  return out;
}

struct challenge_parse {
  enum img_auth_scheme scheme;
  char *realm, *service, *scope;
};

static void challenge_parse_clear(struct challenge_parse *c) {
  free(c->realm);
  free(c->service);
  free(c->scope);
  memset(c, 0, sizeof(*c));
}

void img_auth_challenge_clear(struct img_auth_challenge *c) {
  free(c->realm);
  free(c->service);
  free(c->scope);
  memset(c, 0, sizeof(*c));
}

int img_auth_challenge_parse(const char *header, struct img_auth_challenge *out,
                             crio_error_t *err) {
  struct challenge_parse best = {0}, cur = {0};
  const char *p = header ? header : "";
  bool any = false;
  memset(out, 0, sizeof(*out));

  /* challenges := challenge *( "," challenge ), where a challenge is a
   * scheme then auth-params (name=value, comma-separated) or a token68.  A
   * token not followed by '=' starts the next challenge. */
  for (;;) {
    cleanup_free char *scheme = NULL;
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    if (!*p)
      break;
    scheme = read_token(&p);
    if (!scheme) {
      challenge_parse_clear(&best);
      return crio_error(err, EINVAL,
                        "WWW-Authenticate \"%s\": expected an "
                        "auth scheme at \"%s\"",
                        header, p);
    }
    any = true;
    memset(&cur, 0, sizeof(cur));
    if (strcasecmp(scheme, "Bearer") == 0)
      cur.scheme = IMG_AUTH_BEARER;
    else if (strcasecmp(scheme, "Basic") == 0)
      cur.scheme = IMG_AUTH_BASIC;
    for (;;) {
      const char *mark;
      cleanup_free char *name = NULL, *value = NULL;
      while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
      mark = p;
      name = read_token(&p);
      if (!name)
        break;
      skip_ws(&p);
      if (*p != '=') {
        p = mark; /* the next challenge's scheme */
        break;
      }
      p++;
      if (*p == '=' || *p == '\0' || *p == ',') {
        /* token68 with '=' padding ("Negotiate abc=="): no parameters. */
        while (*p == '=')
          p++;
        continue;
      }
      skip_ws(&p);
      value = *p == '"' ? read_quoted(&p) : read_token(&p);
      if (!value) {
        challenge_parse_clear(&cur);
        challenge_parse_clear(&best);
        return crio_error(err, EINVAL,
                          "WWW-Authenticate \"%s\": bad value "
                          "for parameter %s",
                          header, name);
      }
      char **slot = strcasecmp(name, "realm") == 0     ? &cur.realm
                    : strcasecmp(name, "service") == 0 ? &cur.service
                    : strcasecmp(name, "scope") == 0   ? &cur.scope
                                                       : NULL;
      if (slot) {
        free(*slot);
        *slot = steal_pointer(&value);
      }
    }
    if (cur.scheme > best.scheme) { /* Bearer > Basic > unknown */
      challenge_parse_clear(&best);
      best = cur;
    } else {
      challenge_parse_clear(&cur);
    }
  }
  if (!any || best.scheme == IMG_AUTH_NONE) {
    challenge_parse_clear(&best);
    return crio_error(err, EINVAL,
                      "WWW-Authenticate \"%s\": no Bearer or "
                      "Basic challenge",
                      header ? header : "");
  }
  if (best.scheme == IMG_AUTH_BEARER && (!best.realm || !best.realm[0])) {
    challenge_parse_clear(&best);
    return crio_error(err, EINVAL,
                      "WWW-Authenticate \"%s\": Bearer "
                      "challenge without a realm",
                      header);
  }
  if (best.scheme == IMG_AUTH_BEARER && strncmp(best.realm, "https://", 8) &&
      strncmp(best.realm, "http://", 7)) {
    int r = crio_error(err, EINVAL,
                       "WWW-Authenticate \"%s\": realm %s is "
                       "not an http(s) URL",
                       header, best.realm);
    challenge_parse_clear(&best);
    return r;
  }
  out->scheme = best.scheme;
  out->realm = best.realm;
  out->service = best.service;
  out->scope = best.scope;
  return 0;
}

/* ---- credentials ----------------------------------------------------------------- */

static int base64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* Standard base64, padding optional; NULL if malformed. */
static char *base64_decode(const char *in, size_t *out_len) {
  size_t len = strlen(in);
  while (len && in[len - 1] == '=')
    len--;
  char *out = xmalloc(len * 3 / 4 + 1);
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = base64_value(in[i]);
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) { /* one leftover character cannot encode a byte */
    free(out);
    return NULL;
  }
  out[n] = '\0';
  *out_len = n;
  return out;
}

static char *base64_encode(const char *in) {
  size_t len = strlen(in);
  unsigned char *out = xmalloc(4 * ((len + 2) / 3) + 1);
  EVP_EncodeBlock(out, (const unsigned char *)in, (int)len);
  return (char *)out;
}

void auth_creds_clear(struct auth_creds *c) {
  if (c->password)
    explicit_bzero(c->password, strlen(c->password));
  free(c->username);
  free(c->password);
  free(c->identity_token);
  free(c->registry_token);
  memset(c, 0, sizeof(*c));
}

static bool set(const char *s) {
  return s && s[0];
}

int auth_creds_from(const struct img_auth *auth, struct auth_creds *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (!auth)
    return 0;
  if (set(auth->auth)) {
    size_t len = 0;
    cleanup_free char *decoded = base64_decode(auth->auth, &len);
    char *colon = decoded ? memchr(decoded, ':', len) : NULL;
    if (!decoded || strlen(decoded) != len)
      return crio_error(err, EINVAL, "auth: not base64");
    if (!colon) {
      explicit_bzero(decoded, len);
      return crio_error(err, EINVAL, "auth: want base64 of \"user:password\"");
    }
    out->username = xstrndup(decoded, (size_t)(colon - decoded));
    out->password = xstrdup(colon + 1);
    explicit_bzero(decoded, len);
  } else if (set(auth->username) || set(auth->password)) {
    out->username = xstrdup(auth->username ? auth->username : "");
    out->password = xstrdup(auth->password ? auth->password : "");
  }
  if (set(auth->identity_token))
    out->identity_token = xstrdup(auth->identity_token);
  if (set(auth->registry_token))
    out->registry_token = xstrdup(auth->registry_token);
  return 0;
}

/* ---- the token cache ------------------------------------------------------------ */

struct token_entry {
  struct token_entry *next;
  char *key;
  char *token;
  int64_t expires_ns; /* monotonic */
};

static void token_entry_free(struct token_entry *e) {
  explicit_bzero(e->token, strlen(e->token));
  free(e->key);
  free(e->token);
  free(e);
}

void auth_tokens_free(struct img_registry_client *c) {
  struct token_entry *e = c->tokens;
  while (e) {
    struct token_entry *next = e->next;
    token_entry_free(e);
    e = next;
  }
  c->tokens = NULL;
}

/* Keyed by who asks too, so one pod's credentials never serve another's
 * pull; secrets enter the key only as a digest. */
static char *token_key(const char *origin, const struct img_auth_challenge *ch, const char *scope,
                       const struct auth_creds *creds) {
  cleanup_free char *secret = xasprintf("%s\n%s\n%s", creds->username ? creds->username : "",
                                        creds->password ? creds->password : "",
                                        creds->identity_token ? creds->identity_token : "");
  cleanup_free char *secret_digest = img_digest_sha256(secret, strlen(secret));
  explicit_bzero(secret, strlen(secret));
  return xasprintf("%s\n%s\n%s\n%s\n%s", origin, ch->realm, ch->service ? ch->service : "", scope,
                   secret_digest);
}

static char *cache_get(struct img_registry_client *c, const char *key) {
  char *token = NULL;
  int64_t now = crio_monotonic_ns();
  pthread_mutex_lock(&c->tokens_lock);
  for (struct token_entry **pp = &c->tokens; *pp;) {
    struct token_entry *e = *pp;
    if (e->expires_ns <= now) {
      *pp = e->next;
      token_entry_free(e);
      continue;
    }
    if (!token && strcmp(e->key, key) == 0)
      token = xstrdup(e->token);
    pp = &e->next;
  }
  pthread_mutex_unlock(&c->tokens_lock);
  return token;
}

static void cache_put(struct img_registry_client *c, const char *key, const char *token,
                      int64_t lifetime_s) {
  struct token_entry *e = xzalloc(sizeof(*e));
  size_t n = 0;
  e->key = xstrdup(key);
  e->token = xstrdup(token);
  /* Renew a little early so a token does not expire in flight. */
  int64_t slack = lifetime_s / 10 < 10 ? lifetime_s / 10 : 10;
  e->expires_ns = crio_monotonic_ns() + (lifetime_s - slack) * 1000000000LL;
  pthread_mutex_lock(&c->tokens_lock);
  for (struct token_entry **pp = &c->tokens; *pp;) {
    struct token_entry *old = *pp;
    if (strcmp(old->key, key) == 0 || n + 1 >= TOKEN_CACHE_MAX) {
      *pp = old->next; /* replaced, or the oldest beyond the cap */
      token_entry_free(old);
      continue;
    }
    n++;
    pp = &old->next;
  }
  e->next = c->tokens;
  c->tokens = e;
  pthread_mutex_unlock(&c->tokens_lock);
}

/* ---- the token server ------------------------------------------------------------ */

int auth_token_response_parse(const struct http_response *resp, const char *realm, char **token,
                              int64_t *lifetime_s, crio_error_t *err) {
  cJSON *root = cJSON_ParseWithLength(resp->body ? resp->body : "", resp->body_len);
  cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "token");
  cJSON *at = cJSON_GetObjectItemCaseSensitive(root, "access_token");
  cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
  const char *value = cJSON_IsString(t) && t->valuestring[0]     ? t->valuestring
                      : cJSON_IsString(at) && at->valuestring[0] ? at->valuestring
                                                                 : NULL;
  if (!cJSON_IsObject(root) || !value) {
    cJSON_Delete(root);
    return crio_error(err, EPROTO,
                      "token server %s: answer has no token or "
                      "access_token",
                      realm);
  }
  *token = xstrdup(value);
  /* Clamped as a double: converting a huge expires_in (1e300) to an
   * integer first is undefined behaviour. */
  double lifetime = cJSON_IsNumber(exp) ? exp->valuedouble : 0;
  if (!(lifetime > TOKEN_MIN_LIFETIME_S))
    lifetime = TOKEN_MIN_LIFETIME_S;
  if (lifetime > 24 * 3600)
    lifetime = 24 * 3600;
  *lifetime_s = (int64_t)lifetime;
  cJSON_Delete(root);
  return 0;
}

static int fetch_token(struct img_registry_client *c, const char *origin, bool insecure,
                       const struct img_auth_challenge *ch, const struct auth_creds *creds,
                       const char *scope, char **token, int64_t *lifetime_s, crio_error_t *err) {
  cleanup_free char *realm_origin = http_url_origin(ch->realm);
  cleanup_free char *service = http_escape(ch->service ? ch->service : "");
  cleanup_free char *scope_q = http_escape(scope);
  cleanup_free char *url = NULL, *body = NULL, *basic = NULL;
  cleanup_free char *authorization = NULL;
  struct http_response resp = {0};
  struct http_request req = {
      .max_body = TOKEN_MAX_BYTES,
      .insecure = insecure && realm_origin && strcmp(realm_origin, origin) == 0,
  };
  int ret;

  if (creds->identity_token) {
    /* OAuth2 refresh-token grant: what `docker login` leaves behind for
     * registries with identity tokens. */
    cleanup_free char *refresh = http_escape(creds->identity_token);
    url = xstrdup(ch->realm);
    body = xasprintf("grant_type=refresh_token&service=%s&client_id=crio-c"
                     "&scope=%s&refresh_token=%s",
                     service, scope_q, refresh);
    explicit_bzero(refresh, strlen(refresh));
    req.method = "POST";
    req.body = body;
    req.body_len = strlen(body);
  } else {
    url = xasprintf("%s%sservice=%s&scope=%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?",
                    service, scope_q);
    if (creds->username) {
      cleanup_free char *account = http_escape(creds->username);
      cleanup_free char *pair = xasprintf("%s:%s", creds->username, creds->password);
      char *with_account = xasprintf("%s&account=%s", url, account);
      free(url);
      url = with_account;
      basic = base64_encode(pair);
      explicit_bzero(pair, strlen(pair));
      authorization = xasprintf("Basic %s", basic);
      req.authorization = authorization;
    }
  }
  req.url = url;
  if (http_perform(c, &req, &resp, err) < 0)
    return crio_error_prefix(err, "fetch token");
  if (resp.status == 401 || resp.status == 403) {
    cleanup_free char *why = http_error_summary(&resp);
    ret = crio_error(err, EACCES, "token server %s refused the %s (HTTP %ld)%s%s", ch->realm,
                     creds->username || creds->identity_token ? "credentials" : "anonymous request",
                     resp.status, why[0] ? ": " : "", why);
  } else if (resp.status != 200) {
    cleanup_free char *why = http_error_summary(&resp);
    ret = crio_error(err, EPROTO, "token server %s: HTTP %ld%s%s", ch->realm, resp.status,
                     why[0] ? ": " : "", why);
  } else {
    ret = auth_token_response_parse(&resp, ch->realm, token, lifetime_s, err);
  }
  if (authorization)
    explicit_bzero(authorization, strlen(authorization));
  if (body)
    explicit_bzero(body, strlen(body));
  http_response_clear(&resp);
  return ret;
}

int auth_authorization(struct img_registry_client *c, const char *origin, bool insecure,
                       const struct img_auth_challenge *ch, const struct auth_creds *creds,
                       const char *scope, bool fresh, char **out, crio_error_t *err) {
  *out = NULL;
  switch (ch->scheme) {
  case IMG_AUTH_NONE:
    return 0;
  case IMG_AUTH_BASIC: {
    if (!creds->username)
      return 0;
    cleanup_free char *pair = xasprintf("%s:%s", creds->username, creds->password);
    cleanup_free char *b64 = base64_encode(pair);
    explicit_bzero(pair, strlen(pair));
    *out = xasprintf("Basic %s", b64);
    return 0;
  }
  case IMG_AUTH_BEARER:
    break;
  }
  if (creds->registry_token) {
    *out = xasprintf("Bearer %s", creds->registry_token);
    return 0;
  }
  cleanup_free char *key = token_key(origin, ch, scope, creds);
  cleanup_free char *token = fresh ? NULL : cache_get(c, key);
  if (!token) {
    int64_t lifetime = 0;
    if (fetch_token(c, origin, insecure, ch, creds, scope, &token, &lifetime, err) < 0)
      return -1;
    cache_put(c, key, token, lifetime);
  }
  *out = xasprintf("Bearer %s", token);
  explicit_bzero(token, strlen(token));
  return 0;
}
