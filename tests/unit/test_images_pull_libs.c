/* The pull path's libraries (images/pull_libs.h): loaded by the first hold,
 * unloaded (not mapped any more) once unheld for the idle time, loaded
 * again by the next hold, never unloaded while held or once kept; the
 * registry client's handles are dropped before an unload.  Also
 * http_escape, which no longer goes through libcurl. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "images/pull_libs.h"
#include "images/registry_http.h"
#include "tests/unit/testing.h"

/* Whether /proc/self/maps maps a file whose name contains needle. */
static bool mapped(const char *needle) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[1024];
  bool found = false;
  CHECK(f != NULL);
  while (!found && fgets(line, sizeof line, f))
    found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Until the unloader thread is done (it ends after unloading). */
static bool wait_unloaded(long max_ms) {
  for (long waited = 0; waited < max_ms; waited += 10) {
    if (!img_pull_libs_loaded() && !mapped("libcurl.so") && !mapped("libarchive.so"))
      return true;
    sleep_ms(10);
  }
  return false;
}

static void use_both(void) {
  CURLU *u = img_curl_url();
  CHECK(u != NULL);
  CHECK_INT_EQ(img_curl_url_set(u, CURLUPART_URL, "https://registry.example:5000/v2/", 0),
               CURLUE_OK);
  char *host = NULL;
  CHECK_INT_EQ(img_curl_url_get(u, CURLUPART_HOST, &host, 0), CURLUE_OK);
  CHECK_STR_EQ(host, "registry.example");
  img_curl_free(host);
  img_curl_url_cleanup(u);
  struct archive *a = img_archive_read_new();
  CHECK(a != NULL);
  CHECK_INT_EQ(img_archive_read_support_format_tar(a), ARCHIVE_OK);
  CHECK_INT_EQ(img_archive_read_free(a), ARCHIVE_OK);
}

static void test_load_unload_reload(void) {
  cleanup_error crio_error_t err = NULL;
  img_pull_libs_set_idle_ms(50);
  CHECK(!img_pull_libs_loaded());
  CHECK(!mapped("libcurl.so"));
  for (int round = 0; round < 3; round++) {
    CHECK_INT_EQ(img_pull_libs_hold(&err), 0);
    CHECK(img_pull_libs_loaded());
    CHECK(mapped("libcurl.so"));
    CHECK(mapped("libarchive.so"));
    use_both();
    /* Held: stays, however long. */
    sleep_ms(150);
    CHECK(img_pull_libs_loaded());
    img_pull_libs_release();
    if (!wait_unloaded(5000)) {
      fprintf(stderr, "round %d: still loaded 5 s after the last release\n", round);
      exit(1);
    }
  }
}

static void test_client_handles_dropped(void) {
  cleanup_error crio_error_t err = NULL;
  struct img_registry_client *c = NULL;
  CHECK_INT_EQ(img_registry_client_new(NULL, &c, &err), 0);
  CHECK(!img_pull_libs_loaded()); /* a client alone loads nothing */
  CHECK_INT_EQ(img_pull_libs_hold(&err), 0);
  CHECK_INT_EQ(client_share_ready(c, &err), 0);
  CHECK(c->share != NULL);
  c->pool[c->pool_len++] = img_curl_easy_init();
  img_pull_libs_release();
  CHECK(wait_unloaded(5000));
  CHECK(c->share == NULL);
  CHECK_INT_EQ(c->pool_len, 0);
  /* Made again after a reload. */
  CHECK_INT_EQ(img_pull_libs_hold(&err), 0);
  CHECK_INT_EQ(client_share_ready(c, &err), 0);
  CHECK(c->share != NULL);
  img_pull_libs_release();
  img_registry_client_free(c);
  CHECK(wait_unloaded(5000));
}

static void test_escape(void) {
  cleanup_free char *a = http_escape("repository:library/busybox:pull");
  CHECK_STR_EQ(a, "repository%3Alibrary%2Fbusybox%3Apull");
  cleanup_free char *b = http_escape("A-z_0.9~ é");
  CHECK_STR_EQ(b, "A-z_0.9~%20%C3%A9");
  cleanup_free char *c = http_escape("");
  CHECK_STR_EQ(c, "");
}

/* Last: keep is for the rest of the process. */
static void test_keep(void) {
  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(img_pull_libs_hold(&err), 0);
  img_pull_libs_keep("test");
  img_pull_libs_release();
  sleep_ms(300);
  CHECK(img_pull_libs_loaded());
  CHECK(mapped("libcurl.so"));
}

int main(void) {
  /* Sanitizer builds keep the libraries loaded (pull_libs.c). */
#if defined(__SANITIZE_ADDRESS__)
  fprintf(stderr, "skipped: sanitizer build keeps the pull libraries loaded\n");
  return 77;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  fprintf(stderr, "skipped: sanitizer build keeps the pull libraries loaded\n");
  return 77;
#endif
#endif
  RUN_TEST(test_escape);
  RUN_TEST(test_load_unload_reload);
  RUN_TEST(test_client_handles_dropped);
  RUN_TEST(test_keep);
  return 0;
}
