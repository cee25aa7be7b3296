/* Is data.mdb whole?  Checked before LMDB maps it, because LMDB trusts
 * the file: measured with LMDB 0.9.24, a data.mdb cut short after its
 * meta pages makes the first read transaction die of SIGBUS (the meta
 * pages point at pages past the end); garbage in a meta page makes
 * mdb_env_open fail with ENOMEM (a huge last page) or MDB_INVALID; a
 * garbage branch page makes a walk fault anywhere in the map; a truncated
 * file of zero bytes is silently taken for a new, empty database.  So the
 * file is read with pread, never mapped: both meta pages as LMDB checks
 * them, then every page reachable from the newer one.
 *
 * The layout below is LMDB 0.9's data file format (MDB_DATA_VERSION 1)
 * on a 64-bit little-endian host: the format is stable across 0.9.x. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recovery/internal.h"

#define MDB_MAGIC 0xBEEFC0DEu
#define MDB_DATA_VERSION 1u
#define PAGEHDRSZ 16u
#define NODESIZE 8u
#define P_INVALID UINT64_MAX

#define P_BRANCH 0x01u
#define P_LEAF 0x02u
#define P_OVERFLOW 0x04u
#define P_META 0x08u
#define P_LEAF2 0x20u

#define F_BIGDATA 0x01u
#define F_SUBDATA 0x02u
#define F_DUPDATA 0x04u

/* Offsets in a meta page: the page header, then MDB_meta. */
#define META_MAGIC 16u
#define META_VERSION 20u
#define META_DBS 40u /* MDB_db[2]: free pages, main */
#define META_LAST_PG 136u
#define META_TXNID 144u
#define META_END 152u
#define DB_SIZE 48u /* MDB_db */
#define DB_PAD 0u   /* free db: the page size */
#define DB_ROOT 40u

/* LMDB 0.9 pages are 512 bytes to 32 KiB; no real file has more pages
 * than this many bytes (a garbage last_pg makes LMDB ask for a map of
 * exabytes and fail with ENOMEM). */
#define MAX_FILE_BYTES (1ull << 46)

static uint16_t get16(const uint8_t *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}
static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

struct db_file {
  const char *path;
  int fd;
  uint64_t size;
  uint32_t psize;
  uint64_t n_pages; /* whole pages in the file */
  uint64_t last_pg; /* of the meta in use */
  uint8_t *seen;    /* a bit per page reached */
  uint8_t *page;    /* scratch, psize bytes, per depth */
};

static int damaged(crio_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int damaged(crio_error_t *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  return crio_error(err, EUCLEAN, "%s", msg);
}

static int read_at(struct db_file *f, void *buf, size_t len, uint64_t off, crio_error_t *err) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(f->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return crio_error_errno(err, errno, "read %s", f->path);
    if (n == 0)
      return damaged(err, "%s ends at byte %llu, inside a page it needs", f->path,
                     (unsigned long long)(off + done));
    done += (size_t)n;
  }
  return 0;
}

struct meta {
  uint32_t psize;
  uint64_t free_root, main_root, last_pg, txnid;
};

static int read_meta(struct db_file *f, int which, uint64_t off, struct meta *m,
                     crio_error_t *err) {
  uint8_t buf[META_END];
  if (read_at(f, buf, sizeof(buf), off, err) < 0)
    return -1;
  if ((get16(buf + 10) & P_META) == 0 || get32(buf + META_MAGIC) != MDB_MAGIC)
    return damaged(err, "meta page %d of %s is not an LMDB meta page", which, f->path);
  if (get32(buf + META_VERSION) != MDB_DATA_VERSION)
    return damaged(err, "meta page %d of %s has data format %u, not %u", which, f->path,
                   get32(buf + META_VERSION), MDB_DATA_VERSION);
  m->psize = get32(buf + META_DBS + DB_PAD);
  m->free_root = get64(buf + META_DBS + DB_ROOT);
  m->main_root = get64(buf + META_DBS + DB_SIZE + DB_ROOT);
  m->last_pg = get64(buf + META_LAST_PG);
  m->txnid = get64(buf + META_TXNID);
  if (m->psize < 512 || m->psize > 32768 || (m->psize & (m->psize - 1)) != 0)
    return damaged(err, "meta page %d of %s names page size %u", which, f->path, m->psize);
  if (m->last_pg < 1 || m->last_pg > MAX_FILE_BYTES / m->psize)
    return damaged(err, "meta page %d of %s names last page %llu", which, f->path,
                   (unsigned long long)m->last_pg);
  return 0;
}

static bool seen_test_and_set(struct db_file *f, uint64_t pgno) {
  uint8_t bit = (uint8_t)(1u << (pgno & 7));
  bool was = f->seen[pgno >> 3] & bit;
  f->seen[pgno >> 3] |= bit;
  return was;
}

/* A page reference: inside the file, inside what the meta page says was
 * ever used, and not reached before (a B-tree has no shared pages). */
static int check_pgno(struct db_file *f, uint64_t pgno, uint64_t parent, crio_error_t *err) {
  if (pgno >= f->n_pages)
    return damaged(err,
                   "%s is truncated: page %llu (referenced by page %llu) lies past its end "
                   "(%llu bytes, %llu pages of %u bytes)",
                   f->path, (unsigned long long)pgno, (unsigned long long)parent,
                   (unsigned long long)f->size, (unsigned long long)f->n_pages, f->psize);
  if (pgno > f->last_pg || pgno < 2)
    return damaged(err, "page %llu of %s references page %llu, outside the pages in use (2..%llu)",
                   (unsigned long long)parent, f->path, (unsigned long long)pgno,
                   (unsigned long long)f->last_pg);
  if (seen_test_and_set(f, pgno))
    return damaged(err, "page %llu of %s is referenced twice (again by page %llu)",
                   (unsigned long long)pgno, f->path, (unsigned long long)parent);
  return 0;
}

static int check_overflow(struct db_file *f, uint64_t pgno, uint64_t parent, uint64_t data_size,
                          crio_error_t *err) {
  if (check_pgno(f, pgno, parent, err) < 0)
    return -1;
  uint8_t hdr[PAGEHDRSZ];
  if (read_at(f, hdr, sizeof(hdr), pgno * f->psize, err) < 0)
    return -1;
  uint64_t count = get32(hdr + 12);
  if (get64(hdr) != pgno || (get16(hdr + 10) & P_OVERFLOW) == 0)
    return damaged(err, "page %llu of %s should be an overflow page and is not",
                   (unsigned long long)pgno, f->path);
  if (count == 0 || count * f->psize < data_size + PAGEHDRSZ || pgno + count > f->n_pages ||
      pgno + count - 1 > f->last_pg)
    return damaged(err, "overflow page %llu of %s spans %llu pages, which %s",
                   (unsigned long long)pgno, f->path, (unsigned long long)count,
                   pgno + count > f->n_pages ? "run past the end of the file (truncated)"
                                             : "cannot hold its value");
  for (uint64_t i = 1; i < count; i++)
    seen_test_and_set(f, pgno + i);
  return 0;
}

static int walk_tree(struct db_file *f, uint64_t root, uint64_t parent, bool named_dbs, int depth,
                     crio_error_t *err);

/* One node of a leaf page: its data inline, on overflow pages, or a
 * database of its own (the main tree's named databases, dupsort subtrees). */
static int check_leaf_node(struct db_file *f, uint64_t pgno, const uint8_t *page, uint32_t off,
                           bool named_dbs, int depth, crio_error_t *err) {
  const uint8_t *node = page + off;
  uint32_t dsize = get16(node) | (uint32_t)get16(node + 2) << 16;
  uint16_t flags = get16(node + 4);
  uint32_t ksize = get16(node + 6);
  uint64_t data_off = (uint64_t)off + NODESIZE + ksize;
  if (flags & F_BIGDATA) {
    if (data_off + 8 > f->psize)
      return damaged(err, "a node of page %llu of %s runs past the page", (unsigned long long)pgno,
                     f->path);
    return check_overflow(f, get64(page + data_off), pgno, dsize, err);
  }
  if (data_off + dsize > f->psize)
    return damaged(err, "a node of page %llu of %s runs past the page (key %u, data %u bytes)",
                   (unsigned long long)pgno, f->path, ksize, dsize);
  if ((flags & F_SUBDATA) && (named_dbs || (flags & F_DUPDATA))) {
    if (dsize != DB_SIZE)
      return damaged(err, "a database record in page %llu of %s has %u bytes, not %u",
                     (unsigned long long)pgno, f->path, dsize, DB_SIZE);
    return walk_tree(f, get64(page + data_off + DB_ROOT), pgno, false, depth + 1, err);
  }
  return 0; /* inline data, or an inline dupsort sub-page (bounds checked) */
}

static int walk_tree(struct db_file *f, uint64_t root, uint64_t parent, bool named_dbs, int depth,
                     crio_error_t *err) {
  if (root == P_INVALID)
    return 0; /* an empty tree */
  if (depth > 64)
    return damaged(err, "%s has a tree deeper than any LMDB makes", f->path);
  if (check_pgno(f, root, parent, err) < 0)
    return -1;
  cleanup_free uint8_t *page = xmalloc(f->psize);
  if (read_at(f, page, f->psize, root * f->psize, err) < 0)
    return -1;
  uint16_t flags = get16(page + 10);
  uint32_t lower = get16(page + 12), upper = get16(page + 14);
  if (get64(page) != root)
    return damaged(err, "page %llu of %s says it is page %llu", (unsigned long long)root, f->path,
                   (unsigned long long)get64(page));
  bool branch = flags & P_BRANCH, leaf = flags & P_LEAF;
  if (branch == leaf)
    return damaged(err, "page %llu of %s should be a tree page and has flags 0x%x",
                   (unsigned long long)root, f->path, flags);
  if (lower < PAGEHDRSZ || lower > upper || upper > f->psize || (lower - PAGEHDRSZ) % 2)
    return damaged(err, "page %llu of %s has bounds %u..%u", (unsigned long long)root, f->path,
                   lower, upper);
  if (flags & P_LEAF2)
    return 0; /* fixed-size keys packed after the header: bounds say it all */
  uint32_t n_keys = (lower - PAGEHDRSZ) / 2;
  for (uint32_t i = 0; i < n_keys; i++) {
    uint32_t off = get16(page + PAGEHDRSZ + 2 * i);
    if (off < upper || off + NODESIZE > f->psize)
      return damaged(err, "node %u of page %llu of %s lies outside the page (%u)", i,
                     (unsigned long long)root, f->path, off);
    const uint8_t *node = page + off;
    if (branch) {
      uint32_t ksize = get16(node + 6);
      if (off + NODESIZE + ksize > f->psize)
        return damaged(err, "node %u of page %llu of %s runs past the page", i,
                       (unsigned long long)root, f->path);
      uint64_t child =
          get16(node) | (uint64_t)get16(node + 2) << 16 | (uint64_t)get16(node + 4) << 32;
      if (walk_tree(f, child, root, named_dbs, depth + 1, err) < 0)
        return -1;
    } else if (check_leaf_node(f, root, page, off, named_dbs, depth, err) < 0) {
      return -1;
    }
  }
  return 0;
}

static void db_file_close(struct db_file *f) {
  if (f->fd >= 0)
    close(f->fd);
  free(f->seen);
}

int recovery_db_check(const char *db_dir, crio_error_t *err) {
  cleanup_free char *path = xasprintf("%s/data.mdb", db_dir);
  __attribute__((cleanup(db_file_close))) struct db_file f = {.path = path, .fd = -1};
  f.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (f.fd < 0) {
    if (errno == ENOENT)
      return 0; /* a new database */
    return crio_error_errno(err, errno, "open %s", path);
  }
  struct stat st;
  if (fstat(f.fd, &st) < 0)
    return crio_error_errno(err, errno, "stat %s", path);
  if (!S_ISREG(st.st_mode))
    return damaged(err, "%s is not a regular file", path);
  f.size = (uint64_t)st.st_size;
  if (f.size == 0)
    return damaged(err, "%s is empty (0 bytes): its contents were lost", path);

  struct meta m[2];
  if (read_meta(&f, 0, 0, &m[0], err) < 0)
    return -1;
  if (f.size < 2ull * m[0].psize)
    return damaged(err, "%s is truncated: %llu bytes, shorter than its two meta pages", path,
                   (unsigned long long)f.size);
  if (read_meta(&f, 1, m[0].psize, &m[1], err) < 0)
    return -1;
  if (m[1].psize != m[0].psize)
    return damaged(err, "the meta pages of %s disagree on the page size (%u, %u)", path, m[0].psize,
                   m[1].psize);
  /* The newer meta page is the one LMDB uses (the older one on a tie). */
  const struct meta *use = m[1].txnid > m[0].txnid ? &m[1] : &m[0];
  f.psize = use->psize;
  f.n_pages = f.size / f.psize;
  f.last_pg = use->last_pg;
  /* A bit per page that can be reached: check_pgno refuses a page past the
   * file's end before marking it, so the file's size bounds the bitmap, not
   * the meta page's last_pg (up to 2^31 pages: 256 MiB for a 12 KiB file,
   * found by fuzz_store_db as a 10-second check). */
  f.seen = xcalloc((size_t)((f.last_pg < f.n_pages ? f.last_pg : f.n_pages) / 8 + 1), 1);
  if (walk_tree(&f, use->free_root, use == &m[0] ? 0 : 1, false, 0, err) < 0 ||
      walk_tree(&f, use->main_root, use == &m[0] ? 0 : 1, true, 0, err) < 0)
    return -1;
  return 0;
}

char *recovery_db_damaged_message(const char *db_dir, const char *why) {
  return xasprintf("database %s is damaged: %s; see %s", db_dir, why, RECOVERY_DAMAGED_DOC);
}

/* ---- the SIGBUS guard ----------------------------------------------------------------------
 * A signal handler has no context to be handed, so what it needs is set
 * once, before the store is opened, and only read afterwards. */
static char guard_file[4096];    /* <db_dir>/data.mdb */
static char guard_message[8192]; /* written as is */
static size_t guard_message_len;

static bool hex_value(const char **p, uintptr_t *out) {
  uintptr_t v = 0;
  const char *s = *p;
  bool any = false;
  for (;; s++) {
    int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
    if (d < 0)
      break;
    v = v * 16 + (uintptr_t)d;
    any = true;
  }
  *p = s;
  *out = v;
  return any;
}

/* "start-end perms offset dev inode   path": does it map addr from the
 * guarded file? */
static bool line_maps(const char *line, uintptr_t addr) {
  uintptr_t start, end;
  const char *p = line;
  if (!hex_value(&p, &start) || *p++ != '-' || !hex_value(&p, &end))
    return false;
  if (addr < start || addr >= end)
    return false;
  const char *path = strchr(p, '/');
  return path && strcmp(path, guard_file) == 0;
}

/* Only async-signal-safe calls: open, read, write, _exit. */
static bool address_in_guarded_file(uintptr_t addr) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  char buf[4096];
  char line[4608];
  size_t line_len = 0;
  bool found = false;
  ssize_t n;
  while (!found && (n = read(fd, buf, sizeof(buf))) > 0) {
    for (ssize_t i = 0; i < n && !found; i++) {
      if (buf[i] != '\n') {
        if (line_len < sizeof(line) - 1)
          line[line_len++] = buf[i];
        continue;
      }
      line[line_len] = '\0';
      found = line_maps(line, addr);
      line_len = 0;
    }
  }
  close(fd);
  return found;
}

static void on_sigbus(int sig, siginfo_t *info, void *ucontext) {
  (void)ucontext;
  if (info && address_in_guarded_file((uintptr_t)info->si_addr)) {
    ssize_t ignored = write(STDERR_FILENO, guard_message, guard_message_len);
    (void)ignored;
    _exit(RECOVERY_EXIT_DB_DAMAGED);
  }
  /* Not the database: the default action (core) on return, when the
   * faulting access is made again. */
  signal(sig, SIG_DFL);
}

void recovery_db_fault_guard(const char *db_dir) {
  char *resolved = realpath(db_dir, NULL);
  snprintf(guard_file, sizeof(guard_file), "%s/data.mdb", resolved ? resolved : db_dir);
  free(resolved);
  cleanup_free char *msg = recovery_db_damaged_message(
      db_dir, "reading data.mdb faulted (SIGBUS): the file is shorter than LMDB expects, or "
              "its disk failed");
  snprintf(guard_message, sizeof(guard_message), "crio: %s\n", msg);
  guard_message_len = strlen(guard_message);
  struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, NULL);
}
