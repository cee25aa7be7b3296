/* Exec and attach over an upgraded connection, as the kubelet's
 * remotecommand server (pkg/kubelet/cri/streaming/remotecommand) does:
 *   - SPDY: the client opens one stream per role, named by its streamType
 *     header (error, stdin, stdout, stderr, resize); the session starts
 *     once every stream the token's request implies has arrived (error,
 *     plus stdin/stdout/stderr as asked, plus resize for a terminal from
 *     v3 on), within 30 s.
 *   - WebSocket: channels 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize;
 *     an empty message on the lowest output channel tells the client the
 *     session is up.
 * Resize events are JSON objects {"Width":W,"Height":H} on the resize
 * stream.  At the end the error stream carries the outcome: from v4 on a
 * metav1.Status in JSON (Success, or Failure with reason NonZeroExitCode
 * and the code as an ExitCode cause, or InternalError); before v4 nothing
 * on success and the message otherwise.  Then the connection is closed.
 *
 * Attach ends when conmon closes the attach socket (the container exited),
 * or, for a container with stdin but not stdin_once and no terminal, when
 * the client closes stdin (CRI-O's rule: the container keeps its stdin).
 * A client that goes away, idles too long, or a server that stops ends the
 * session without an outcome; the exec's command is killed. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "oci/oci.h"
#include "streaming/internal.h"

enum role { ROLE_STDIN, ROLE_STDOUT, ROLE_STDERR, ROLE_ERROR, ROLE_RESIZE, ROLE_COUNT };
static const char *const role_names[ROLE_COUNT] = {"stdin", "stdout", "stderr", "error", "resize"};

enum outcome { OUT_RUNNING, OUT_DONE, OUT_GONE };

struct rc {
  struct stream_conn *c;
  struct session *s;
  int version; /* 1..5: channel.k8s.io is 1 */
  bool have[ROLE_COUNT];
  uint32_t id[ROLE_COUNT];
  unsigned n_have;
  const struct stream_container *ctr; /* while the operation runs */
  int cancel_fd;                      /* the container left RUNNING */
  struct oci_exec_session *exec;
  int attach_fd;
  struct stream_buf pending; /* client stdin not yet taken by the process */
  bool stdin_fin, stdin_closed;
  struct stream_buf resize;
  bool end_on_stdin_close; /* attach to a container that keeps its stdin */
  enum outcome outcome;
  int exit_code;
  char what[96];
};

static int role_of(const char *type) {
  for (int r = 0; r < ROLE_COUNT; r++)
    if (type && strcasecmp(type, role_names[r]) == 0)
      return r;
  return -1;
}

static int role_of_id(const struct rc *rc, uint32_t id) {
  for (int r = 0; r < ROLE_COUNT; r++)
    if (rc->have[r] && rc->id[r] == id)
      return r;
  return -1;
}

static int on_stream(void *app, uint32_t id, const struct spdy_frame *f) {
  struct rc *rc = app;
  const char *type = spdy_header(f, "streamtype");
  int r = role_of(type);
  if (r < 0) {
    log_warning("streaming: %s: unexpected stream type \"%s\"", rc->what, type ? type : "");
    return 0;
  }
  if (rc->have[r]) {
    log_warning("streaming: %s: a second %s stream; ignored", rc->what, role_names[r]);
    return 0;
  }
  rc->have[r] = true;
  rc->id[r] = id;
  rc->n_have++;
  return 0;
}

static void apply_resize(struct rc *rc, unsigned width, unsigned height) {
  if (width == 0 || height == 0 || width > 65535 || height > 65535)
    return;
  if (rc->exec) {
    oci_exec_session_resize(rc->exec, height, width);
  } else if (rc->attach_fd >= 0) {
    crio_error_t e = NULL;
    if (oci_conmon_resize(rc->ctr->bundle, height, width, &e) < 0) {
      log_debug("streaming: %s: resize: %s", rc->what, crio_error_message(&e));
      crio_error_release(&e);
    }
  }
}

/* Complete JSON objects in the resize buffer; a partial one waits. */
static void parse_resizes(struct rc *rc) {
  size_t start = 0;
  for (;;) {
    char *p = memchr(rc->resize.data + start, '{', rc->resize.len - start);
    if (p == NULL) {
      rc->resize.len = 0;
      return;
    }
    start = (size_t)((unsigned char *)p - rc->resize.data);
    char *end = memchr(p, '}', rc->resize.len - start);
    if (end == NULL)
      break;
    cleanup_free char *text = xstrndup(p, (size_t)(end - p) + 1);
    cJSON *j = cJSON_Parse(text);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "Width");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "Height");
    if (cJSON_IsNumber(w) && cJSON_IsNumber(h) && w->valuedouble >= 0 && h->valuedouble >= 0)
      apply_resize(rc, (unsigned)w->valuedouble, (unsigned)h->valuedouble);
    else
      log_debug("streaming: %s: ignoring resize event %s", rc->what, text);
    cJSON_Delete(j);
    start = (size_t)((unsigned char *)end - rc->resize.data) + 1;
  }
  stream_buf_consume(&rc->resize, start);
  if (rc->resize.len > 4096) /* not a resize event: drop it */
    rc->resize.len = 0;
}

static void on_data(void *app, uint32_t id, const unsigned char *data, size_t len) {
  struct rc *rc = app;
  int r = role_of_id(rc, id);
  if (r == ROLE_STDIN && !rc->stdin_fin) {
    if (rc->c->req->in)
      stream_buf_append(&rc->pending, data, len);
  } else if (r == ROLE_RESIZE) {
    stream_buf_append(&rc->resize, data, len);
    parse_resizes(rc);
  }
}

static void on_fin(void *app, uint32_t id) {
  struct rc *rc = app;
  if (role_of_id(rc, id) == ROLE_STDIN)
    rc->stdin_fin = true;
}

static void on_reset(void *app, uint32_t id) {
  on_fin(app, id);
}

static const struct session_handler handler = {on_stream, on_data, on_fin, on_reset};

/* ---- the outcome on the error stream ------------------------------------------------ */

static void write_status(struct rc *rc, int exit_code, const char *error) {
  if (!rc->have[ROLE_ERROR])
    return;
  cleanup_free char *text = NULL;
  if (rc->version >= 4) {
    cJSON *st = cJSON_CreateObject();
    cJSON_AddItemToObject(st, "metadata", cJSON_CreateObject());
    if (error == NULL && exit_code == 0) {
      cJSON_AddStringToObject(st, "status", "Success");
    } else if (error == NULL) {
      cleanup_free char *msg =
          xasprintf("command terminated with non-zero exit code: exit status %d", exit_code);
      cleanup_free char *code = xasprintf("%d", exit_code);
      cJSON_AddStringToObject(st, "status", "Failure");
      cJSON_AddStringToObject(st, "message", msg);
      cJSON_AddStringToObject(st, "reason", "NonZeroExitCode");
      cJSON *details = cJSON_AddObjectToObject(st, "details");
      cJSON *causes = cJSON_AddArrayToObject(details, "causes");
      cJSON *cause = cJSON_CreateObject();
      cJSON_AddStringToObject(cause, "reason", "ExitCode");
      cJSON_AddStringToObject(cause, "message", code);
      cJSON_AddItemToArray(causes, cause);
    } else {
      cleanup_free char *msg = xasprintf("Internal error occurred: %s", error);
      cJSON_AddStringToObject(st, "status", "Failure");
      cJSON_AddStringToObject(st, "message", msg);
      cJSON_AddStringToObject(st, "reason", "InternalError");
      cJSON *details = cJSON_AddObjectToObject(st, "details");
      cJSON *causes = cJSON_AddArrayToObject(details, "causes");
      cJSON *cause = cJSON_CreateObject();
      cJSON_AddStringToObject(cause, "message", error);
      cJSON_AddItemToArray(causes, cause);
      cJSON_AddNumberToObject(st, "code", 500);
    }
    char *printed = cJSON_PrintUnformatted(st);
    text = xstrdup(printed);
    cJSON_free(printed);
    cJSON_Delete(st);
  } else if (error) {
    text = xasprintf("Internal error occurred: %s", error);
  } else if (exit_code != 0) {
    text = xasprintf("command terminated with non-zero exit code: exit status %d", exit_code);
  }
  if (text && *text)
    session_send(rc->s, rc->id[ROLE_ERROR], text, strlen(text));
}

/* ---- moving bytes -------------------------------------------------------------------- */

static void send_output(struct rc *rc, int role, const void *data, size_t len) {
  /* With a terminal everything is stdout. */
  if (role == ROLE_STDERR && !rc->have[ROLE_STDERR])
    role = ROLE_STDOUT;
  if (rc->have[role])
    session_send(rc->s, rc->id[role], data, len);
}

/* Reads what fd has now into the client's stream; false at EOF (or EIO
 * from a terminal whose other side is closed). */
static bool pump_output(struct rc *rc, int fd, int role, bool drain) {
  unsigned char buf[STREAM_IO_CHUNK];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      send_output(rc, role, buf, (size_t)n);
      if (!drain || session_is_over(rc->s))
        return true;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return true;
    return false;
  }
}

static void close_stdin(struct rc *rc) {
  rc->stdin_closed = true;
  if (rc->exec)
    oci_exec_session_close_stdin(rc->exec);
  else if (rc->attach_fd >= 0)
    shutdown(rc->attach_fd, SHUT_WR);
}

/* Hands pending stdin to the process; closes its stdin after the client's
 * FIN once everything went through. */
static void pump_input(struct rc *rc, int fd) {
  while (rc->pending.len > 0 && fd >= 0) {
    size_t chunk = rc->pending.len;
    ssize_t n;
    if (rc->exec) {
      n = write(fd, rc->pending.data, chunk);
    } else {
      if (chunk > OCI_CONMON_ATTACH_PACKET - 1)
        chunk = OCI_CONMON_ATTACH_PACKET - 1;
      n = send(fd, rc->pending.data, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    if (n <= 0) {
      /* The process closed its stdin: what the client sends is dropped. */
      rc->pending.len = 0;
      break;
    }
    stream_buf_consume(&rc->pending, (size_t)n);
  }
  if (rc->pending.len == 0 && rc->stdin_fin && !rc->stdin_closed) {
    close_stdin(rc);
    if (rc->end_on_stdin_close)
      rc->outcome = OUT_DONE;
  }
}

/* ---- the two backends ---------------------------------------------------------------- */

static int start_exec(struct rc *rc, crio_error_t *err) {
  const struct stream_request *req = rc->c->req;
  cleanup_free char *process = NULL;
  if (oci_exec_process_json_terminal(rc->ctr->config_json, (const char *const *)req->cmd, req->tty,
                                     &process, err) < 0)
    return -1;
  struct oci_exec_session_options o = {
      .tty = req->tty, .stdin = req->in, .stdout = req->out, .stderr = req->err && !req->tty};
  return oci_exec_session_start(rc->ctr->runtime, req->id, process, rc->ctr->bundle, &o, &rc->exec,
                                err);
}

static void run_exec(struct rc *rc) {
  int out = oci_exec_session_fd(rc->exec, OCI_EXEC_FD_STDOUT);
  int errfd = oci_exec_session_fd(rc->exec, OCI_EXEC_FD_STDERR);
  int exit_fd = oci_exec_session_fd(rc->exec, OCI_EXEC_FD_EXIT);
  bool out_open = out >= 0, err_open = errfd >= 0;
  while (rc->outcome == OUT_RUNNING) {
    int in = rc->stdin_closed ? -1 : oci_exec_session_fd(rc->exec, OCI_EXEC_FD_STDIN);
    struct pollfd p[7];
    int n = 0, i_s = -1, i_out = -1, i_err = -1, i_in = -1;
    bool held = rc->pending.len > 0 && in >= 0;
    if (!held)
      p[i_s = n++] = (struct pollfd){session_fd(rc->s), POLLIN, 0};
    if (out_open)
      p[i_out = n++] = (struct pollfd){out, POLLIN, 0};
    if (err_open)
      p[i_err = n++] = (struct pollfd){errfd, POLLIN, 0};
    if (held)
      p[i_in = n++] = (struct pollfd){in, POLLOUT, 0};
    int i_exit = n;
    p[n++] = (struct pollfd){exit_fd, POLLIN, 0};
    int i_stop = n;
    p[n++] = (struct pollfd){rc->c->stop_fd, POLLIN, 0};
    int i_cancel = n;
    p[n++] = (struct pollfd){rc->cancel_fd, POLLIN, 0};
    int timeout = session_has_input(rc->s) && !held ? 0 : session_poll_timeout(rc->s);
    if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
      break;
    if (p[i_stop].revents) {
      rc->outcome = OUT_GONE;
      break;
    }
    if (p[i_cancel].revents) {
      /* The container is stopping: its processes die, the command with
       * them; make sure of it, and report its exit as usual. */
      uint64_t v;
      if (read(rc->cancel_fd, &v, sizeof(v)) == sizeof(v))
        log_debug("streaming: %s: the container is stopping", rc->what);
      oci_exec_session_kill(rc->exec);
    }
    if (i_s >= 0 && (p[i_s].revents || session_has_input(rc->s)) && session_pump(rc->s) < 0) {
      rc->outcome = OUT_GONE;
      break;
    }
    if (i_out >= 0 && p[i_out].revents) {
      out_open = pump_output(rc, out, ROLE_STDOUT, false);
      session_touch(rc->s);
    }
    if (i_err >= 0 && p[i_err].revents) {
      err_open = pump_output(rc, errfd, ROLE_STDERR, false);
      session_touch(rc->s);
    }
    if (!rc->stdin_closed && (held || rc->stdin_fin))
      pump_input(rc, in);
    if (session_is_over(rc->s)) {
      rc->outcome = OUT_GONE;
      break;
    }
    if (p[i_exit].revents) {
      /* The command has exited: what it wrote is in the pipes now (a
       * background process may hold them open, so no EOF is awaited). */
      if (out_open)
        pump_output(rc, out, ROLE_STDOUT, true);
      if (err_open)
        pump_output(rc, errfd, ROLE_STDERR, true);
      rc->outcome = OUT_DONE;
      break;
    }
    if (session_idle_expired(rc->s))
      rc->outcome = OUT_GONE;
  }
}

static void run_attach(struct rc *rc) {
  unsigned char buf[OCI_CONMON_ATTACH_PACKET];
  while (rc->outcome == OUT_RUNNING) {
    bool held = rc->pending.len > 0 && !rc->stdin_closed;
    struct pollfd p[4];
    int n = 0, i_s = -1;
    if (!held)
      p[i_s = n++] = (struct pollfd){session_fd(rc->s), POLLIN, 0};
    int i_a = n;
    p[n++] = (struct pollfd){rc->attach_fd, (short)(POLLIN | (held ? POLLOUT : 0)), 0};
    int i_stop = n;
    p[n++] = (struct pollfd){rc->c->stop_fd, POLLIN, 0};
    int i_cancel = n;
    p[n++] = (struct pollfd){rc->cancel_fd, POLLIN, 0};
    int timeout = session_has_input(rc->s) && !held ? 0 : session_poll_timeout(rc->s);
    if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
      break;
    if (p[i_stop].revents) {
      rc->outcome = OUT_GONE;
      break;
    }
    if (p[i_cancel].revents) {
      rc->outcome = OUT_DONE; /* the container is stopping: the attach ends */
      break;
    }
    if (i_s >= 0 && (p[i_s].revents || session_has_input(rc->s)) && session_pump(rc->s) < 0) {
      rc->outcome = OUT_GONE;
      break;
    }
    if (p[i_a].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t got = recv(rc->attach_fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        rc->outcome = OUT_DONE; /* conmon closed: the container has exited */
        break;
      }
      if (got > 1) {
        int role = buf[0] == OCI_CONMON_ATTACH_STDERR ? ROLE_STDERR : ROLE_STDOUT;
        send_output(rc, role, buf + 1, (size_t)got - 1);
        session_touch(rc->s);
      }
    }
    if (!rc->stdin_closed && (held || rc->stdin_fin))
      pump_input(rc, rc->attach_fd);
    if (session_is_over(rc->s)) {
      rc->outcome = OUT_GONE;
      break;
    }
    if (rc->outcome == OUT_RUNNING && session_idle_expired(rc->s))
      rc->outcome = OUT_GONE;
  }
}

/* Runs as the reconciler's shared operation on the container. */
static int serve_container(void *arg, const struct stream_container *ctr, crio_error_t *err) {
  struct rc *rc = arg;
  const struct stream_request *req = rc->c->req;
  rc->ctr = ctr;
  int r = 0;
  if (req->kind == STREAM_EXEC) {
    r = start_exec(rc, err);
    if (r == 0) {
      log_debug("streaming: %s: started %s", rc->what, req->cmd[0]);
      run_exec(rc);
      if (rc->outcome == OUT_DONE)
        r = oci_exec_session_finish(rc->exec, &rc->exit_code, err);
    }
  } else {
    r = oci_conmon_attach_connect(ctr->bundle, &rc->attach_fd, err);
    if (r == 0) {
      rc->end_on_stdin_close = ctr->stdin && !ctr->stdin_once && !req->tty;
      run_attach(rc);
    }
  }
  rc->ctr = NULL;
  return r;
}

/* ---- the session -------------------------------------------------------------------- */

static bool wait_for_streams(struct rc *rc, unsigned expected) {
  int64_t deadline = crio_monotonic_ns() + (int64_t)STREAM_CREATION_TIMEOUT_MS * 1000000;
  while (rc->n_have < expected) {
    int64_t left = (deadline - crio_monotonic_ns()) / 1000000;
    if (left <= 0) {
      log_warning("streaming: %s: timed out waiting for the client to create %u streams (has %u)",
                  rc->what, expected, rc->n_have);
      return false;
    }
    struct pollfd p[2] = {{session_fd(rc->s), POLLIN, 0}, {rc->c->stop_fd, POLLIN, 0}};
    if (!session_has_input(rc->s) && poll(p, 2, left > 1000 ? 1000 : (int)left) <= 0)
      continue;
    if (p[1].revents)
      return false;
    if (session_pump(rc->s) < 0)
      return false;
  }
  return true;
}

static int protocol_version(const char *protocol) {
  if (strncmp(protocol, "v5.", 3) == 0)
    return 5;
  if (strncmp(protocol, "v4.", 3) == 0)
    return 4;
  if (strncmp(protocol, "v3.", 3) == 0)
    return 3;
  if (strncmp(protocol, "v2.", 3) == 0)
    return 2;
  return 1;
}

void stream_serve_remote_command(struct stream_conn *c, enum session_framing framing,
                                 const char *protocol) {
  const struct stream_request *req = c->req;
  bool exec = req->kind == STREAM_EXEC;
  struct rc rc = {.c = c, .version = protocol_version(protocol), .attach_fd = -1, .cancel_fd = -1};
  snprintf(rc.what, sizeof(rc.what), "%s %.12s", exec ? "exec in" : "attach to", req->id);
  struct session_options so = {
      .framing = framing,
      .ws_base64 = strstr(protocol, "base64.") != NULL,
      .ws_close_signal = rc.version >= 5,
      .idle_timeout_ms = c->idle_timeout_ms,
      .stop_fd = c->stop_fd,
      .what = rc.what,
  };
  rc.s = session_new(c->t, &so, &handler, &rc);
  if (c->http->extra_len)
    session_feed(rc.s, c->http->extra, c->http->extra_len);

  bool ready;
  if (framing == SESSION_SPDY) {
    unsigned expected = 1 + req->in + req->out + req->err + (req->tty && rc.version >= 3);
    ready = wait_for_streams(&rc, expected);
  } else {
    for (int r = 0; r < ROLE_COUNT; r++) {
      rc.have[r] = r == ROLE_ERROR || r == ROLE_RESIZE || (r == ROLE_STDIN && req->in) ||
                   (r == ROLE_STDOUT && req->out) || (r == ROLE_STDERR && req->err);
      rc.id[r] = (uint32_t)r;
    }
    int first = req->out ? ROLE_STDOUT : req->err ? ROLE_STDERR : ROLE_ERROR;
    ready = session_send(rc.s, (uint32_t)first, "", 0) == 0;
  }
  /* channel.k8s.io closes its stdin stream at once (issue 13394's
   * behaviour, kept by the kubelet for v1 clients). */
  if (ready && rc.version == 1 && framing == SESSION_SPDY && rc.have[ROLE_STDIN])
    session_fin(rc.s, rc.id[ROLE_STDIN]);

  cleanup_error crio_error_t err = NULL;
  if (ready) {
    rc.cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rc.cancel_fd < 0)
      crio_error_errno(&err, errno, "eventfd");
    else if (stream_with_container(c->ctx, req->id, !exec, rc.cancel_fd, serve_container, &rc,
                                   &err) == 0)
      crio_error_release(&err);
    if (err) {
      crio_error_prefix(&err, "%s",
                        exec ? "error executing command in container"
                             : "error attaching to container");
      log_warning("streaming: %s: %s", rc.what, crio_error_message(&err));
      if (rc.outcome == OUT_RUNNING)
        rc.outcome = OUT_DONE;
    }
  }
  if (ready && rc.outcome == OUT_DONE) {
    if (rc.have[ROLE_STDOUT])
      session_fin(rc.s, rc.id[ROLE_STDOUT]);
    if (rc.have[ROLE_STDERR])
      session_fin(rc.s, rc.id[ROLE_STDERR]);
    write_status(&rc, rc.exit_code, err ? crio_error_message(&err) : NULL);
    if (rc.have[ROLE_ERROR])
      session_fin(rc.s, rc.id[ROLE_ERROR]);
    log_debug("streaming: %s: done (exit code %d)", rc.what, rc.exit_code);
  } else if (ready) {
    log_info("streaming: %s: ended before the %s did (client gone, idle or shutdown)", rc.what,
             exec ? "command" : "container");
  }
  session_close(rc.s);
  oci_exec_session_free(rc.exec);
  if (rc.attach_fd >= 0)
    close(rc.attach_fd);
  if (rc.cancel_fd >= 0)
    close(rc.cancel_fd);
  stream_buf_release(&rc.pending);
  stream_buf_release(&rc.resize);
  session_free(rc.s);
}
