/* Image references: the grammar of github.com/distribution/reference and
 * docker's normalisation (see registry.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/registry.h"

/* distribution/reference's NameTotalLengthMax.  Its ParseNormalizedNamed
 * checks it on the normalised name (docker.io/library/ added), so a
 * reference whose normalised form would be longer is refused: that form is
 * what gets stored and parsed again. */
#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )* */
static bool path_component_valid(const char *s, size_t len) {
  size_t i = 0;
  if (len == 0 || !is_lower_alnum(s[0]))
    return false;
  while (i < len) {
    while (i < len && is_lower_alnum(s[i]))
      i++;
    if (i == len)
      return true;
    if (s[i] == '.') {
      i++;
    } else if (s[i] == '_') {
      i++;
      if (i < len && s[i] == '_')
        i++;
    } else if (s[i] == '-') {
      while (i < len && s[i] == '-')
        i++;
    } else {
      return false;
    }
    if (i == len || !is_lower_alnum(s[i]))
      return false;
  }
  return true;
}

/* A DNS label as distribution allows it: alphanumerics with inner '-'. */
static bool domain_label_valid(const char *s, size_t len) {
  if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
    return false;
  for (size_t i = 0; i < len; i++)
    if (!is_alnum(s[i]) && s[i] != '-')
      return false;
  return true;
}

/* host [ ":" port ], host being DNS labels or a bracketed IPv6 address. */
static bool domain_valid(const char *s, size_t len) {
  size_t host_len = len;
  const char *colon;
  if (len > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (!close || close == s + 1)
      return false;
    for (const char *p = s + 1; p < close; p++)
      if (!isxdigit((unsigned char)*p) && *p != ':')
        return false;
    host_len = (size_t)(close - s) + 1;
    if (host_len < len && s[host_len] != ':')
      return false;
  } else {
    colon = memchr(s, ':', len);
    if (colon)
      host_len = (size_t)(colon - s);
    size_t start = 0;
    for (size_t i = 0; i <= host_len; i++) {
      if (i == host_len || s[i] == '.') {
        if (!domain_label_valid(s + start, i - start))
          return false;
        start = i + 1;
      }
    }
  }
  if (host_len < len) {
    size_t port_len = len - host_len - 1;
    if (port_len == 0)
      return false;
    for (size_t i = host_len + 1; i < len; i++)
      if (!isdigit((unsigned char)s[i]))
        return false;
  }
  return true;
}

static bool tag_valid(const char *s) {
  size_t len = strlen(s);
  if (len == 0 || len > TAG_MAX_LEN)
    return false;
  if (!is_alnum(s[0]) && s[0] != '_')
    return false;
  for (size_t i = 1; i < len; i++)
    if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
      return false;
  return true;
}

void img_reference_clear(struct img_reference *ref) {
  free(ref->domain);
  free(ref->path);
  free(ref->tag);
  free(ref->digest);
  memset(ref, 0, sizeof(*ref));
}

static bool all_lower_hex(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
      return false;
  return true;
}

int img_reference_parse(const char *text, struct img_reference *out, crio_error_t *err) {
  cleanup_free char *name = NULL;
  cleanup_img_reference struct img_reference ref = {0};
  const char *at, *slash, *last_slash, *colon;
  size_t name_len;

  memset(out, 0, sizeof(*out));
  if (text == NULL || text[0] == '\0')
    return crio_error(err, EINVAL, "invalid reference format: empty reference");
  /* An image id is not a reference; refusing it keeps "pull <id>" from
   * reaching docker.io/library/<id>. */
  if (strlen(text) == 64 && all_lower_hex(text, 64))
    return crio_error(err, EINVAL,
                      "invalid repository name (%s): cannot specify 64-byte "
                      "hexadecimal strings",
                      text);

  at = strchr(text, '@');
  if (at) {
    cleanup_error crio_error_t derr = NULL;
    if (img_digest_validate(at + 1, &derr) < 0)
      return crio_error(err, EINVAL, "invalid reference format: %s: %s", text,
                        crio_error_message(&derr));
    ref.digest = xstrdup(at + 1);
    name_len = (size_t)(at - text);
  } else {
    name_len = strlen(text);
  }
  /* A tag is after the last ':' that follows the last '/' (a ':' before
   * it is a port). */
  last_slash = memrchr(text, '/', name_len);
  colon = memrchr(last_slash ? last_slash : text, ':',
                  name_len - (size_t)((last_slash ? last_slash : text) - text));
  if (colon) {
    cleanup_free char *tag = xstrndup(colon + 1, name_len - (size_t)(colon - text) - 1);
    if (!tag_valid(tag))
      return crio_error(err, EINVAL,
                        "invalid reference format: %s: invalid tag \"%s\" "
                        "(want [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
                        text, tag);
    ref.tag = steal_pointer(&tag);
    name_len = (size_t)(colon - text);
  }
  if (name_len == 0)
    return crio_error(err, EINVAL, "invalid reference format: %s: empty name", text);
  if (name_len > NAME_MAX_LEN)
    return crio_error(err, EINVAL,
                      "invalid reference format: %s: repository name longer "
                      "than %d characters",
                      text, NAME_MAX_LEN);
  name = xstrndup(text, name_len);

  /* docker's splitDockerDomain: the first component is a domain when it
   * has '.' or ':', is "localhost", or has an uppercase letter (a path
   * cannot). */
  slash = strchr(name, '/');
  const char *remainder = name;
  if (slash) {
    size_t first_len = (size_t)(slash - name);
    bool is_domain = memchr(name, '.', first_len) || memchr(name, ':', first_len) ||
                     (first_len == 9 && memcmp(name, "localhost", 9) == 0);
    for (size_t i = 0; i < first_len && !is_domain; i++)
      if (isupper((unsigned char)name[i]))
        is_domain = true;
    if (is_domain) {
      if (!domain_valid(name, first_len))
        return crio_error(err, EINVAL,
                          "invalid reference format: %s: invalid registry "
                          "host \"%.*s\"",
                          text, (int)first_len, name);
      ref.domain = xstrndup(name, first_len);
      remainder = slash + 1;
    }
  }
  if (ref.domain == NULL) {
    ref.domain = xstrdup(IMG_DEFAULT_DOMAIN);
    ref.short_name = true;
  } else if (strcmp(ref.domain, "index.docker.io") == 0) {
    free(ref.domain);
    ref.domain = xstrdup(IMG_DEFAULT_DOMAIN);
  }

  for (const char *p = remainder; *p; p++)
    if (isupper((unsigned char)*p))
      return crio_error(err, EINVAL,
                        "invalid reference format: repository name (%s) must "
                        "be lowercase",
                        remainder);
  for (const char *p = remainder;;) {
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (!path_component_valid(p, len))
      return crio_error(err, EINVAL,
                        "invalid reference format: %s: invalid path component "
                        "\"%.*s\" (want [a-z0-9]+ joined by '.', '_', '__' or "
                        "'-')",
                        text, (int)len, p);
    if (!end)
      break;
    p = end + 1;
  }

  if (strcmp(ref.domain, IMG_DEFAULT_DOMAIN) == 0 && !strchr(remainder, '/')) {
    ref.path = xasprintf("library/%s", remainder);
    ref.implicit_library = true;
  } else
    ref.path = xstrdup(remainder);
  if (strlen(ref.domain) + 1 + strlen(ref.path) > NAME_MAX_LEN)
    return crio_error(err, EINVAL,
                      "invalid reference format: %s: repository name longer "
                      "than %d characters once normalised to %s/%s",
                      text, NAME_MAX_LEN, ref.domain, ref.path);
  if (ref.tag == NULL && ref.digest == NULL)
    ref.tag = xstrdup(IMG_DEFAULT_TAG);

  *out = ref;
  memset(&ref, 0, sizeof(ref));
  return 0;
}

char *img_reference_name(const struct img_reference *ref) {
  return xasprintf("%s/%s", ref->domain, ref->path);
}

char *img_reference_format(const struct img_reference *ref) {
  return xasprintf("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "",
                   ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                   ref->digest ? ref->digest : "");
}

void img_reference_copy(struct img_reference *dst, const struct img_reference *src,
                        const char *domain) {
  dst->domain = xstrdup(domain ? domain : src->domain);
  dst->implicit_library = src->implicit_library;
  if (domain && src->implicit_library && strcmp(domain, IMG_DEFAULT_DOMAIN) != 0) {
    dst->path = xstrdup(src->path + strlen("library/"));
    dst->implicit_library = false;
  } else {
    dst->path = xstrdup(src->path);
  }
  dst->tag = src->tag ? xstrdup(src->tag) : NULL;
  dst->digest = src->digest ? xstrdup(src->digest) : NULL;
  dst->short_name = domain ? false : src->short_name;
}

void img_references_free(struct img_reference *refs, size_t n) {
  for (size_t i = 0; i < n; i++)
    img_reference_clear(&refs[i]);
  free(refs);
}
