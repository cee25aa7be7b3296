/* The side effects of the image steps: fetching an image's missing layers
 * into the layer store (a few at once, each streamed from the registry
 * through decompression into its directory), checking they are there, and
 * collecting them when the image goes. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "images/service_internal.h"

struct fetch_job {
  struct img_service *svc;
  struct img_pull_plan *plan;
  const char *image_id;
  size_t *todo; /* layer indexes to download */
  size_t n_todo;
  uint64_t *sizes; /* uncompressed bytes per layer */
  bool (*should_stop)(void *opaque);
  void *stop_opaque;

  pthread_mutex_t mu;
  size_t next;      /* next entry of todo to take */
  bool failed;      /* stop the other layers */
  crio_error_t err; /* the first failure */
};

struct layer_sink {
  struct fetch_job *job;
  struct img_layer_unpack *unpack;
};

static bool job_failed(struct fetch_job *job) {
  pthread_mutex_lock(&job->mu);
  bool failed = job->failed;
  pthread_mutex_unlock(&job->mu);
  return failed;
}

/* Between the download and the unpack: stops a layer when another one
 * failed or the daemon is stopping. */
static int layer_sink_write(void *opaque, const void *data, size_t len, crio_error_t *err) {
  struct layer_sink *s = opaque;
  if (job_failed(s->job))
    return crio_error(err, ECANCELED, "another layer of the image failed");
  if (s->job->should_stop && s->job->should_stop(s->job->stop_opaque))
    return crio_error(err, ECANCELED, "the daemon is stopping");
  return img_layer_unpack_write(s->unpack, data, len, err);
}

static int fetch_layer(struct fetch_job *job, size_t i, crio_error_t *err) {
  struct img_pull_plan *plan = job->plan;
  const struct img_descriptor *d = &plan->pull->parsed->layers[i];
  struct img_layer_unpack_params params = {
      .compressed_digest = d->digest,
      .media_type = d->media_type,
      .parent_chain_id = i ? plan->chain_ids[i - 1] : NULL,
      .expected_diff_id = plan->diff_ids[i],
  };
  struct img_layer_info info;
  struct img_layer_unpack *unpack = NULL;
  int r = img_layer_unpack_begin(job->svc->layers, &params, &unpack, &info, err);
  if (r < 0)
    return crio_error_prefix(err, "layer %zu (%s)", i, d->digest);
  if (r == 0) {
    struct layer_sink sink = {.job = job, .unpack = unpack};
    if (img_pull_layer(plan->pull, i, layer_sink_write, &sink, NULL, err) < 0) {
      img_layer_unpack_abort(unpack);
      return crio_error_prefix(err, "layer %zu (%s)", i, d->digest);
    }
    if (img_layer_unpack_finish(unpack, &info, err) < 0)
      return crio_error_prefix(err, "layer %zu (%s)", i, d->digest);
    log_debug("image %s: layer %zu %s %s (%llu bytes unpacked)", job->image_id, i, info.chain_id,
              info.already_present ? "was published meanwhile" : "published",
              (unsigned long long)info.uncompressed_size);
  }
  if (strcmp(info.chain_id, plan->chain_ids[i]) != 0)
    return crio_error(err, EBADMSG, "layer %zu: chain id %s, the config says %s", i, info.chain_id,
                      plan->chain_ids[i]);
  job->sizes[i] = info.uncompressed_size;
  return 0;
}

static void *fetch_worker(void *opaque) {
  struct fetch_job *job = opaque;
  for (;;) {
    pthread_mutex_lock(&job->mu);
    if (job->failed || job->next >= job->n_todo) {
      pthread_mutex_unlock(&job->mu);
      return NULL;
    }
    size_t i = job->todo[job->next++];
    pthread_mutex_unlock(&job->mu);

    crio_error_t err = NULL;
    if (fetch_layer(job, i, &err) < 0) {
      pthread_mutex_lock(&job->mu);
      /* The first failure is the cause; the ECANCELED of layers stopped
       * because of it is not news. */
      if (!job->failed) {
        job->failed = true;
        job->err = err;
        err = NULL;
      }
      pthread_mutex_unlock(&job->mu);
      crio_error_release(&err);
    }
  }
}

/* Runs the job on up to parallel_layers threads, this one included. */
static int run_job(struct fetch_job *job, crio_error_t *err) {
  size_t n_threads = job->svc->parallel_layers;
  if (n_threads > job->n_todo)
    n_threads = job->n_todo;
  cleanup_free pthread_t *threads = xcalloc(n_threads ? n_threads : 1, sizeof(pthread_t));
  size_t started = 0;
  for (size_t t = 1; t < n_threads; t++) {
    if (crio_thread_start(&threads[started], CRIO_THREAD_STACK_SMALL, fetch_worker, job) != 0)
      break; /* fewer threads is slower, not wrong */
    started++;
  }
  fetch_worker(job);
  for (size_t t = 0; t < started; t++)
    pthread_join(threads[t], NULL);
  if (job->failed) {
    crio_error(err, crio_error_status(&job->err), "%s", crio_error_message(&job->err));
    crio_error_release(&job->err);
    return -1;
  }
  return 0;
}

/* The plan the pull offered, or a new one by digest. */
static int plan_for(struct img_service *svc, const store_record *rec, struct img_pull_plan **out,
                    crio_error_t *err) {
  *out = img_service_offered_plan(svc, rec->id);
  if (*out)
    return 0;
  return img_service_plan_resume(svc, rec, out, err);
}

static int plan_matches_record(const struct img_pull_plan *plan, const store_record *rec,
                               crio_error_t *err) {
  if (plan->n_layers != rec->image->n_layers)
    return crio_error(err, EBADMSG, "image %s: %zu layers, the record has %zu", rec->id,
                      plan->n_layers, rec->image->n_layers);
  for (size_t i = 0; i < plan->n_layers; i++)
    if (strcmp(plan->chain_ids[i], rec->image->layers[i]) != 0)
      return crio_error(err, EBADMSG, "image %s: layer %zu is %s, the record says %s", rec->id, i,
                        plan->chain_ids[i], rec->image->layers[i]);
  return 0;
}

/* Under the holds: which layers are missing, and the sizes of the others. */
static int survey(struct fetch_job *job, char *const *chain_ids, size_t n, crio_error_t *err) {
  for (size_t i = 0; i < n; i++) {
    struct img_layer_info info;
    cleanup_error crio_error_t get_err = NULL;
    if (img_layer_store_get(job->svc->layers, chain_ids[i], &info, &get_err) == 0) {
      job->sizes[i] = info.uncompressed_size;
      continue;
    }
    if (crio_error_status(&get_err) != ENOENT)
      return crio_error(err, crio_error_status(&get_err), "%s", crio_error_message(&get_err));
    job->todo[job->n_todo++] = i;
  }
  return 0;
}

int img_service_fetch_layers(struct img_service *svc, store_record *rec,
                             bool (*should_stop)(void *opaque), void *opaque, crio_error_t *err) {
  Crio__Store__ImageBody *body = rec->image;
  if (body == NULL || body->n_layers == 0)
    return crio_error(err, EINVAL, "image %s: the record lists no layers", rec->id);
  size_t n = body->n_layers;
  cleanup_free size_t *todo = xcalloc(n, sizeof(size_t));
  cleanup_free uint64_t *sizes = xcalloc(n, sizeof(uint64_t));
  struct fetch_job job = {
      .svc = svc,
      .image_id = rec->id,
      .todo = todo,
      .sizes = sizes,
      .should_stop = should_stop,
      .stop_opaque = opaque,
  };
  pthread_mutex_init(&job.mu, NULL);

  img_service_hold(svc, body->layers, n);
  int rc = survey(&job, body->layers, n, err);
  if (rc == 0 && job.n_todo > 0) {
    rc = plan_for(svc, rec, &job.plan, err);
    if (rc == 0)
      rc = plan_matches_record(job.plan, rec, err);
    if (rc == 0) {
      log_info("image %s: fetching %zu of %zu layer(s) from %s", rec->id, job.n_todo, n,
               job.plan->reference);
      rc = run_job(&job, err);
    }
  }
  img_service_unhold(svc, body->layers, n);
  img_pull_plan_unref(job.plan);
  pthread_mutex_destroy(&job.mu);
  if (rc < 0)
    return crio_error_prefix(err, "image %s", rec->id);

  uint64_t size = 0;
  for (size_t i = 0; i < n; i++)
    size += sizes[i];
  body->size = size;
  return 0;
}

int img_service_check_layers(struct img_service *svc, const store_record *rec, crio_error_t *err) {
  if (rec->image == NULL)
    return crio_error(err, EINVAL, "image %s: record without an image body", rec->id);
  for (size_t i = 0; i < rec->image->n_layers; i++) {
    int r = img_layer_store_exists(svc->layers, rec->image->layers[i], err);
    if (r < 0)
      return crio_error_prefix(err, "image %s", rec->id);
    if (r == 0)
      return crio_error(err, EIO, "image %s: layer %s is missing from the layer store", rec->id,
                        rec->image->layers[i]);
  }
  return 0;
}
