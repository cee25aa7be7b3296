/* Private to images/: the pull path's libraries, libcurl (the registry
 * client) and libarchive (layer decompression and tar parsing), loaded with
 * dlopen on first use and unloaded once no pull has used them for a while.
 *
 * Why: the two drag in some fifty libraries (TLS stacks, Kerberos, LDAP,
 * SSH, ICU, the compressors) whose pages would stay resident in the daemon
 * for its whole life although only a pull uses them; unloaded, a node that
 * is not pulling does not carry them (docs/operations.md, "Memory and
 * threads").  The daemon's own binary does not link either.
 *
 * Every use of a function below sits between img_pull_libs_hold() and
 * img_pull_libs_release(): http.c holds for one HTTP exchange, decompress.c
 * for one layer stream.  Objects that outlive a hold (the registry client's
 * idle handles and its curl share) are registered with
 * img_pull_libs_register(), whose drop callback frees them before an
 * unload.  Calling one of the functions without a hold aborts.
 *
 * The libraries are process-wide whatever one does (dlopen handles,
 * curl_global_init), so their state here is too: the one exception to "no
 * global state outside the daemon context", like the log sink. */
#ifndef CRIO_IMAGES_PULL_LIBS_H
#define CRIO_IMAGES_PULL_LIBS_H

#include <stdbool.h>

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>

#include "common/common.h"

/* Loads the libraries if they are not loaded (ELIBACC naming the one that
 * is missing or lacks a function, ENOTSUP for a libcurl built without
 * OpenSSL) and holds them loaded until the matching release. */
int img_pull_libs_hold(crio_error_t *err);
void img_pull_libs_release(void);

/* drop(opaque) runs before the libraries are unloaded, with no hold
 * anywhere: it frees what the owner keeps of them.  unregister runs it one
 * last time if they are loaded. */
struct img_pull_libs_user {
  void (*drop)(void *opaque);
  void *opaque;
  struct img_pull_libs_user *next;
};
void img_pull_libs_register(struct img_pull_libs_user *user);
void img_pull_libs_unregister(struct img_pull_libs_user *user);

/* The libraries stay loaded for the rest of the process: code of theirs
 * may still run outside any hold (a name resolution thread libcurl left
 * behind when a transfer ended before the name was resolved). */
void img_pull_libs_keep(const char *why);

/* For tests: the idle time before an unload (default 3000 ms), and
 * whether the libraries are loaded now. */
void img_pull_libs_set_idle_ms(unsigned ms);
bool img_pull_libs_loaded(void);

/* The functions images/ calls, as img_<name>, each forwarding to the
 * loaded library.  X(return type, name, (parameters), (arguments)); the
 * void ones in XV.  Variadic ones are declared apart below. */
#define IMG_CURL_FUNCS(X, XV)                                                                      \
  X(CURLcode, curl_global_init, (long flags), (flags))                                             \
  XV(curl_global_cleanup, (void), ())                                                              \
  X(curl_version_info_data *, curl_version_info, (CURLversion v), (v))                             \
  X(const char *, curl_easy_strerror, (CURLcode c), (c))                                           \
  X(CURLSH *, curl_share_init, (void), ())                                                         \
  X(CURLSHcode, curl_share_cleanup, (CURLSH * s), (s))                                             \
  X(CURL *, curl_easy_init, (void), ())                                                            \
  X(CURLcode, curl_easy_perform, (CURL * h), (h))                                                  \
  XV(curl_easy_reset, (CURL * h), (h))                                                             \
  XV(curl_easy_cleanup, (CURL * h), (h))                                                           \
  XV(curl_free, (void *p), (p))                                                                    \
  X(CURLU *, curl_url, (void), ())                                                                 \
  XV(curl_url_cleanup, (CURLU * u), (u))                                                           \
  X(CURLUcode, curl_url_get, (CURLU * u, CURLUPart what, char **part, unsigned int flags),         \
    (u, what, part, flags))                                                                        \
  X(CURLUcode, curl_url_set, (CURLU * u, CURLUPart what, const char *part, unsigned int flags),    \
    (u, what, part, flags))                                                                        \
  X(struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s), (l, s))        \
  XV(curl_slist_free_all, (struct curl_slist * l), (l))

#define IMG_ARCHIVE_FUNCS(X, XV)                                                                   \
  X(struct archive *, archive_read_new, (void), ())                                                \
  X(int, archive_read_free, (struct archive * a), (a))                                             \
  X(int, archive_read_support_filter_gzip, (struct archive * a), (a))                              \
  X(int, archive_read_support_filter_zstd, (struct archive * a), (a))                              \
  X(int, archive_read_support_format_raw, (struct archive * a), (a))                               \
  X(int, archive_read_support_format_tar, (struct archive * a), (a))                               \
  X(int, archive_read_open,                                                                        \
    (struct archive * a, void *data, archive_open_callback *o, archive_read_callback *r,           \
     archive_close_callback *c),                                                                   \
    (a, data, o, r, c))                                                                            \
  X(int, archive_read_next_header, (struct archive * a, struct archive_entry * *e), (a, e))        \
  X(la_ssize_t, archive_read_data, (struct archive * a, void *buf, size_t n), (a, buf, n))         \
  X(int, archive_read_data_block,                                                                  \
    (struct archive * a, const void **buf, size_t *n, la_int64_t *offset), (a, buf, n, offset))    \
  X(const char *, archive_error_string, (struct archive * a), (a))                                 \
  X(time_t, archive_entry_atime, (struct archive_entry * e), (e))                                  \
  X(int, archive_entry_atime_is_set, (struct archive_entry * e), (e))                              \
  X(long, archive_entry_atime_nsec, (struct archive_entry * e), (e))                               \
  X(time_t, archive_entry_mtime, (struct archive_entry * e), (e))                                  \
  X(int, archive_entry_mtime_is_set, (struct archive_entry * e), (e))                              \
  X(long, archive_entry_mtime_nsec, (struct archive_entry * e), (e))                               \
  X(__LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e))                          \
  X(__LA_MODE_T, archive_entry_perm, (struct archive_entry * e), (e))                              \
  X(la_int64_t, archive_entry_uid, (struct archive_entry * e), (e))                                \
  X(la_int64_t, archive_entry_gid, (struct archive_entry * e), (e))                                \
  X(la_int64_t, archive_entry_size, (struct archive_entry * e), (e))                               \
  X(dev_t, archive_entry_rdev, (struct archive_entry * e), (e))                                    \
  X(const char *, archive_entry_pathname, (struct archive_entry * e), (e))                         \
  X(const char *, archive_entry_pathname_utf8, (struct archive_entry * e), (e))                    \
  X(const char *, archive_entry_symlink, (struct archive_entry * e), (e))                          \
  X(const char *, archive_entry_symlink_utf8, (struct archive_entry * e), (e))                     \
  X(const char *, archive_entry_hardlink, (struct archive_entry * e), (e))                         \
  X(const char *, archive_entry_hardlink_utf8, (struct archive_entry * e), (e))                    \
  X(int, archive_entry_xattr_count, (struct archive_entry * e), (e))                               \
  X(int, archive_entry_xattr_reset, (struct archive_entry * e), (e))                               \
  X(int, archive_entry_xattr_next,                                                                 \
    (struct archive_entry * e, const char **name, const void **value, size_t *size),               \
    (e, name, value, size))

#define IMG_PULL_LIBS_DECLARE(ret, name, params, args) ret img_##name params;
#define IMG_PULL_LIBS_DECLARE_V(name, params, args) void img_##name params;
IMG_CURL_FUNCS(IMG_PULL_LIBS_DECLARE, IMG_PULL_LIBS_DECLARE_V)
IMG_ARCHIVE_FUNCS(IMG_PULL_LIBS_DECLARE, IMG_PULL_LIBS_DECLARE_V)

/* The variadic ones: the argument's type follows from the option, as
 * libcurl itself decides it. */
CURLcode img_curl_easy_setopt(CURL *h, CURLoption option, ...);
CURLcode img_curl_easy_getinfo(CURL *h, CURLINFO info, void *out);
CURLSHcode img_curl_share_setopt(CURLSH *s, CURLSHoption option, ...);
/* Formats here and hands libarchive the text. */
void img_archive_set_error(struct archive *a, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
