/* crio-image-fetch: a test-only tool that pulls an image's manifest, config
 * and layers into a directory with the registry client, so the Python
 * integration tests can drive it against a real registry before the CRI
 * handlers exist.
 *
 *   crio-image-fetch [options] IMAGE OUTDIR
 *     --registries-conf PATH   (default: none, i.e. docker.io for short names)
 *     --certs-dir DIR          (default /etc/containers/certs.d)
 *     --username U --password P | --auth B64 | --identity-token T
 *     --registry-token T
 *     --platform OS/ARCH[/VARIANT]
 *     --low-speed-time SECONDS
 *     --jobs N                 layers downloaded in parallel (default 2)
 *
 * OUTDIR gets manifest.json (the image manifest's bytes), config.json,
 * blobs/ALG/HEX for each layer, and result.json describing the pull.  A
 * layer is written to a temporary name and renamed only once its digest
 * has been verified.  On failure: exit 1 and "error: ERRNAME: message" on
 * stderr. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "images/registry.h"

struct layer_job {
  struct img_pull *pull;
  size_t index;
  const char *outdir;
  struct img_blob_progress progress;
  crio_error_t err;
};

struct layer_file {
  FILE *f;
  const char *path;
};

static int write_chunk(void *opaque, const void *data, size_t len, crio_error_t *err) {
  struct layer_file *lf = opaque;
  if (fwrite(data, 1, len, lf->f) != len)
    return crio_error_errno(err, errno, "write %s", lf->path);
  return 0;
}

static int fetch_layer(struct layer_job *job) {
  const struct img_descriptor *d = &job->pull->parsed->layers[job->index];
  cleanup_free char *dir = NULL, *path = NULL, *tmp = NULL;
  const char *colon = strchr(d->digest, ':');
  dir = xasprintf("%s/blobs/%.*s", job->outdir, (int)(colon - d->digest), d->digest);
  path = xasprintf("%s/%s", dir, colon + 1);
  tmp = xasprintf("%s.partial", path);
  if (crio_mkdir_p(dir, 0755, &job->err) < 0)
    return -1;
  struct layer_file lf = {.f = fopen(tmp, "we"), .path = tmp};
  if (!lf.f)
    return crio_error_errno(&job->err, errno, "open %s", tmp);
  int ret = img_pull_layer(job->pull, job->index, write_chunk, &lf, &job->progress, &job->err);
  if (fclose(lf.f) != 0 && ret == 0)
    ret = crio_error_errno(&job->err, errno, "close %s", tmp);
  if (ret == 0 && rename(tmp, path) < 0)
    ret = crio_error_errno(&job->err, errno, "rename %s", tmp);
  if (ret < 0)
    unlink(tmp); /* nothing half-written is left behind */
  return ret;
}

struct worker {
  struct layer_job *jobs;
  size_t n_jobs;
  size_t *next;
  pthread_mutex_t *lock;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  for (;;) {
    pthread_mutex_lock(w->lock);
    size_t i = (*w->next)++;
    pthread_mutex_unlock(w->lock);
    if (i >= w->n_jobs)
      return NULL;
    fetch_layer(&w->jobs[i]);
  }
}

static int write_result(const char *outdir, const struct img_pull *pull,
                        const struct layer_job *jobs, crio_error_t *err) {
  cJSON *root = cJSON_CreateObject();
  cleanup_free char *ref = img_reference_format(&pull->ref);
  cJSON_AddStringToObject(root, "reference", ref);
  cJSON_AddStringToObject(root, "host", pull->source.host);
  cJSON_AddStringToObject(root, "repository", pull->source.repository);
  cJSON_AddBoolToObject(root, "mirror", pull->source.mirror);
  cJSON_AddStringToObject(root, "manifest_digest", pull->manifest_digest);
  if (pull->index_digest)
    cJSON_AddStringToObject(root, "index_digest", pull->index_digest);
  cJSON_AddStringToObject(root, "media_type", pull->parsed->media_type);
  cJSON_AddStringToObject(root, "config_digest", pull->parsed->config.digest);
  cJSON *layers = cJSON_AddArrayToObject(root, "layers");
  for (size_t i = 0; i < pull->parsed->n_layers; i++) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "digest", pull->parsed->layers[i].digest);
    cJSON_AddStringToObject(l, "media_type", pull->parsed->layers[i].media_type);
    cJSON_AddNumberToObject(l, "size", (double)pull->parsed->layers[i].size);
    cJSON_AddNumberToObject(l, "bytes", (double)jobs[i].progress.bytes);
    cJSON_AddItemToArray(layers, l);
  }
  char *text = cJSON_Print(root);
  cleanup_free char *path = xasprintf("%s/result.json", outdir);
  int ret = crio_write_file_atomic(path, text, strlen(text), 0644, err);
  free(text);
  cJSON_Delete(root);
  return ret;
}

static int fail(crio_error_t *err) {
  const char *name = strerrorname_np(crio_error_status(err));
  fprintf(stderr, "error: %s: %s\n", name ? name : "?", crio_error_message(err));
  return 1;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"registries-conf", required_argument, NULL, 'r'},
      {"certs-dir", required_argument, NULL, 'c'},
      {"username", required_argument, NULL, 'u'},
      {"password", required_argument, NULL, 'p'},
      {"auth", required_argument, NULL, 'a'},
      {"identity-token", required_argument, NULL, 'i'},
      {"registry-token", required_argument, NULL, 't'},
      {"platform", required_argument, NULL, 'P'},
      {"low-speed-time", required_argument, NULL, 'l'},
      {"jobs", required_argument, NULL, 'j'},
      {NULL, 0, NULL, 0},
  };
  const char *conf_path = NULL;
  struct img_registry_options options = {0};
  struct img_auth auth = {0};
  struct img_platform platform = {0};
  bool have_platform = false;
  long jobs_n = 2;
  int opt;
  cleanup_error crio_error_t err = NULL;
  cleanup_img_registries_conf struct img_registries_conf *conf = NULL;
  cleanup_img_registry_client struct img_registry_client *client = NULL;
  cleanup_img_pull struct img_pull *pull = NULL;

  crio_log_init(getenv("CRIO_FETCH_DEBUG") ? CRIO_LOG_DEBUG : CRIO_LOG_WARNING, false);
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (opt) {
    case 'r':
      conf_path = optarg;
      break;
    case 'c':
      options.certs_dir = optarg;
      break;
    case 'u':
      auth.username = optarg;
      break;
    case 'p':
      auth.password = optarg;
      break;
    case 'a':
      auth.auth = optarg;
      break;
    case 'i':
      auth.identity_token = optarg;
      break;
    case 't':
      auth.registry_token = optarg;
      break;
    case 'l':
      options.low_speed_time = atol(optarg);
      break;
    case 'j':
      jobs_n = atol(optarg) > 0 ? atol(optarg) : 1;
      break;
    case 'P': {
      char *s = xstrdup(optarg);
      platform.os = strtok(s, "/");
      platform.architecture = strtok(NULL, "/");
      platform.variant = strtok(NULL, "/");
      have_platform = true;
      break;
    }
    default:
      fprintf(stderr, "usage: %s [options] IMAGE OUTDIR\n", argv[0]);
      return 2;
    }
  }
  if (argc - optind != 2) {
    fprintf(stderr, "usage: %s [options] IMAGE OUTDIR\n", argv[0]);
    return 2;
  }
  const char *image = argv[optind], *outdir = argv[optind + 1];

  if (conf_path && img_registries_conf_load(conf_path, &conf, &err) < 0)
    return fail(&err);
  if (img_registry_client_new(&options, &client, &err) < 0)
    return fail(&err);
  if (img_pull_manifest(client, conf, image, &auth, have_platform ? &platform : NULL, &pull, &err) <
      0)
    return fail(&err);
  if (crio_mkdir_p(outdir, 0755, &err) < 0)
    return fail(&err);
  cleanup_free char *manifest_path = xasprintf("%s/manifest.json", outdir);
  cleanup_free char *config_path = xasprintf("%s/config.json", outdir);
  if (crio_write_file_atomic(manifest_path, pull->manifest.body, pull->manifest.len, 0644, &err) <
          0 ||
      crio_write_file_atomic(config_path, pull->config, pull->config_len, 0644, &err) < 0)
    return fail(&err);

  size_t n = pull->parsed->n_layers, next = 0;
  struct layer_job *jobs = xcalloc(n ? n : 1, sizeof(*jobs));
  for (size_t i = 0; i < n; i++)
    jobs[i] = (struct layer_job){.pull = pull, .index = i, .outdir = outdir};
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  struct worker w = {jobs, n, &next, &lock};
  size_t n_threads = (size_t)jobs_n < n ? (size_t)jobs_n : n;
  pthread_t *threads = xcalloc(n_threads ? n_threads : 1, sizeof(*threads));
  for (size_t i = 0; i < n_threads; i++)
    pthread_create(&threads[i], NULL, worker_main, &w);
  for (size_t i = 0; i < n_threads; i++)
    pthread_join(threads[i], NULL);
  free(threads);
  int status = 0;
  for (size_t i = 0; i < n && !status; i++)
    if (jobs[i].err) {
      crio_error_prefix(&jobs[i].err, "layer %zu", i);
      status = fail(&jobs[i].err);
    }
  if (!status && write_result(outdir, pull, jobs, &err) < 0)
    status = fail(&err);
  for (size_t i = 0; i < n; i++)
    crio_error_release(&jobs[i].err);
  free(jobs);
  free(platform.os);
  return status;
}
