/* What every container step file shares: the container's paths, its
 * runtime and stored config, its conmon, and the table of stops in
 * progress.  Calls nothing in the other container files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "reconciler/container_steps.h"

/* ---- paths, runtime, config, conmon
 * ----------------------------------------------------------------- */

void container_paths_init(struct container_paths *p, const struct reconciler_container_env *env,
                          const char *id) {
  p->dir = xasprintf("%s/containers/%s", env->root, id);
  p->merged = xasprintf("%s/merged", p->dir);
  p->bundle = xasprintf("%s/containers/%s", env->runroot, id);
  p->exits = xasprintf("%s/exits", env->runroot);
  p->attach = xasprintf("%s/attach", env->runroot);
  p->termination_log = xasprintf("%s/termination-log", p->dir);
}

void container_paths_release(struct container_paths *p) {
  free(p->dir);
  free(p->merged);
  free(p->bundle);
  free(p->exits);
  free(p->attach);
  free(p->termination_log);
  memset(p, 0, sizeof(*p));
}

char *container_persist_root(const struct reconciler_container_env *env) {
  return xasprintf("%s/containers", env->root);
}

char *reconciler_container_default_log_path(const struct reconciler_container_env *env,
                                            const char *id) {
  return xasprintf("%s/containers/%s/container.log", env->root, id);
}

const struct oci_runtime *container_runtime(const struct reconciler_container_env *env,
                                            const store_record *rec, crio_error_t *err) {
  const char *name = rec->container ? rec->container->runtime_handler : "";
  for (size_t i = 0; i < env->n_runtimes; i++)
    if (strcmp(env->runtimes[i].name, name) == 0)
      return env->runtimes[i].runtime;
  crio_error(err, EINVAL, "container %s: runtime handler \"%s\" is not configured", rec->id, name);
  return NULL;
}

int reconciler_container_runtime_stats(const struct reconciler_container_env *env,
                                       const char *handler, const char *id,
                                       struct reconciler_runtime_usage *out, crio_error_t *err) {
  for (size_t i = 0; env && i < env->n_runtimes; i++) {
    if (strcmp(env->runtimes[i].name, handler) != 0)
      continue;
    struct oci_runtime_stats st;
    if (oci_runtime_stats(env->runtimes[i].runtime, id, &st, err) < 0)
      return -1;
    out->cpu_usage_ns = st.cpu_usage_ns;
    out->memory_usage_bytes = st.memory_usage_bytes;
    return 0;
  }
  return crio_error(err, ENOSYS, "runtime handler \"%s\" is not configured", handler);
}

Runtime__V1__ContainerConfig *container_config(const store_record *rec, crio_error_t *err) {
  Runtime__V1__ContainerConfig *config = NULL;
  if (rec->container && rec->container->cri_config.len)
    config = runtime__v1__container_config__unpack(NULL, rec->container->cri_config.len,
                                                   rec->container->cri_config.data);
  if (config == NULL)
    crio_error(err, EINVAL, "container %s: stored config does not decode", rec->id);
  return config;
}

void container_config_freep(Runtime__V1__ContainerConfig **config) {
  if (*config)
    runtime__v1__container_config__free_unpacked(*config, NULL);
  *config = NULL;
}

/* conmon's argv contains "-c <id>": a pid that names something else now
 * is not ours. */
static bool cmdline_is_conmon_of(pid_t pid, const char *id) {
  cleanup_free char *path = xasprintf("/proc/%d/cmdline", (int)pid);
  cleanup_free char *text = NULL;
  size_t len = 0;
  crio_error_t e = NULL;
  if (crio_read_file(path, &text, &len, &e) < 0) {
    crio_error_release(&e);
    return false;
  }
  bool is_conmon = false, names_id = false;
  const char *prev = NULL;
  for (const char *p = text; p < text + len; p += strlen(p) + 1) {
    if (prev == NULL) {
      const char *slash = strrchr(p, '/');
      is_conmon = strcmp(slash ? slash + 1 : p, "conmon") == 0;
    } else if (strcmp(prev, "-c") == 0 && strcmp(p, id) == 0) {
      names_id = true;
    }
    prev = p;
  }
  return is_conmon && names_id;
}

int container_conmon_from_pidfile(const char *bundle, const char *id, pid_t *pid,
                                  uint64_t *start_time, crio_error_t *err) {
  *pid = 0;
  *start_time = 0;
  pid_t found = 0;
  cleanup_error crio_error_t e = NULL;
  if (oci_conmon_read_pidfile(bundle, &found, &e) < 0) {
    if (crio_error_status(&e) == ENOENT || crio_error_status(&e) == EINVAL)
      return 0;
    return crio_error(err, crio_error_status(&e), "%s", crio_error_message(&e));
  }
  uint64_t start = 0;
  if (crio_proc_start_time(found, &start, &e) < 0)
    return 0; /* gone */
  if (!cmdline_is_conmon_of(found, id))
    return 0;
  *pid = found;
  *start_time = start;
  return 0;
}

int container_conmon_kill_all(const store_record *rec, const struct container_paths *p,
                              crio_error_t *err) {
  const Crio__Store__ContainerBody *c = rec->container;
  if (c && c->conmon_pid > 0 && oci_conmon_kill(c->conmon_pid, c->conmon_start_time, err) < 0)
    return crio_error_prefix(err, "container %s: stop conmon", rec->id);
  pid_t pid = 0;
  uint64_t start = 0;
  if (container_conmon_from_pidfile(p->bundle, rec->id, &pid, &start, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  if (pid > 0 && oci_conmon_kill(pid, start, err) < 0)
    return crio_error_prefix(err, "container %s: stop conmon", rec->id);
  return 0;
}

/* ---- the table (env->state->lock) ----------------------------------------------------- */

struct stop_progress *container_stop_find_locked(struct container_env_state *st, const char *id,
                                                 bool create) {
  for (struct stop_progress *s = st->stops; s; s = s->next)
    if (strcmp(s->id, id) == 0)
      return s;
  if (!create)
    return NULL;
  struct stop_progress *s = xzalloc(sizeof(*s));
  s->id = xstrdup(id);
  s->next = st->stops;
  st->stops = s;
  return s;
}

void reconciler_container_stop_timeout(struct reconciler_container_env *env, const char *id,
                                       int64_t timeout_s) {
  struct container_env_state *st = env->state;
  pthread_mutex_lock(&st->lock);
  struct stop_progress *s = container_stop_find_locked(st, id, true);
  /* A stop under way only ever gets shorter. */
  if (!(s->phase == STOP_SIGNALLED && s->has_timeout && timeout_s > s->timeout_s)) {
    s->timeout_s = timeout_s < 0 ? 0 : timeout_s;
    s->has_timeout = true;
  }
  pthread_mutex_unlock(&st->lock);
}

void container_stop_forget(struct reconciler_container_env *env, const char *id) {
  struct container_env_state *st = env->state;
  pthread_mutex_lock(&st->lock);
  for (struct stop_progress **pp = &st->stops; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->id, id) == 0) {
      struct stop_progress *s = *pp;
      *pp = s->next;
      free(s->id);
      free(s);
      break;
    }
  }
  pthread_mutex_unlock(&st->lock);
}

void container_stops_free(struct container_env_state *st) {
  while (st->stops) {
    struct stop_progress *s = st->stops;
    st->stops = s->next;
    free(s->id);
    free(s);
  }
}

/* ---- the env ----------------------------------------------------------------------- */

void container_env_state_init(struct reconciler_container_env *env) {
  if (env->state != NULL)
    return;
  env->state = xzalloc(sizeof(*env->state));
  pthread_mutex_init(&env->state->lock, NULL);
  env->state->env = env;
}

void reconciler_container_env_release(struct reconciler_container_env *env) {
  struct container_env_state *st = env->state;
  if (st == NULL)
    return;
  container_stops_free(st);
  pthread_mutex_destroy(&st->lock);
  free(st);
  env->state = NULL;
}

void container_release_conmon(struct reconcile_step *step) {
  const store_record *rec = step->record;
  for (size_t i = 0; i < rec->n_resources; i++) {
    if (strcmp(rec->resources[i]->type, CTR_RES_CONMON) == 0) {
      reconcile_step_release(step, CTR_RES_CONMON, rec->resources[i]->id);
      return;
    }
  }
}

int container_place_conmon(pid_t pid, void *arg, crio_error_t *err) {
  const struct conmon_placement *pl = arg;
  if (strcmp(pl->cgroups->name, "cgroupfs") != 0)
    return 0;
  return pl->cgroups->enter(pl->parent, pl->pod_id, pid, err);
}

char *container_runtime_detail(const char *handler, const struct oci_runtime *rt) {
  cJSON *d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "handler", handler);
  cJSON_AddStringToObject(d, "runtime_type", rt->ops->name);
  cJSON_AddStringToObject(d, "runtime_path", oci_runtime_path(rt));
  cJSON_AddStringToObject(d, "runtime_root", oci_runtime_root(rt));
  char *text = cJSON_PrintUnformatted(d);
  cJSON_Delete(d);
  return text;
}
