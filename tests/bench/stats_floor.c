/* The floor of the stats bench (bench_stats.py): the cgroup files a stats
 * call must read, read without the daemon.  Every path named on stdin (one
 * a line) is opened once; then, `rounds` times, each is read once with
 * pread into a buffer, as the daemon's sampler reads its kept files.
 * Prints the median and the fastest round in microseconds:
 * "floor <median_us> <min_us>".  No parsing, no RPC, no allocation: what
 * is left is the kernel's cost of the reads.
 *
 *     gcc -O2 -o stats_floor stats_floor.c && stats_floor 40 < paths */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 40;
  if (rounds < 1)
    rounds = 1;
  size_t n = 0, cap = 256;
  int *fds = malloc(cap * sizeof(*fds));
  char line[4096];
  while (fgets(line, sizeof(line), stdin)) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '\0')
      continue;
    int fd = open(line, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      perror(line);
      return 1;
    }
    if (n == cap)
      fds = realloc(fds, (cap *= 2) * sizeof(*fds));
    fds[n++] = fd;
  }
  static char buf[16384];
  long long *took = malloc((size_t)rounds * sizeof(*took));
  for (int r = 0; r < rounds; r++) {
    long long t0 = now_ns();
    for (size_t i = 0; i < n; i++)
      if (pread(fds[i], buf, sizeof(buf), 0) < 0) {
        perror("pread");
        return 1;
      }
    took[r] = now_ns() - t0;
  }
  qsort(took, (size_t)rounds, sizeof(*took), cmp_ll);
  printf("floor %.1f %.1f\n", took[rounds / 2] / 1e3, took[0] / 1e3);
  return 0;
}
