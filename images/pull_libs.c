/* libcurl and libarchive on demand (pull_libs.h): dlopen on the first hold,
 * an unloader thread that lives while they are loaded and unloads them
 * once they were unheld for the idle time. */
/* The table's fields share the functions' names, which curl's type-checking
 * macros would expand. */
#define CURL_DISABLE_TYPECHECK
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "images/pull_libs.h"

/* The sonames the headers we build against belong to (libcurl4-openssl-dev,
 * libarchive-dev); both have kept theirs for over a decade. */
#define CURL_SONAME "libcurl.so.4"
#define ARCHIVE_SONAME "libarchive.so.13"
#define UNLOADER_STACK (64 * 1024)

/* Under ASan an unloaded library's allocations that it keeps for its whole
 * life lose their last reference with its globals, and LeakSanitizer would
 * report them at exit: sanitizer builds keep the libraries once loaded. */
#if defined(__SANITIZE_ADDRESS__)
#define KEEP_LOADED_BUILD true
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEP_LOADED_BUILD true
#endif
#endif
#ifndef KEEP_LOADED_BUILD
#define KEEP_LOADED_BUILD false
#endif

#define FIELD(ret, name, params, args) ret(*name) params;
#define FIELD_V(name, params, args) void(*name) params;
struct pull_fns {
  IMG_CURL_FUNCS(FIELD, FIELD_V)
  IMG_ARCHIVE_FUNCS(FIELD, FIELD_V)
  CURLcode (*curl_easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*curl_easy_getinfo)(CURL *, CURLINFO, ...);
  CURLSHcode (*curl_share_setopt)(CURLSH *, CURLSHoption, ...);
  void (*archive_set_error)(struct archive *, int, const char *, ...);
};

struct symbol {
  const char *name;
  size_t offset; /* in struct pull_fns */
  bool archive;  /* else curl */
};
#define SYMBOL_CURL(ret, name, params, args) {#name, offsetof(struct pull_fns, name), false},
#define SYMBOL_CURL_V(name, params, args) {#name, offsetof(struct pull_fns, name), false},
#define SYMBOL_ARCHIVE(ret, name, params, args) {#name, offsetof(struct pull_fns, name), true},
#define SYMBOL_ARCHIVE_V(name, params, args) {#name, offsetof(struct pull_fns, name), true},
static const struct symbol symbols[] = {
    IMG_CURL_FUNCS(SYMBOL_CURL, SYMBOL_CURL_V) IMG_ARCHIVE_FUNCS(SYMBOL_ARCHIVE, SYMBOL_ARCHIVE_V){
        "curl_easy_setopt", offsetof(struct pull_fns, curl_easy_setopt), false},
    {"curl_easy_getinfo", offsetof(struct pull_fns, curl_easy_getinfo), false},
    {"curl_share_setopt", offsetof(struct pull_fns, curl_share_setopt), false},
    {"archive_set_error", offsetof(struct pull_fns, archive_set_error), true},
};

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* holds dropped to 0, or keep was asked */
  void *curl, *archive;
  struct pull_fns fns;
  unsigned holds;
  bool loaded;
  bool keep;
  bool unloader_running;
  unsigned idle_ms;
  struct timespec last_release; /* CLOCK_MONOTONIC */
  struct img_pull_libs_user *users;
  unsigned loads; /* for the log */
} libs = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .idle_ms = 3000,
};
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;

static void cv_init(void) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&libs.cv, &attr);
  pthread_condattr_destroy(&attr);
}

static const struct pull_fns *fns(const char *name) {
  /* No lock: a caller holds the libraries, and its hold (taken under the
   * mutex) ordered it after the load that filled the table. */
  if (!libs.loaded) {
    log_error("images: %s called without a hold of the pull libraries", name);
    abort();
  }
  return &libs.fns;
}

#define FORWARD(ret, name, params, args)                                                           \
  ret img_##name params {                                                                          \
    return fns(#name)->name args;                                                                  \
  }
#define FORWARD_V(name, params, args)                                                              \
  void img_##name params {                                                                         \
    fns(#name)->name args;                                                                         \
  }
IMG_CURL_FUNCS(FORWARD, FORWARD_V)
IMG_ARCHIVE_FUNCS(FORWARD, FORWARD_V)

CURLcode img_curl_easy_setopt(CURL *h, CURLoption option, ...) {
  const struct pull_fns *f = fns("curl_easy_setopt");
  va_list ap;
  CURLcode rc;
  va_start(ap, option);
  /* The option's number says its argument's type (curl.h, CURLOPTTYPE_*). */
  if (option < CURLOPTTYPE_OBJECTPOINT)
    rc = f->curl_easy_setopt(h, option, va_arg(ap, long));
  else if (option < CURLOPTTYPE_FUNCTIONPOINT)
    rc = f->curl_easy_setopt(h, option, va_arg(ap, void *));
  else if (option < CURLOPTTYPE_OFF_T)
    rc = f->curl_easy_setopt(h, option, va_arg(ap, void (*)(void)));
  else if (option < CURLOPTTYPE_BLOB)
    rc = f->curl_easy_setopt(h, option, va_arg(ap, curl_off_t));
  else
    rc = f->curl_easy_setopt(h, option, va_arg(ap, void *));
  va_end(ap);
  return rc;
}

CURLcode img_curl_easy_getinfo(CURL *h, CURLINFO info, void *out) {
  return fns("curl_easy_getinfo")->curl_easy_getinfo(h, info, out);
}

CURLSHcode img_curl_share_setopt(CURLSH *s, CURLSHoption option, ...) {
  const struct pull_fns *f = fns("curl_share_setopt");
  va_list ap;
  CURLSHcode rc;
  va_start(ap, option);
  if (option == CURLSHOPT_SHARE || option == CURLSHOPT_UNSHARE)
    rc = f->curl_share_setopt(s, option, va_arg(ap, int));
  else if (option == CURLSHOPT_LOCKFUNC || option == CURLSHOPT_UNLOCKFUNC)
    rc = f->curl_share_setopt(s, option, va_arg(ap, void (*)(void)));
  else
    rc = f->curl_share_setopt(s, option, va_arg(ap, void *));
  va_end(ap);
  return rc;
}

void img_archive_set_error(struct archive *a, int errnum, const char *fmt, ...) {
  const struct pull_fns *f = fns("archive_set_error");
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  f->archive_set_error(a, errnum, "%s", msg);
}

/* ---- loading and unloading (libs.mu held) ---------------------------------- */

static void close_handles(void) {
  if (libs.curl)
    dlclose(libs.curl);
  if (libs.archive)
    dlclose(libs.archive);
  libs.curl = libs.archive = NULL;
  memset(&libs.fns, 0, sizeof libs.fns);
}

static int load(crio_error_t *err) {
  libs.curl = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!libs.curl)
    return crio_error(err, ELIBACC, "image pulls need %s: %s", CURL_SONAME, dlerror());
  libs.archive = dlopen(ARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!libs.archive) {
    crio_error(err, ELIBACC, "image pulls need %s: %s", ARCHIVE_SONAME, dlerror());
    close_handles();
    return -1;
  }
  for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
    void *sym = dlsym(symbols[i].archive ? libs.archive : libs.curl, symbols[i].name);
    if (!sym) {
      crio_error(err, ELIBACC, "%s has no %s", symbols[i].archive ? ARCHIVE_SONAME : CURL_SONAME,
                 symbols[i].name);
      close_handles();
      return -1;
    }
    memcpy((char *)&libs.fns + symbols[i].offset, &sym, sizeof sym);
  }
  CURLcode rc = libs.fns.curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    crio_error(err, EIO, "curl_global_init: %s", libs.fns.curl_easy_strerror(rc));
    close_handles();
    return -1;
  }
  /* certs.d CAs are added to OpenSSL's store in a CTX callback (http.c). */
  const curl_version_info_data *info = libs.fns.curl_version_info(CURLVERSION_NOW);
  if (!info->ssl_version || strncmp(info->ssl_version, "OpenSSL", 7) != 0) {
    crio_error(err, ENOTSUP,
               "%s uses %s; the registry client needs its OpenSSL flavour (libcurl4-openssl-dev)",
               CURL_SONAME, info->ssl_version ? info->ssl_version : "no TLS");
    libs.fns.curl_global_cleanup();
    close_handles();
    return -1;
  }
  libs.loaded = true;
  libs.loads++;
  return 0;
}

static void unload(void) {
  for (struct img_pull_libs_user *u = libs.users; u; u = u->next)
    u->drop(u->opaque);
  libs.fns.curl_global_cleanup();
  libs.loaded = false;
  close_handles();
}

static long ms_since(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* Lives while the libraries are loaded: unloads them once nobody held them
 * for idle_ms, then ends. */
static void *unloader(void *arg) {
  (void)arg;
  pthread_mutex_lock(&libs.mu);
  for (;;) {
    if (libs.keep)
      break;
    if (libs.holds > 0) {
      pthread_cond_wait(&libs.cv, &libs.mu);
      continue;
    }
    long waited = ms_since(&libs.last_release);
    if (waited >= (long)libs.idle_ms) {
      unload();
      /* What the libraries' destructors freed goes back to the system: the
       * handler pool's trim after the last call ran before this. */
      malloc_trim(0);
      log_debug("images: pull libraries unloaded after %u ms unused", libs.idle_ms);
      break;
    }
    struct timespec until = libs.last_release;
    until.tv_sec += libs.idle_ms / 1000;
    until.tv_nsec += (long)(libs.idle_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&libs.cv, &libs.mu, &until);
  }
  libs.unloader_running = false;
  pthread_mutex_unlock(&libs.mu);
  return NULL;
}

static void start_unloader(void) {
  if (libs.keep || libs.unloader_running)
    return;
  pthread_attr_t attr;
  pthread_t tid;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, UNLOADER_STACK);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&tid, &attr, unloader, NULL) == 0) {
    libs.unloader_running = true;
    pthread_setname_np(tid, "pull-libs");
  } else {
    libs.keep = true;
    log_warning("images: no thread to unload the pull libraries: they stay loaded");
  }
  pthread_attr_destroy(&attr);
}

int img_pull_libs_hold(crio_error_t *err) {
  pthread_once(&cv_once, cv_init);
  pthread_mutex_lock(&libs.mu);
  if (!libs.loaded) {
    if (load(err) < 0) {
      pthread_mutex_unlock(&libs.mu);
      return -1;
    }
    if (KEEP_LOADED_BUILD)
      libs.keep = true;
    log_debug("images: pull libraries loaded (%u time(s) so far)", libs.loads);
  }
  libs.holds++;
  /* After a load, and after an unloader that gave up on a hold ended. */
  start_unloader();
  pthread_mutex_unlock(&libs.mu);
  return 0;
}

void img_pull_libs_release(void) {
  pthread_mutex_lock(&libs.mu);
  if (libs.holds == 0) {
    log_error("images: pull libraries released more often than held");
    abort();
  }
  if (--libs.holds == 0) {
    clock_gettime(CLOCK_MONOTONIC, &libs.last_release);
    pthread_cond_broadcast(&libs.cv);
  }
  pthread_mutex_unlock(&libs.mu);
}

void img_pull_libs_register(struct img_pull_libs_user *user) {
  pthread_mutex_lock(&libs.mu);
  user->next = libs.users;
  libs.users = user;
  pthread_mutex_unlock(&libs.mu);
}

void img_pull_libs_unregister(struct img_pull_libs_user *user) {
  pthread_mutex_lock(&libs.mu);
  for (struct img_pull_libs_user **p = &libs.users; *p; p = &(*p)->next) {
    if (*p == user) {
      *p = user->next;
      break;
    }
  }
  if (libs.loaded)
    user->drop(user->opaque);
  pthread_mutex_unlock(&libs.mu);
}

void img_pull_libs_keep(const char *why) {
  pthread_once(&cv_once, cv_init);
  pthread_mutex_lock(&libs.mu);
  if (!libs.keep)
    log_info("images: the pull libraries stay loaded from now on: %s", why);
  libs.keep = true;
  pthread_cond_broadcast(&libs.cv);
  pthread_mutex_unlock(&libs.mu);
}

void img_pull_libs_set_idle_ms(unsigned ms) {
  pthread_once(&cv_once, cv_init);
  pthread_mutex_lock(&libs.mu);
  libs.idle_ms = ms;
  pthread_cond_broadcast(&libs.cv);
  pthread_mutex_unlock(&libs.mu);
}

bool img_pull_libs_loaded(void) {
  pthread_mutex_lock(&libs.mu);
  bool loaded = libs.loaded;
  pthread_mutex_unlock(&libs.mu);
  return loaded;
}
