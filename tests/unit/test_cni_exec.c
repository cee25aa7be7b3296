/* cni/ plugin execution against scripted plugins in a temporary plugin dir
 * (no root, no network): what a plugin receives (stdin request, exactly
 * the CNI environment, no leaked fds), chain order and prevResult,
 * runtimeConfig from declared capabilities, errors, timeouts, output caps,
 * STATUS and VERSION, and result parsing. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cni/cni.h"
#include "test_cni_fixture.h"
#include "testing.h"

static char *dir;        /* temp root */
static char *plugin_dir; /* dir/bin */
static char *log_dir;    /* dir/bin/log: what the plugins saw */
static const char *plugin_dirs[3];

static void cleanup(void) {
  tfx_rm_rf(dir);
}

/* One script under many names; what it does depends on its name. */
static const char *plugin_script =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\"); t=$(basename \"$0\"); log=\"$d/log\"\n"
    "echo \"$t $CNI_COMMAND\" >> \"$log/calls\"\n"
    "env | sort > \"$log/$t.$CNI_COMMAND.env\"\n"
    "if [ -e /proc/$$/fd/50 ]; then echo leaked > \"$log/$t.fd50\"; fi\n"
    "case \"$t\" in noread) exit 0;; esac\n"
    "cat > \"$log/$t.$CNI_COMMAND.json\"\n"
    "case \"$t/$CNI_COMMAND\" in\n"
    "  old/VERSION) echo "
    "'{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.4.0\",\"1.0.0\"]}';;\n"
    "  */VERSION) echo "
    "'{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.4.0\",\"1.0.0\",\"1.1.0\"]}';;\n"
    "  rec*/ADD) echo "
    "\"{\\\"cniVersion\\\":\\\"1.0.0\\\",\\\"interfaces\\\":[{\\\"name\\\":\\\"$t\\\","
    "\\\"sandbox\\\":\\\"$CNI_NETNS\\\"}],\\\"ips\\\":[{\\\"address\\\":\\\"10.0.0.2/24\\\","
    "\\\"interface\\\":0}]}\";;\n"
    "  fail7/*) echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"Invalid Configuration\","
    "\"details\":\"subnet too small\"}'; exit 1;;\n"
    "  fail11/*) echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"busy\"}'; exit 1;;\n"
    "  notready/STATUS) echo '{\"cniVersion\":\"1.1.0\",\"code\":50,\"msg\":\"daemon down\"}'; "
    "exit 1;;\n"
    "  stderr/*) echo 'panic: runtime error' >&2; exit 2;;\n"
    "  hang/*) sleep 60 & echo $! > \"$log/hang.pid\"; wait; echo '{}';;\n"
    "  flood/*) head -c 5000000 /dev/zero; exit 0;;\n"
    "esac\n"
    "exit 0\n";

static const char *const plugin_names[] = {"rec-a", "rec-b",  "rec-c",    "old",
                                           "fail7", "fail11", "notready", "stderr",
                                           "hang",  "flood",  "noread",   NULL};

static char *path_in(const char *base, const char *name) {
  char *p = NULL;
  CHECK(asprintf(&p, "%s/%s", base, name) > 0);
  return p;
}

static void reset_log(void) {
  tfx_rm_rf(log_dir);
  CHECK(mkdir(log_dir, 0700) == 0);
}

static char *log_text(const char *name) {
  char *p = path_in(log_dir, name);
  char *text = tfx_read(p);
  free(p);
  return text;
}

static cJSON *log_json(const char *name) {
  char *text = log_text(name);
  CHECK(text != NULL);
  cJSON *j = cJSON_Parse(text);
  if (j == NULL)
    fprintf(stderr, "%s is not JSON: %s\n", name, text);
  CHECK(j != NULL);
  free(text);
  return j;
}

static const char *jstr(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *conflist(const char *version, const char *plugins) {
  char *s = NULL;
  CHECK(asprintf(&s, "{\"cniVersion\":\"%s\",\"name\":\"testnet\",\"plugins\":[%s]}", version,
                 plugins) > 0);
  return s;
}

#define CHECK_OK(call, errp)                                                                       \
  do {                                                                                             \
    if ((call) < 0) {                                                                              \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,                         \
              crio_error_message(errp));                                                           \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

#define CHECK_CONTAINS(haystack, needle)                                                           \
  do {                                                                                             \
    const char *h__ = (haystack);                                                                  \
    if (h__ == NULL || strstr(h__, needle) == NULL) {                                              \
      fprintf(stderr, "%s:%d: expected \"%s\" in \"%s\"\n", __FILE__, __LINE__, needle,            \
              h__ ? h__ : "(null)");                                                               \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

static const struct cni_runtime_conf base_rt = {.container_id = "abc123",
                                                .netns_path = "/proc/self/ns/net"};

/* ADD runs in order, each plugin getting the request the spec derives:
 * name and cniVersion of the list, prevResult from the previous plugin,
 * runtimeConfig with only declared capabilities, no "capabilities"; and
 * exactly the CNI environment. */
static void test_add_request_and_env(void) {
  cleanup_error crio_error_t err = NULL;
  reset_log();
  struct cni_network net = {0};
  net.conflist = conflist(
      "1.0.0", "{\"type\":\"rec-a\",\"name\":\"other\",\"cniVersion\":\"0.1.0\",\"keep\":1,"
               "\"capabilities\":{\"portMappings\":true,\"bandwidth\":false,\"ipRanges\":true}},"
               "{\"type\":\"rec-b\"}");
  const char *args[] = {"IgnoreUnknown=1", "K8S_POD_NAME=web", NULL};
  struct cni_runtime_conf rt = base_rt;
  rt.args = args;
  rt.capability_args_json =
      "{\"portMappings\":[{\"hostPort\":1,\"containerPort\":2,\"protocol\":\"tcp\"}],"
      "\"bandwidth\":{\"ingressRate\":1},\"other\":true}";
  char *result = NULL;
  setenv("CRIO_TEST_MUST_NOT_LEAK", "1", 1);
  int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: must not leak */
  CHECK(dup2(fd, 50) == 50);
  CHECK_OK(cni_add(&net, plugin_dirs, &rt, &result, &err), &err);
  close(50);
  close(fd);

  char *calls = log_text("calls");
  CHECK_STR_EQ(calls, "rec-a ADD\nrec-b ADD\n");
  free(calls);

  cJSON *a = log_json("rec-a.ADD.json");
  CHECK_STR_EQ(jstr(a, "name"), "testnet");
  CHECK_STR_EQ(jstr(a, "cniVersion"), "1.0.0");
  CHECK(cJSON_GetObjectItem(a, "keep") != NULL);
  CHECK(cJSON_GetObjectItem(a, "capabilities") == NULL);
  CHECK(cJSON_GetObjectItem(a, "prevResult") == NULL);
  const cJSON *rc = cJSON_GetObjectItem(a, "runtimeConfig");
  CHECK(cJSON_IsArray(cJSON_GetObjectItem(rc, "portMappings")));
  CHECK(cJSON_GetObjectItem(rc, "bandwidth") == NULL); /* declared false */
  CHECK(cJSON_GetObjectItem(rc, "other") == NULL);     /* not declared */
  CHECK(cJSON_GetObjectItem(rc, "ipRanges") == NULL);  /* not given */
  cJSON_Delete(a);

  cJSON *b = log_json("rec-b.ADD.json");
  CHECK(cJSON_GetObjectItem(b, "runtimeConfig") == NULL);
  const cJSON *prev = cJSON_GetObjectItem(b, "prevResult");
  CHECK_STR_EQ(jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(prev, "interfaces"), 0), "name"),
               "rec-a");
  cJSON_Delete(b);

  /* The final result is the last plugin's. */
  CHECK_CONTAINS(result, "\"name\":\"rec-b\"");

  char *env = log_text("rec-a.ADD.env");
  CHECK_CONTAINS(env, "CNI_COMMAND=ADD\n");
  CHECK_CONTAINS(env, "CNI_CONTAINERID=abc123\n");
  CHECK_CONTAINS(env, "CNI_NETNS=/proc/self/ns/net\n");
  CHECK_CONTAINS(env, "CNI_IFNAME=eth0\n");
  CHECK_CONTAINS(env, "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web\n");
  CHECK_CONTAINS(env, "\nPATH=/usr/local/sbin:");
  char *cni_path = NULL;
  CHECK(asprintf(&cni_path, "CNI_PATH=/nonexistent-crio-dir:%s\n", plugin_dir) > 0);
  CHECK_CONTAINS(env, cni_path);
  free(cni_path);
  /* Nothing of ours besides (the shell adds PWD itself). */
  for (char *line = strtok(env, "\n"); line; line = strtok(NULL, "\n"))
    if (strncmp(line, "CNI_", 4) != 0 && strncmp(line, "PATH=", 5) != 0 &&
        strncmp(line, "PWD=", 4) != 0) {
      fprintf(stderr, "unexpected plugin env: %s\n", line);
      CHECK(false);
    }
  free(env);
  CHECK(log_text("rec-a.fd50") == NULL);

  struct cni_result res;
  CHECK_OK(cni_result_parse(result, &res, &err), &err);
  CHECK_STR_EQ(res.pod_ips[0], "10.0.0.2");
  cni_result_release(&res);
  free(result);
  free(net.conflist);
}

/* DEL runs in reverse with the ADD result as every plugin's prevResult
 * (0.4.0+; not for 0.3.1), and an empty CNI_NETNS when the path is not a
 * network namespace any more. */
static void test_del_order_prev_result_netns(void) {
  cleanup_error crio_error_t err = NULL;
  char *list = conflist("1.0.0", "{\"type\":\"rec-a\"},{\"type\":\"rec-b\"},{\"type\":\"rec-c\"}");
  const char *stored = "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.9.9.9/24\"}]}";
  struct cni_runtime_conf rt = base_rt;

  reset_log();
  CHECK_OK(cni_del(list, plugin_dirs, &rt, stored, &err), &err);
  char *calls = log_text("calls");
  CHECK_STR_EQ(calls, "rec-c DEL\nrec-b DEL\nrec-a DEL\n");
  free(calls);
  for (const char *const *name = (const char *const[]){"rec-a.DEL.json", "rec-c.DEL.json", NULL};
       *name; name++) {
    cJSON *req = log_json(*name);
    char *prev = cJSON_PrintUnformatted(cJSON_GetObjectItem(req, "prevResult"));
    CHECK_CONTAINS(prev, "10.9.9.9/24");
    free(prev);
    cJSON_Delete(req);
  }
  char *env = log_text("rec-a.DEL.env");
  CHECK_CONTAINS(env, "CNI_NETNS=/proc/self/ns/net\n");
  free(env);

  /* A pinned netns that is gone leaves a plain file (or nothing). */
  char *stale = path_in(dir, "stale-netns");
  tfx_write(stale, "", 0600);
  rt.netns_path = stale;
  reset_log();
  CHECK_OK(cni_del(list, plugin_dirs, &rt, NULL, &err), &err);
  env = log_text("rec-a.DEL.env");
  CHECK_CONTAINS(env, "CNI_NETNS=\n");
  free(env);
  cJSON *req = log_json("rec-a.DEL.json");
  CHECK(cJSON_GetObjectItem(req, "prevResult") == NULL);
  cJSON_Delete(req);
  free(stale);
  free(list);

  /* 0.3.1 had no prevResult on DEL. */
  list = conflist("0.3.1", "{\"type\":\"rec-a\"}");
  rt = base_rt;
  reset_log();
  CHECK_OK(cni_del(list, plugin_dirs, &rt, stored, &err), &err);
  req = log_json("rec-a.DEL.json");
  CHECK(cJSON_GetObjectItem(req, "prevResult") == NULL);
  CHECK_STR_EQ(jstr(req, "cniVersion"), "0.3.1");
  cJSON_Delete(req);
  free(list);
}

static void test_check_rules(void) {
  cleanup_error crio_error_t err = NULL;
  const char *stored = "{\"cniVersion\":\"1.0.0\",\"ips\":[]}";
  char *list = conflist("1.0.0", "{\"type\":\"rec-a\"},{\"type\":\"rec-b\"}");
  reset_log();
  CHECK_OK(cni_check(list, plugin_dirs, &base_rt, stored, &err), &err);
  char *calls = log_text("calls");
  CHECK_STR_EQ(calls, "rec-a CHECK\nrec-b CHECK\n");
  free(calls);
  cJSON *req = log_json("rec-b.CHECK.json");
  CHECK(cJSON_GetObjectItem(req, "prevResult") != NULL);
  cJSON_Delete(req);
  /* CHECK needs the stored result. */
  CHECK(cni_check(list, plugin_dirs, &base_rt, NULL, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  free(list);

  /* disableCheck: nothing runs. */
  list = strdup("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"disableCheck\":true,"
                "\"plugins\":[{\"type\":\"fail7\"}]}");
  reset_log();
  CHECK_OK(cni_check(list, plugin_dirs, &base_rt, stored, &err), &err);
  CHECK(log_text("calls") == NULL);
  free(list);

  /* 0.3.1 has no CHECK. */
  list = conflist("0.3.1", "{\"type\":\"rec-a\"}");
  CHECK(cni_check(list, plugin_dirs, &base_rt, stored, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  free(list);
}

/* A plugin's CNI error object becomes the message; code 11 is EAGAIN;
 * without one, stderr and the exit status are reported. */
static void test_plugin_errors(void) {
  cleanup_error crio_error_t err = NULL;
  struct cni_network net = {0};
  char *result = NULL;
  net.conflist =
      conflist("1.0.0", "{\"type\":\"rec-a\"},{\"type\":\"fail7\"},{\"type\":\"rec-b\"}");
  reset_log();
  CHECK(cni_add(&net, plugin_dirs, &base_rt, &result, &err) < 0);
  CHECK(result == NULL);
  CHECK_STR_EQ(crio_error_message(&err),
               "CNI ADD to network testnet: CNI plugin fail7 "
               "ADD failed (code 7): Invalid Configuration: subnet too small");
  CHECK_INT_EQ(crio_error_status(&err), EIO);
  crio_error_release(&err);
  char *calls = log_text("calls");
  CHECK_STR_EQ(calls, "rec-a ADD\nfail7 ADD\n"); /* halted */
  free(calls);
  free(net.conflist);

  net.conflist = conflist("1.0.0", "{\"type\":\"fail11\"}");
  CHECK(cni_add(&net, plugin_dirs, &base_rt, &result, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EAGAIN);
  crio_error_release(&err);
  free(net.conflist);

  net.conflist = conflist("1.0.0", "{\"type\":\"stderr\"}");
  CHECK(cni_add(&net, plugin_dirs, &base_rt, &result, &err) < 0);
  CHECK_CONTAINS(crio_error_message(&err), "CNI plugin stderr ADD failed (exit status 2): "
                                           "panic: runtime error");
  crio_error_release(&err);
  free(net.conflist);

  /* A plugin that exits without reading its (large) stdin: an error, no
   * SIGPIPE. */
  net.conflist = conflist("1.0.0", "{\"type\":\"noread\"}");
  struct cni_runtime_conf rt = base_rt;
  size_t big = 2u << 20;
  char *caps = malloc(big + 64);
  strcpy(caps, "{\"x\":\"");
  memset(caps + 6, 'x', big);
  strcpy(caps + 6 + big, "\"}");
  rt.capability_args_json = caps;
  CHECK(cni_add(&net, plugin_dirs, &rt, &result, &err) < 0);
  CHECK_CONTAINS(crio_error_message(&err), "noread printed no JSON result");
  crio_error_release(&err);
  free(net.conflist);

  /* A large request arrives whole. */
  net.conflist = conflist("1.0.0", "{\"type\":\"rec-a\",\"capabilities\":{\"x\":true}}");
  reset_log();
  CHECK_OK(cni_add(&net, plugin_dirs, &rt, &result, &err), &err);
  char *seen = log_text("rec-a.ADD.json");
  CHECK(seen != NULL && strlen(seen) > big);
  free(seen);
  free(result);
  free(caps);
  free(net.conflist);
}

/* A hanging plugin is killed with what it spawned; runaway output is cut. */
static void test_timeout_and_caps(void) {
  cleanup_error crio_error_t err = NULL;
  struct cni_network net = {0};
  char *result = NULL;
  net.conflist = conflist("1.0.0", "{\"type\":\"hang\"}");
  struct cni_runtime_conf rt = base_rt;
  rt.timeout_sec = 1;
  reset_log();
  int64_t start = crio_monotonic_ns();
  CHECK(cni_add(&net, plugin_dirs, &rt, &result, &err) < 0);
  int64_t took_ms = (crio_monotonic_ns() - start) / 1000000;
  CHECK_INT_EQ(crio_error_status(&err), ETIMEDOUT);
  CHECK(took_ms >= 900 && took_ms < 10000);
  crio_error_release(&err);
  char *pid_text = log_text("hang.pid");
  CHECK(pid_text != NULL);
  pid_t sleeper = (pid_t)atoi(pid_text);
  free(pid_text);
  /* The plugin's child (sleep 60, same process group) is gone too. */
  bool gone = false;
  for (int i = 0; i < 100 && !gone; i++) {
    char stat_path[64];
    snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", sleeper);
    char *stat = tfx_read(stat_path);
    gone = stat == NULL || strstr(stat, ") Z ") != NULL || strstr(stat, "(sleep)") == NULL;
    free(stat);
    if (!gone)
      usleep(20000);
  }
  CHECK(gone);
  free(net.conflist);

  net.conflist = conflist("1.0.0", "{\"type\":\"flood\"}");
  CHECK(cni_add(&net, plugin_dirs, &base_rt, &result, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EMSGSIZE);
  crio_error_release(&err);
  free(net.conflist);
}

static void test_bad_input(void) {
  cleanup_error crio_error_t err = NULL;
  struct cni_network net = {0};
  char *result = NULL;
  const char *bad_types[] = {"../rec-a", "/bin/true", "..", "", NULL};
  for (const char *const *t = bad_types; *t; t++) {
    char *plugin = NULL;
    CHECK(asprintf(&plugin, "{\"type\":\"%s\"}", *t) > 0);
    net.conflist = conflist("1.0.0", plugin);
    CHECK(cni_add(&net, plugin_dirs, &base_rt, &result, &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
    crio_error_release(&err);
    free(plugin);
    free(net.conflist);
  }
  net.conflist = conflist("1.0.0", "{\"type\":\"rec-a\"},{\"type\":\"no-such-plugin\"}");
  reset_log();
  CHECK(cni_add(&net, plugin_dirs, &base_rt, &result, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  CHECK_CONTAINS(crio_error_message(&err), "\"no-such-plugin\" not found");
  crio_error_release(&err);
  CHECK(log_text("calls") == NULL); /* nothing ran */
  free(net.conflist);

  net.conflist = conflist("1.0.0", "{\"type\":\"rec-a\"}");
  struct cni_runtime_conf rt = base_rt;
  rt.container_id = "-bad";
  CHECK(cni_add(&net, plugin_dirs, &rt, &result, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  rt = base_rt;
  rt.args = (const char *const[]){"A=1;B=2", NULL};
  CHECK(cni_add(&net, plugin_dirs, &rt, &result, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  rt = base_rt;
  rt.capability_args_json = "[1]";
  CHECK(cni_add(&net, plugin_dirs, &rt, &result, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  free(net.conflist);
}

/* STATUS needs spec 1.1.0 in the network and in every plugin. */
static void test_status_and_version(void) {
  cleanup_error crio_error_t err = NULL;
  char *list = conflist("1.1.0", "{\"type\":\"rec-a\"},{\"type\":\"rec-b\"}");
  reset_log();
  CHECK_OK(cni_status(list, plugin_dirs, &err), &err);
  char *calls = log_text("calls");
  CHECK_STR_EQ(calls, "rec-a VERSION\nrec-b VERSION\nrec-a STATUS\nrec-b STATUS\n");
  free(calls);
  char *env = log_text("rec-a.STATUS.env");
  CHECK(strstr(env, "CNI_CONTAINERID") == NULL);
  free(env);
  free(list);

  list = conflist("1.1.0", "{\"type\":\"notready\"}");
  CHECK(cni_status(list, plugin_dirs, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EAGAIN);
  CHECK_CONTAINS(crio_error_message(&err), "(code 50): daemon down");
  crio_error_release(&err);
  free(list);

  list = conflist("1.1.0", "{\"type\":\"rec-a\"},{\"type\":\"old\"}");
  CHECK(cni_status(list, plugin_dirs, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOSYS);
  CHECK_CONTAINS(crio_error_message(&err), "plugin old does not speak spec 1.1.0");
  crio_error_release(&err);
  free(list);

  list = conflist("1.0.0", "{\"type\":\"rec-a\"}");
  CHECK(cni_status(list, plugin_dirs, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOSYS);
  crio_error_release(&err);
  free(list);

  /* "cniVersions" (1.1): the newest one this runtime knows is used. */
  list = strdup("{\"cniVersion\":\"1.0.0\",\"cniVersions\":[\"1.0.0\",\"1.1.0\",\"9.9.9\"],"
                "\"name\":\"n\",\"plugins\":[{\"type\":\"rec-a\"}]}");
  reset_log();
  CHECK_OK(cni_status(list, plugin_dirs, &err), &err);
  cJSON *req = log_json("rec-a.STATUS.json");
  CHECK_STR_EQ(jstr(req, "cniVersion"), "1.1.0");
  cJSON_Delete(req);
  free(list);

  char **versions = NULL;
  CHECK_OK(cni_plugin_versions("old", plugin_dirs, &versions, &err), &err);
  CHECK_STR_EQ(versions[0], "0.4.0");
  CHECK_STR_EQ(versions[1], "1.0.0");
  CHECK(versions[2] == NULL);
  cleanup_strvp(&versions);
}

static void test_result_parse(void) {
  cleanup_error crio_error_t err = NULL;
  struct cni_result r;
  const char *v1 =
      "{\"cniVersion\":\"1.0.0\",\"interfaces\":["
      "{\"name\":\"cni0\",\"mac\":\"aa:bb:cc:dd:ee:ff\"},"
      "{\"name\":\"eth0\",\"mac\":\"11:22:33:44:55:66\",\"sandbox\":\"/run/netns/x\"}],"
      "\"ips\":[{\"address\":\"10.1.0.1/16\",\"interface\":0},"
      "{\"address\":\"10.1.2.3/16\",\"gateway\":\"10.1.0.1\",\"interface\":1},"
      "{\"address\":\"fd00::3/64\",\"gateway\":\"fd00::1\",\"interface\":1}],"
      "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},{\"dst\":\"::/0\"}],"
      "\"dns\":{\"nameservers\":[\"10.96.0.10\"],\"domain\":\"cluster.local\","
      "\"search\":[\"default.svc.cluster.local\",\"svc.cluster.local\"],"
      "\"options\":[\"ndots:5\"]}}";
  CHECK_OK(cni_result_parse(v1, &r, &err), &err);
  CHECK_STR_EQ(r.pod_ips[0], "10.1.2.3");
  CHECK_STR_EQ(r.pod_ips[1], "fd00::3");
  CHECK(r.pod_ips[2] == NULL);
  CHECK_INT_EQ(r.n_ips, 3);
  CHECK_STR_EQ(r.ips[1].gateway, "10.1.0.1");
  CHECK_INT_EQ(r.n_interfaces, 2);
  CHECK_STR_EQ(r.interfaces[1].mac, "11:22:33:44:55:66");
  CHECK_INT_EQ(r.n_routes, 2);
  CHECK(r.routes[1].gw == NULL);
  CHECK_STR_EQ(r.dns_nameservers[0], "10.96.0.10");
  CHECK_STR_EQ(r.dns_domain, "cluster.local");
  CHECK_STR_EQ(r.dns_search[1], "svc.cluster.local");
  CHECK_STR_EQ(r.dns_options[0], "ndots:5");
  cni_result_release(&r);

  const char *v04 = "{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\","
                    "\"address\":\"10.2.0.5/24\",\"gateway\":\"10.2.0.1\"}],\"dns\":{}}";
  CHECK_OK(cni_result_parse(v04, &r, &err), &err);
  CHECK_STR_EQ(r.pod_ips[0], "10.2.0.5");
  CHECK(r.dns_nameservers[0] == NULL && r.dns_search[0] == NULL);
  cni_result_release(&r);

  CHECK(cni_result_parse("{\"cniVersion\":\"0.2.0\",\"ip4\":{}}", &r, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  CHECK(cni_result_parse("{\"ips\":[{\"gateway\":\"1.2.3.4\"}]}", &r, &err) < 0);
  crio_error_release(&err);
  CHECK(cni_result_parse("not json", &r, &err) < 0);
  crio_error_release(&err);
}

/* The first file in lexical order is the network; a lone .conf is
 * wrapped into a list. */
static void test_network_load(void) {
  cleanup_error crio_error_t err = NULL;
  char *conf_dir = path_in(dir, "net.d");
  CHECK(mkdir(conf_dir, 0700) == 0);
  char *a = path_in(conf_dir, "10-first.conf");
  char *b = path_in(conf_dir, "20-second.conflist");
  tfx_write(a, "{\"cniVersion\":\"0.4.0\",\"name\":\"first\",\"type\":\"rec-a\"}", 0600);
  tfx_write(b, "{\"cniVersion\":\"1.0.0\",\"name\":\"second\",\"plugins\":[{\"type\":\"rec-b\"}]}",
            0600);
  struct cni_network net;
  CHECK_OK(cni_network_load(conf_dir, plugin_dirs, &net, &err), &err);
  CHECK_STR_EQ(net.name, "first");
  CHECK_STR_EQ(net.cni_version, "0.4.0");
  CHECK_CONTAINS(net.conflist, "\"plugins\":[{");
  cni_network_release(&net);
  free(a);
  free(b);
  free(conf_dir);
}

int main(void) {
  signal(SIGPIPE, SIG_DFL); /* a stray SIGPIPE would kill the test */
  dir = tfx_mkdtemp("crio-cni-exec");
  atexit(cleanup);
  plugin_dir = path_in(dir, "bin");
  log_dir = path_in(plugin_dir, "log");
  CHECK(mkdir(plugin_dir, 0700) == 0);
  char *script = path_in(plugin_dir, "plugin.sh");
  tfx_write(script, plugin_script, 0755);
  for (const char *const *n = plugin_names; *n; n++) {
    char *link = path_in(plugin_dir, *n);
    CHECK(symlink("plugin.sh", link) == 0);
    free(link);
  }
  free(script);
  /* A missing dir first: lookup goes on to the next. */
  plugin_dirs[0] = "/nonexistent-crio-dir";
  plugin_dirs[1] = plugin_dir;
  plugin_dirs[2] = NULL;

  RUN_TEST(test_add_request_and_env);
  RUN_TEST(test_del_order_prev_result_netns);
  RUN_TEST(test_check_rules);
  RUN_TEST(test_plugin_errors);
  RUN_TEST(test_timeout_and_caps);
  RUN_TEST(test_bad_input);
  RUN_TEST(test_status_and_version);
  RUN_TEST(test_result_parse);
  RUN_TEST(test_network_load);
  fprintf(stderr, "test_cni_exec: all passed\n");
  return 0;
}
