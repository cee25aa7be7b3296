/* Platforms in Go's names (GOOS/GOARCH, as OCI indexes write them) and the
 * choice of an index entry for one. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "images/registry.h"

void img_platform_clear(struct img_platform *p) {
  free(p->os);
  free(p->architecture);
  free(p->variant);
  memset(p, 0, sizeof(*p));
}

static void replace(char **field, const char *value) {
  free(*field);
  *field = value ? xstrdup(value) : NULL;
}

static void lowercase(char *s) {
  for (; s && *s; s++)
    *s = (char)tolower((unsigned char)*s);
}

void img_platform_normalize(struct img_platform *p) {
  lowercase(p->os);
  lowercase(p->architecture);
  lowercase(p->variant);
  if (p->variant && !p->variant[0])
    replace(&p->variant, NULL);
  if (p->os && strcmp(p->os, "macos") == 0)
    replace(&p->os, "darwin");
  const char *a = p->architecture ? p->architecture : "";
  if (!strcmp(a, "x86_64") || !strcmp(a, "x86-64") || !strcmp(a, "amd64")) {
    replace(&p->architecture, "amd64");
    /* amd64's baseline is v1. */
    if (p->variant && !strcmp(p->variant, "v1"))
      replace(&p->variant, NULL);
  } else if (!strcmp(a, "aarch64") || !strcmp(a, "arm64")) {
    replace(&p->architecture, "arm64");
    /* arm64 is ARMv8 unless it says a later revision. */
    if (p->variant && (!strcmp(p->variant, "v8") || !strcmp(p->variant, "8")))
      replace(&p->variant, NULL);
  } else if (!strcmp(a, "armhf")) {
    replace(&p->architecture, "arm");
    replace(&p->variant, "v7");
  } else if (!strcmp(a, "armel")) {
    replace(&p->architecture, "arm");
    replace(&p->variant, "v6");
  } else if (!strcmp(a, "arm")) {
    if (!p->variant)
      replace(&p->variant, "v7");
    else if (isdigit((unsigned char)p->variant[0])) {
      cleanup_free char *v = xasprintf("v%s", p->variant);
      replace(&p->variant, v);
    }
  } else if (!strcmp(a, "i386") || !strcmp(a, "i486") || !strcmp(a, "i586") || !strcmp(a, "i686") ||
             !strcmp(a, "x86")) {
    replace(&p->architecture, "386");
  }
}

void img_platform_host(struct img_platform *out) {
  struct utsname u;
  memset(out, 0, sizeof(*out));
  out->os = xstrdup("linux");
  if (uname(&u) < 0) { /* cannot fail with a valid buffer */
    out->architecture = xstrdup("unknown");
    return;
  }
  if (!strncmp(u.machine, "armv", 4)) { /* armv7l, armv6l */
    out->architecture = xstrdup("arm");
    out->variant = xasprintf("v%c", u.machine[4]);
    if (u.machine[4] == '8') { /* a 64-bit CPU under a 32-bit kernel */
      free(out->variant);
      out->variant = xstrdup("v7");
    }
  } else { /* x86_64 and aarch64 are renamed below; ppc64le, s390x,
              riscv64 are already Go's names */
    out->architecture = xstrdup(u.machine);
  }
  img_platform_normalize(out);
}

static bool str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

/* An arm variant "vN" as N, 0 when not that shape. */
static int arm_level(const char *variant) {
  if (!variant || variant[0] != 'v' || !isdigit((unsigned char)variant[1]))
    return 0;
  return atoi(variant + 1);
}

/* How well entry fits want: 0 not at all, higher is better. */
static int platform_score(const struct img_platform *want, const struct img_platform *entry) {
  if (!str_eq(want->os, entry->os) || !str_eq(want->architecture, entry->architecture))
    return 0;
  if (str_eq(want->variant, entry->variant))
    return 1000;
  if (!entry->variant)
    return 500;
  /* An ARM CPU runs the code of earlier revisions: a v7 host takes v6. */
  if (str_eq(want->architecture, "arm")) {
    int w = arm_level(want->variant), e = arm_level(entry->variant);
    if (w && e && e < w)
      return 100 + e;
  }
  return 0;
}

static bool is_image_manifest_type(const char *media_type) {
  return media_type && (!strcmp(media_type, IMG_MEDIA_OCI_MANIFEST) ||
                        !strcmp(media_type, IMG_MEDIA_DOCKER_MANIFEST));
}

int img_index_select(const struct img_manifest *index, const struct img_platform *platform,
                     const struct img_descriptor **out, crio_error_t *err) {
  struct img_platform want = {0}, host = {0};
  const struct img_descriptor *best = NULL;
  int best_score = 0;
  if (index->kind != IMG_MANIFEST_INDEX)
    return crio_error(err, EINVAL, "not an index");
  if (!platform) {
    img_platform_host(&host);
    platform = &host;
  }
  want.os = platform->os ? xstrdup(platform->os) : NULL;
  want.architecture = platform->architecture ? xstrdup(platform->architecture) : NULL;
  want.variant = platform->variant ? xstrdup(platform->variant) : NULL;
  img_platform_normalize(&want);

  for (size_t i = 0; i < index->n_manifests; i++) {
    const struct img_descriptor *d = &index->manifests[i];
    struct img_platform entry = {0};
    /* Nested indexes and attestation blobs are not images for us. */
    if (!is_image_manifest_type(d->media_type))
      continue;
    entry.os = d->platform.os ? xstrdup(d->platform.os) : NULL;
    entry.architecture = d->platform.architecture ? xstrdup(d->platform.architecture) : NULL;
    entry.variant = d->platform.variant ? xstrdup(d->platform.variant) : NULL;
    img_platform_normalize(&entry);
    int score = platform_score(&want, &entry);
    img_platform_clear(&entry);
    if (score > best_score) { /* the first of equals wins, as in the list */
      best = d;
      best_score = score;
    }
  }
  if (!best) {
    size_t cap = 64, len = 0;
    cleanup_free char *offered = xzalloc(cap);
    for (size_t i = 0; i < index->n_manifests; i++) {
      const struct img_platform *p = &index->manifests[i].platform;
      cleanup_free char *one = xasprintf("%s%s/%s%s%s", len ? ", " : "", p->os ? p->os : "?",
                                         p->architecture ? p->architecture : "?",
                                         p->variant ? "/" : "", p->variant ? p->variant : "");
      size_t n = strlen(one);
      if (len + n + 1 > cap) {
        cap = (len + n + 1) * 2;
        offered = xrealloc(offered, cap);
      }
      memcpy(offered + len, one, n + 1);
      len += n;
    }
    crio_error(err, ENOENT,
               "no image for platform %s/%s%s%s in the index "
               "(it offers: %s)",
               want.os ? want.os : "?", want.architecture ? want.architecture : "?",
               want.variant ? "/" : "", want.variant ? want.variant : "",
               len ? offered : "nothing");
    img_platform_clear(&want);
    img_platform_clear(&host);
    return -1;
  }
  img_platform_clear(&want);
  img_platform_clear(&host);
  *out = best;
  return 0;
}
