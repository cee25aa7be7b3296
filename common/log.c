#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "common/common.h"

/* Process-wide sink, written once by crio_log_init() before threads start
 * and only read afterwards (see common.h), except the level, which
 * crio_log_set_level changes atomically (SIGHUP). */
static struct {
  enum crio_log_level level;
  bool journal;
} log_sink = {CRIO_LOG_INFO, false};

static const char *const level_names[] = {"error", "warning", "info", "debug", "trace"};

int crio_log_level_parse(const char *name, enum crio_log_level *out) {
  for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
    if (strcasecmp(name, level_names[i]) == 0) {
      *out = (enum crio_log_level)i;
      return 0;
    }
  }
  /* CRI-O also accepts these spellings. */
  if (strcasecmp(name, "warn") == 0) {
    *out = CRIO_LOG_WARNING;
    return 0;
  }
  if (strcasecmp(name, "fatal") == 0 || strcasecmp(name, "panic") == 0) {
    *out = CRIO_LOG_ERROR;
    return 0;
  }
  return -1;
}

const char *crio_log_level_name(enum crio_log_level level) {
  if ((size_t)level < sizeof(level_names) / sizeof(level_names[0]))
    return level_names[level];
  return "unknown";
}

void crio_log_init(enum crio_log_level level, bool use_journal) {
  log_sink.level = level;
  log_sink.journal = use_journal;
}

void crio_log_set_level(enum crio_log_level level) {
  __atomic_store_n(&log_sink.level, level, __ATOMIC_RELAXED);
}

bool crio_log_enabled(enum crio_log_level level) {
  return level <= __atomic_load_n(&log_sink.level, __ATOMIC_RELAXED);
}

static int syslog_priority(enum crio_log_level level) {
  switch (level) {
  case CRIO_LOG_ERROR:
    return LOG_ERR;
  case CRIO_LOG_WARNING:
    return LOG_WARNING;
  case CRIO_LOG_INFO:
    return LOG_INFO;
  default:
    return LOG_DEBUG;
  }
}

void crio_log(enum crio_log_level level, const char *fmt, ...) {
  if (!crio_log_enabled(level))
    return;
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  if (log_sink.journal) {
    crio_journal_send(msg, syslog_priority(level), "crio");
    return;
  }
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  /* One fprintf per record so lines from threads do not interleave. */
  fprintf(stderr, "%s.%06ldZ %-7s %s\n", stamp, ts.tv_nsec / 1000, level_names[level], msg);
}
