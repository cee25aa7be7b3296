/* The one HTTP/1.1 request a streaming connection starts with, and the
 * answers to it.  Only what the upgrade needs is parsed: the request
 * line, headers (no continuation lines), the query.  Anything malformed or
 * larger than STREAM_HTTP_HEAD_MAX is refused before a token is looked
 * at. */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "streaming/internal.h"

static const char *reason_of(int code) {
  switch (code) {
  case 101:
    return "Switching Protocols";
  case 400:
    return "Bad Request";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  default:
    return "Error";
  }
}

int http_respond(struct stream_transport *t, int code, const char *extra_headers,
                 const char *body) {
  cleanup_free char *text = NULL;
  if (code == 101)
    text =
        xasprintf("HTTP/1.1 101 Switching Protocols\r\n%s\r\n", extra_headers ? extra_headers : "");
  else
    text = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "X-Content-Type-Options: nosniff\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n%s",
                     code, reason_of(code), body ? strlen(body) : 0,
                     extra_headers ? extra_headers : "", body ? body : "");
  crio_error_t e = NULL;
  if (stream_transport_write(t, text, strlen(text), STREAM_HTTP_TIMEOUT_MS, &e) < 0) {
    crio_error_release(&e);
    return -1;
  }
  return 0;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = '\0';
  return s;
}

static int parse_head(struct http_request *req, crio_error_t *err) {
  char *line = req->head;
  char *end = strstr(line, "\r\n");
  *end = '\0';
  char *sp1 = strchr(line, ' ');
  char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
    return crio_error(err, EBADMSG, "malformed request line");
  *sp1 = *sp2 = '\0';
  req->method = line;
  req->path = sp1 + 1;
  char *q = strchr(req->path, '?');
  if (q) {
    *q = '\0';
    req->query = q + 1;
  }
  for (line = end + 2; *line; line = end + 2) {
    end = strstr(line, "\r\n");
    if (end == line)
      break;
    *end = '\0';
    char *colon = strchr(line, ':');
    if (colon == NULL || colon == line || line[0] == ' ' || line[0] == '\t')
      return crio_error(err, EBADMSG, "malformed header line");
    if (req->n_headers == sizeof(req->headers) / sizeof(req->headers[0]))
      return crio_error(err, E2BIG, "more than %zu headers",
                        sizeof(req->headers) / sizeof(req->headers[0]));
    *colon = '\0';
    req->headers[req->n_headers++] = (struct http_header){line, trim(colon + 1)};
  }
  return 0;
}

int http_read_request(struct stream_transport *t, struct http_request *req, crio_error_t *err) {
  memset(req, 0, sizeof(*req));
  size_t len = 0;
  req->head = xmalloc(STREAM_HTTP_HEAD_MAX + 1);
  int64_t deadline = crio_monotonic_ns() + (int64_t)STREAM_HTTP_TIMEOUT_MS * 1000000;
  char *end = NULL;
  while (end == NULL) {
    if (len == STREAM_HTTP_HEAD_MAX)
      return crio_error(err, E2BIG, "request head over %u bytes", STREAM_HTTP_HEAD_MAX);
    ssize_t n = stream_transport_read(t, req->head + len, STREAM_HTTP_HEAD_MAX - len);
    if (n == 0)
      return crio_error(err, ECONNRESET, "client closed before a whole request");
    if (n < 0) {
      if (errno != EAGAIN)
        return crio_error_errno(err, errno, "read the request");
      int64_t left = (deadline - crio_monotonic_ns()) / 1000000;
      if (left <= 0)
        return crio_error(err, ETIMEDOUT, "no whole request within %d ms", STREAM_HTTP_TIMEOUT_MS);
      struct pollfd p = {t->fd, POLLIN, 0};
      if (!stream_transport_pending(t))
        poll(&p, 1, left > 1000 ? 1000 : (int)left);
      continue;
    }
    len += (size_t)n;
    req->head[len] = '\0';
    if (memchr(req->head, '\0', len))
      return crio_error(err, EBADMSG, "NUL byte in the request head");
    end = strstr(req->head, "\r\n\r\n");
  }
  size_t head_len = (size_t)(end - req->head) + 4;
  if (len > head_len) {
    req->extra_len = len - head_len;
    req->extra = xmemdup(req->head + head_len, req->extra_len);
  }
  end[2] = '\0'; /* keep the last header's CRLF for parse_head */
  return parse_head(req, err);
}

void http_request_release(struct http_request *req) {
  free(req->head);
  free(req->extra);
  memset(req, 0, sizeof(*req));
}

const char *http_header(const struct http_request *req, const char *name) {
  for (size_t i = 0; i < req->n_headers; i++)
    if (strcasecmp(req->headers[i].name, name) == 0)
      return req->headers[i].value;
  return NULL;
}

char **http_header_list(const struct http_request *req, const char *name) {
  size_t n = 0, cap = 8;
  char **out = xcalloc(cap, sizeof(char *));
  for (size_t i = 0; i < req->n_headers; i++) {
    if (strcasecmp(req->headers[i].name, name) != 0)
      continue;
    cleanup_free char *copy = xstrdup(req->headers[i].value);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      char *v = trim(tok);
      if (*v == '\0')
        continue;
      if (n + 2 > cap)
        out = xrealloc(out, (cap *= 2) * sizeof(char *));
      out[n++] = xstrdup(v);
      out[n] = NULL;
    }
  }
  return out;
}

bool http_header_has_token(const struct http_request *req, const char *name, const char *token) {
  cleanup_strv char **list = http_header_list(req, name);
  for (char **v = list; *v; v++)
    if (strcasecmp(*v, token) == 0)
      return true;
  return false;
}

static int hex(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

static char *url_decode(const char *s, size_t len) {
  char *out = xmalloc(len + 1);
  size_t k = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '%' && i + 2 < len && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out[k++] = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out[k++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  out[k] = '\0';
  return out;
}

char **http_query_values(const struct http_request *req, const char *key) {
  size_t n = 0, cap = 8;
  char **out = xcalloc(cap, sizeof(char *));
  size_t key_len = strlen(key);
  for (const char *p = req->query; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > key_len && strncmp(p, key, key_len) == 0 && p[key_len] == '=') {
      if (n + 2 > cap)
        out = xrealloc(out, (cap *= 2) * sizeof(char *));
      out[n++] = url_decode(p + key_len + 1, len - key_len - 1);
      out[n] = NULL;
    }
    p = amp ? amp + 1 : p + len;
  }
  return out;
}
