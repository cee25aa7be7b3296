/* Users and groups of a container, from the image's /etc/passwd and
 * /etc/group, with the rules of Docker's and runc's USER: "name", "uid",
 * "name:group", "uid:gid" (and mixed).  The files are the image's, read
 * from inside its rootfs (spec_open_in_root), and only if they are regular
 * files: a FIFO would block the daemon, a device could do anything. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/spec_internal.h"

/* Far above any real passwd file; keeps a hostile image from making the
 * daemon read gigabytes. */
#define DB_MAX_BYTES (16u << 20)

void oci_user_release(struct oci_user *u) {
  if (u == NULL)
    return;
  free(u->groups);
  free(u->name);
  free(u->home);
  memset(u, 0, sizeof(*u));
}

/* Decimal 0..4294967294 (4294967295 is (uid_t)-1, "no change"). */
static bool parse_id(const char *s, uint32_t *out) {
  if (s == NULL || *s == '\0' || strlen(s) > 10)
    return false;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9')
      return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v >= UINT32_MAX)
    return false;
  *out = (uint32_t)v;
  return true;
}

/* Reads <rootfs>/etc/<name>; *text NULL if the image has no such file. */
static int read_db(int rootfd, const char *path, char **text, crio_error_t *err) {
  *text = NULL;
  cleanup_close int pathfd = spec_open_in_root(rootfd, path, O_PATH);
  if (pathfd < 0) {
    if (errno == ENOENT)
      return 0;
    return crio_error_errno(err, errno, "%s in the rootfs", path);
  }
  struct stat st;
  if (fstat(pathfd, &st) < 0)
    return crio_error_errno(err, errno, "stat %s in the rootfs", path);
  if (!S_ISREG(st.st_mode))
    return crio_error(err, EINVAL, "%s in the rootfs is not a regular file", path);
  if ((uint64_t)st.st_size > DB_MAX_BYTES)
    return crio_error(err, EINVAL, "%s in the rootfs is larger than %u bytes", path, DB_MAX_BYTES);
  /* Reopen for reading the very file checked (not the name again). */
  char proc[64];
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
  cleanup_close int fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return crio_error_errno(err, errno, "open %s in the rootfs", path);
  size_t cap = (size_t)st.st_size + 1, len = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (len + 1 >= cap) {
      if (cap > DB_MAX_BYTES) {
        free(buf);
        return crio_error(err, EINVAL, "%s in the rootfs is larger than %u bytes", path,
                          DB_MAX_BYTES);
      }
      cap *= 2;
      buf = xrealloc(buf, cap);
    }
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int saved = errno;
      free(buf);
      return crio_error_errno(err, saved, "read %s in the rootfs", path);
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  *text = buf;
  return 0;
}

/* Splits one line into at most `max` ':'-separated fields in place; returns
 * the count. */
static size_t split_fields(char *line, char **fields, size_t max) {
  size_t n = 0;
  fields[n++] = line;
  for (char *p = line; *p && n < max; p++)
    if (*p == ':') {
      *p = '\0';
      fields[n++] = p + 1;
    }
  return n;
}

/* Calls fn on every well-formed line (`nfields` fields, not a comment).
 * Stops when fn returns true. */
static void for_each_line(char *text, size_t nfields, bool (*fn)(char **fields, void *arg),
                          void *arg) {
  if (text == NULL)
    return;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
      line[len - 1] = '\0';
    if (line[0] == '#' || line[0] == '\0')
      continue;
    char *fields[8];
    char *copy = xstrdup(line);
    bool stop = false;
    if (split_fields(copy, fields, nfields) == nfields)
      stop = fn(fields, arg);
    free(copy);
    if (stop)
      return;
  }
}

struct passwd_query {
  const char *name; /* match by name, or */
  uint32_t uid;     /* by uid when name is NULL */
  bool found;
  uint32_t found_uid, found_gid;
  char *found_name, *found_home;
};

static bool passwd_match(char **f, void *arg) {
  struct passwd_query *q = arg;
  uint32_t uid, gid;
  /* name:password:uid:gid:gecos:home:shell */
  if (!parse_id(f[2], &uid) || !parse_id(f[3], &gid))
    return false;
  if (q->name ? strcmp(f[0], q->name) != 0 : uid != q->uid)
    return false;
  q->found = true;
  q->found_uid = uid;
  q->found_gid = gid;
  q->found_name = xstrdup(f[0]);
  q->found_home = xstrdup(f[5][0] ? f[5] : "/");
  return true;
}

struct group_query {
  const char *name; /* look up this group's gid, or */
  bool found;
  uint32_t found_gid;
  const char *member; /* collect the groups listing this member */
  uint32_t exclude_gid;
  uint32_t *gids;
  size_t n;
};

static bool group_match(char **f, void *arg) {
  struct group_query *q = arg;
  uint32_t gid;
  /* name:password:gid:member,member */
  if (!parse_id(f[2], &gid))
    return false;
  if (q->name) {
    if (strcmp(f[0], q->name) != 0)
      return false;
    q->found = true;
    q->found_gid = gid;
    return true;
  }
  char *save = NULL;
  for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
    if (strcmp(m, q->member) != 0)
      continue;
    bool dup = gid == q->exclude_gid;
    for (size_t i = 0; i < q->n && !dup; i++)
      dup = q->gids[i] == gid;
    if (!dup) {
      q->gids = xrealloc(q->gids, (q->n + 1) * sizeof(*q->gids));
      q->gids[q->n++] = gid;
    }
    break;
  }
  return false;
}

int oci_user_resolve(int rootfd, const char *user, struct oci_user *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (user == NULL)
    user = "";
  cleanup_free char *spec = xstrdup(user);
  char *group = strchr(spec, ':');
  if (group) {
    *group++ = '\0';
    if (strchr(group, ':') || spec[0] == '\0' || group[0] == '\0')
      return crio_error(err, EINVAL, "user \"%s\": must be user or user:group", user);
  }
  const char *name = spec[0] ? spec : "0";

  cleanup_free char *passwd = NULL;
  cleanup_free char *groups = NULL;
  if (read_db(rootfd, "/etc/passwd", &passwd, err) < 0 ||
      read_db(rootfd, "/etc/group", &groups, err) < 0)
    return crio_error_prefix(err, "user \"%s\"", user);

  struct passwd_query pq = {0};
  uint32_t uid;
  bool numeric = parse_id(name, &uid);
  if (numeric)
    pq.uid = uid;
  else
    pq.name = name;
  cleanup_free char *passwd_copy = passwd ? xstrdup(passwd) : NULL;
  for_each_line(passwd_copy, 7, passwd_match, &pq);
  if (!pq.found && !numeric)
    return crio_error(err, EINVAL, "user \"%s\": no user \"%s\" in the image's /etc/passwd%s", user,
                      name, passwd ? "" : " (it has none)");
  out->uid = pq.found ? pq.found_uid : uid;
  out->gid = pq.found ? pq.found_gid : 0;
  out->name = pq.found_name;
  out->home = pq.found_home ? pq.found_home : xstrdup("/");

  if (group) {
    uint32_t gid;
    if (parse_id(group, &gid)) {
      out->gid = gid;
    } else {
      struct group_query gq = {.name = group};
      cleanup_free char *group_copy = groups ? xstrdup(groups) : NULL;
      for_each_line(group_copy, 4, group_match, &gq);
      if (!gq.found) {
        oci_user_release(out);
        return crio_error(err, EINVAL, "user \"%s\": no group \"%s\" in the image's /etc/group%s",
                          user, group, groups ? "" : " (it has none)");
      }
      out->gid = gq.found_gid;
    }
  }

  if (out->name) {
    struct group_query gq = {.member = out->name, .exclude_gid = out->gid};
    for_each_line(groups, 4, group_match, &gq);
    out->groups = gq.gids;
    out->n_groups = gq.n;
  }
  return 0;
}
