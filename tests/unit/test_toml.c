/* toml/: every value type and escape, the two real consumers' files,
 * errors with exact positions, the depth limit, and random damage to the
 * samples that must never crash (run under -fsanitize=address,undefined). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "testing.h"
#include "toml/toml.h"

/* ---- samples ------------------------------------------------------------- */

static const char crio_conf[] =
    "# The CRI-O configuration file specifies all of the available "
    "configuration\n"
    "# options and command-line flags for the crio(8) OCI Kubernetes "
    "Container Runtime\n"
    "# daemon, but in a TOML format that can be more easily modified.\n"
    "\n"
    "[crio]\n"
    "\n"
    "# Path to the \"root directory\".\n"
    "root = \"/var/lib/containers/storage\"\n"
    "runroot = \"/run/containers/storage\"\n"
    "storage_driver = \"overlay\"\n"
    "storage_option = [\n"
    "\t\"overlay.mountopt=nodev,metacopy=on\",\n"
    "]\n"
    "log_dir = \"/var/log/crio/pods\"\n"
    "version_file = \"/var/run/crio/version\"\n"
    "clean_shutdown_file = \"/var/lib/crio/clean.shutdown\"\n"
    "\n"
    "[crio.api]\n"
    "listen = \"/var/run/crio/crio.sock\"\n"
    "stream_address = \"127.0.0.1\"\n"
    "stream_port = \"0\"\n"
    "stream_enable_tls = false\n"
    "grpc_max_send_msg_size = 83886080\n"
    "grpc_max_recv_msg_size = 83_886_080\n"
    "\n"
    "[crio.runtime]\n"
    "default_ulimits = [\n"
    "]\n"
    "no_pivot = false\n"
    "conmon = \"\"\n"
    "conmon_cgroup = \"system.slice\"\n"
    "conmon_env = [\n"
    "\t\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\n"
    "]\n"
    "selinux = false\n"
    "seccomp_profile = \"\"\n"
    "apparmor_profile = \"crio-default\"\n"
    "cgroup_manager = \"systemd\"\n"
    "default_capabilities = [\n"
    "\t\"CHOWN\",\n"
    "\t\"DAC_OVERRIDE\",\n"
    "\t\"FSETID\",\n"
    "\t\"FOWNER\",\n"
    "\t\"SETGID\",\n"
    "\t\"SETUID\",\n"
    "\t\"SETPCAP\",\n"
    "\t\"NET_BIND_SERVICE\",\n"
    "\t\"KILL\",\n"
    "]\n"
    "pids_limit = 0\n"
    "log_size_max = -1\n"
    "log_level = \"info\"\n"
    "ctr_stop_timeout = 30\n"
    "default_runtime = \"runc\"\n"
    "drop_infra_ctr = true\n"
    "\n"
    "[crio.runtime.runtimes.runc]\n"
    "runtime_path = \"\"\n"
    "runtime_type = \"oci\"\n"
    "runtime_root = \"/run/runc\"\n"
    "allowed_annotations = [\n"
    "\t\"io.containers.trace-syscall\",\n"
    "]\n"
    "monitor_path = \"/usr/libexec/crio/conmon\"\n"
    "\n"
    "[crio.runtime.runtimes.crun]\n"
    "runtime_path = \"/usr/bin/crun\"\n"
    "runtime_root = \"/run/crun\"\n"
    "monitor_env = [\"LOG_LEVEL=debug\"]\n"
    "\n"
    "[crio.runtime.runtimes.\"kata-qemu\"]\n"
    "runtime_path = \"/usr/bin/containerd-shim-kata-v2\"\n"
    "runtime_type = \"vm\"\n"
    "privileged_without_host_devices = true\n"
    "\n"
    "[crio.image]\n"
    "default_transport = \"docker://\"\n"
    "pause_image = \"registry.k8s.io/pause:3.9\"\n"
    "pause_command = \"/pause\"\n"
    "image_volumes = \"mkdir\"\n"
    "\n"
    "[crio.network]\n"
    "cni_default_network = \"\"\n"
    "network_dir = \"/etc/cni/net.d/\"\n"
    "plugin_dirs = [\n"
    "\t\"/opt/cni/bin/\",\n"
    "]\n"
    "\n"
    "[crio.metrics]\n"
    "enable_metrics = false\n"
    "metrics_port = 9090\n";

static const char registries_conf[] =
    "# For more information on this configuration file, see "
    "containers-registries.conf(5).\n"
    "unqualified-search-registries = [\"registry.fedoraproject.org\", "
    "\"registry.access.redhat.com\", \"docker.io\"]\n"
    "short-name-mode = \"enforcing\"\n"
    "\n"
    "[[registry]]\n"
    "# The \"prefix\" field is used to choose the relevant [[registry]] "
    "table.\n"
    "prefix = \"example.com/foo\"\n"
    "insecure = false\n"
    "blocked = false\n"
    "location = \"internal-registry-for-example.com/bar\"\n"
    "\n"
    "[[registry.mirror]]\n"
    "location = \"example-mirror-0.local/mirror-for-foo\"\n"
    "\n"
    "[[registry.mirror]]\n"
    "location = \"example-mirror-1.local/mirrors/foo\"\n"
    "insecure = true\n"
    "\n"
    "[[registry]]\n"
    "location = \"docker.io\"\n"
    "mirror-by-digest-only = true\n"
    "\n"
    "[[registry.mirror]]\n"
    "location = \"mirror.gcr.io\"\n"
    "pull-from-mirror = \"digest-only\"\n"
    "\n"
    "[[registry.mirror]]\n"
    "location = \"10.0.0.5:5000\"\n"
    "insecure = true\n"
    "\n"
    "[aliases]\n"
    "\"fedora\" = \"registry.fedoraproject.org/fedora\"\n"
    "\"ubi8\" = \"registry.access.redhat.com/ubi8\"\n";

/* Every construct the parser knows, for the fuzz loop to damage. */
static const char kitchen_sink[] =
    "\xEF\xBB\xBF# kitchen sink\r\n"
    "title = \"TOML \\\"Example\\\" \\u00e9\\U0001F600\\b\\t\\n\\f\\r\\\\\"\n"
    "'literal key' = 'C:\\Users\\nodejs\\templates'\n"
    "\"quoted.key\" = 1\n"
    "dotted . key . here = -0\n"
    "ml = \"\"\"\n  Roses are red\\\n    violets \"\" are blue\"\"\"\"\n"
    "mll = '''\nThe first newline is\ntrimmed in raw strings.'''''\n"
    "ints = [ +99, 42, 0, -17, 1_000, 0xDEAD_beef, 0o755, 0b1101 ]\n"
    "floats = [ +1.0, 3.1415, -0.01, 5e+22, 1e06, -2E-2, 6.626e-34,\n"
    "  224_617.445_991, inf, -inf, +nan, ] # trailing comma\n"
    "bools = [true, false]\n"
    "dates = [1979-05-27T07:32:00Z, 1979-05-27T00:32:00.999999-07:00,\n"
    "  1979-05-27 07:32:00, 1979-05-27, 07:32:00, 00:32:00.5]\n"
    "nested = [ [ 1, 2 ], [\"a\", 'b', { c = 3 }], [] ]\n"
    "inline = { x = 1, y.z = \"two\", w = [ { v = true } ] }\n"
    "[servers]\n"
    "  [servers.alpha]\n"
    "  ip = \"10.0.0.1\"\n"
    "  [ servers . \"beta\" ]\n"
    "  ip = \"10.0.0.2\"\n"
    "[[products]]\n"
    "name = \"Hammer\"\n"
    "[[products]]\n"
    "[[products.parts]]\n"
    "sku = 284758393\n"
    "[products.extra]\n"
    "color = \"gray\"\n";

/* ---- helpers ------------------------------------------------------------- */

static struct toml_value *parse_or_die(int line, const char *label, const char *text, size_t len) {
  cleanup_error crio_error_t err = NULL;
  struct toml_value *root = NULL;
  if (toml_parse(text, len, label, &root, &err) < 0) {
    fprintf(stderr, "%s:%d: unexpected parse error: %s\n", __FILE__, line,
            crio_error_message(&err));
    exit(1);
  }
  return root;
}
#define PARSE(text) parse_or_die(__LINE__, "t.toml", text, strlen(text))

static void check_error(int line, const char *text, const char *expected) {
  cleanup_error crio_error_t err = NULL;
  struct toml_value *root = NULL;
  if (toml_parse(text, strlen(text), "t.toml", &root, &err) == 0) {
    fprintf(stderr, "%s:%d: expected error \"%s\", parse succeeded\n", __FILE__, line, expected);
    exit(1);
  }
  CHECK(root == NULL);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  if (strcmp(crio_error_message(&err), expected) != 0) {
    fprintf(stderr, "%s:%d: expected error \"%s\", saw \"%s\"\n", __FILE__, line, expected,
            crio_error_message(&err));
    exit(1);
  }
}
#define CHECK_ERROR(text, expected) check_error(__LINE__, text, expected)

static const char *string_at(const struct toml_value *root, const char *path) {
  const struct toml_value *v = toml_get_path(root, path);
  CHECK(v != NULL);
  CHECK_INT_EQ(v->type, TOML_STRING);
  return v->u.string.ptr;
}

static int64_t int_at(const struct toml_value *root, const char *path) {
  const struct toml_value *v = toml_get_path(root, path);
  CHECK(v != NULL);
  CHECK_INT_EQ(v->type, TOML_INTEGER);
  return v->u.integer;
}

static double float_at(const struct toml_value *root, const char *path) {
  const struct toml_value *v = toml_get_path(root, path);
  CHECK(v != NULL);
  CHECK_INT_EQ(v->type, TOML_FLOAT);
  return v->u.floating;
}

static char *repeat(const char *s, size_t times) {
  size_t n = strlen(s);
  char *out = xmalloc(n * times + 1);
  for (size_t i = 0; i < times; i++)
    memcpy(out + i * n, s, n);
  out[n * times] = '\0';
  return out;
}

/* ---- value types --------------------------------------------------------- */

static void test_basic_string_escapes(void) {
  cleanup_toml struct toml_value *root = PARSE("a = \"\\b\\t\\n\\f\\r\\\"\\\\\"\n"
                                               "b = \"caf\\u00e9 \\U0001F600 \\u0041\"\n"
                                               "c = \"tab\there é raw\"\n"
                                               "d = \"nul\\u0000inside\"\n"
                                               "e = \"\"\n");
  CHECK_STR_EQ(string_at(root, "a"), "\b\t\n\f\r\"\\");
  CHECK_STR_EQ(string_at(root, "b"), "caf\xC3\xA9 \xF0\x9F\x98\x80 A");
  CHECK_STR_EQ(string_at(root, "c"), "tab\there \xC3\xA9 raw");
  const struct toml_value *d = toml_get(root, "d");
  CHECK_INT_EQ(d->u.string.len, 10);
  CHECK(memcmp(d->u.string.ptr, "nul\0inside", 11) == 0);
  CHECK_STR_EQ(string_at(root, "e"), "");
  CHECK_INT_EQ(toml_get(root, "e")->u.string.len, 0);
}

static void test_literal_and_multiline_strings(void) {
  cleanup_toml struct toml_value *root =
      PARSE("winpath = 'C:\\Users\\nodejs\\templates'\n"
            "quoted = 'Tom \"Dubs\" Preston'\n"
            "ml = \"\"\"\nRoses are red\nViolets are blue\"\"\"\n"
            "joined = \"\"\"\\\n    The quick \\\n\n    brown fox.\\\n    \"\"\"\n"
            "quotes = \"\"\"Here are two quotation marks: \"\". Simple.\"\"\"\n"
            "ending = \"\"\"\"This,\" she said, \"is a quote.\"\"\"\"\n"
            "crlf = \"\"\"one\r\ntwo\"\"\"\n"
            "mll = '''\nThe first newline is\ntrimmed in raw strings.\n   All "
            "other whitespace\n   is preserved. \\n stays.\n'''\n"
            "mll_quotes = '''Here are fifteen quotation marks: '' and '''''\n"
            "escape_in_ml = \"\"\"tab\\tend\\u00e9\"\"\"\n");
  CHECK_STR_EQ(string_at(root, "winpath"), "C:\\Users\\nodejs\\templates");
  CHECK_STR_EQ(string_at(root, "quoted"), "Tom \"Dubs\" Preston");
  CHECK_STR_EQ(string_at(root, "ml"), "Roses are red\nViolets are blue");
  CHECK_STR_EQ(string_at(root, "joined"), "The quick brown fox.");
  CHECK_STR_EQ(string_at(root, "quotes"), "Here are two quotation marks: \"\". Simple.");
  CHECK_STR_EQ(string_at(root, "ending"), "\"This,\" she said, \"is a quote.\"");
  CHECK_STR_EQ(string_at(root, "crlf"), "one\ntwo");
  CHECK_STR_EQ(string_at(root, "mll"),
               "The first newline is\ntrimmed in raw strings.\n   All other "
               "whitespace\n   is preserved. \\n stays.\n");
  CHECK_STR_EQ(string_at(root, "mll_quotes"), "Here are fifteen quotation marks: '' and ''");
  CHECK_STR_EQ(string_at(root, "escape_in_ml"), "tab\tend\xC3\xA9");
}

static void test_integers(void) {
  cleanup_toml struct toml_value *root =
      PARSE("a = 42\nb = +17\nc = -17\nd = 0\ne = +0\nf = -0\n"
            "g = 1_000\nh = 5_349_221\ni = 0xDEADBEEF\nj = 0xdead_beef\n"
            "k = 0o755\nl = 0b1101_0110\nm = 9223372036854775807\n"
            "n = -9223372036854775808\no = 0x7FFFFFFFFFFFFFFF\np = 0x00ff\n");
  CHECK_INT_EQ(int_at(root, "a"), 42);
  CHECK_INT_EQ(int_at(root, "b"), 17);
  CHECK_INT_EQ(int_at(root, "c"), -17);
  CHECK_INT_EQ(int_at(root, "d"), 0);
  CHECK_INT_EQ(int_at(root, "e"), 0);
  CHECK_INT_EQ(int_at(root, "f"), 0);
  CHECK_INT_EQ(int_at(root, "g"), 1000);
  CHECK_INT_EQ(int_at(root, "h"), 5349221);
  CHECK_INT_EQ(int_at(root, "i"), 0xDEADBEEF);
  CHECK_INT_EQ(int_at(root, "j"), 0xDEADBEEF);
  CHECK_INT_EQ(int_at(root, "k"), 0755);
  CHECK_INT_EQ(int_at(root, "l"), 0xD6);
  CHECK(int_at(root, "m") == INT64_MAX);
  CHECK(int_at(root, "n") == INT64_MIN);
  CHECK(int_at(root, "o") == INT64_MAX);
  CHECK_INT_EQ(int_at(root, "p"), 255);
}

static void test_floats(void) {
  cleanup_toml struct toml_value *root =
      PARSE("a = +1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\nf = -2E-2\n"
            "g = 6.626e-34\nh = 224_617.445_991\ni = 0.0\nj = -0e0\n"
            "k = inf\nl = +inf\nm = -inf\nn = nan\no = +nan\np = -nan\n"
            "q = 1e-400\n");
  CHECK(float_at(root, "a") == 1.0);
  CHECK(float_at(root, "b") == 3.1415);
  CHECK(float_at(root, "c") == -0.01);
  CHECK(float_at(root, "d") == 5e22);
  CHECK(float_at(root, "e") == 1e6);
  CHECK(float_at(root, "f") == -2e-2);
  CHECK(float_at(root, "g") == 6.626e-34);
  CHECK(float_at(root, "h") == 224617.445991);
  CHECK(float_at(root, "i") == 0.0);
  CHECK(float_at(root, "j") == 0.0 && signbit(float_at(root, "j")));
  CHECK(isinf(float_at(root, "k")) && float_at(root, "k") > 0);
  CHECK(isinf(float_at(root, "l")) && float_at(root, "l") > 0);
  CHECK(isinf(float_at(root, "m")) && float_at(root, "m") < 0);
  CHECK(isnan(float_at(root, "n")) && !signbit(float_at(root, "n")));
  CHECK(isnan(float_at(root, "o")));
  CHECK(isnan(float_at(root, "p")) && signbit(float_at(root, "p")));
  CHECK(float_at(root, "q") == 0.0); /* underflow rounds, no error */
}

static void test_bools_and_datetimes(void) {
  cleanup_toml struct toml_value *root = PARSE("t = true\nf = false\n"
                                               "odt1 = 1979-05-27T07:32:00Z\n"
                                               "odt2 = 1979-05-27T00:32:00-07:00\n"
                                               "odt3 = 1979-05-27T00:32:00.999999-07:00\n"
                                               "odt4 = 1979-05-27 07:32:00Z\n"
                                               "odt5 = 1979-05-27t07:32:00z\n"
                                               "ldt = 1979-05-27T07:32:00\n"
                                               "ld = 1979-05-27\n"
                                               "lt1 = 07:32:00\n"
                                               "lt2 = 00:32:00.999999\n"
                                               "leap = 2000-02-29\n"
                                               "leapsec = 1990-12-31T23:59:60Z\n");
  CHECK_INT_EQ(toml_get(root, "t")->type, TOML_BOOL);
  CHECK(toml_get(root, "t")->u.boolean == true);
  CHECK(toml_get(root, "f")->u.boolean == false);
  static const struct {
    const char *key, *raw;
  } dates[] = {
      {"odt1", "1979-05-27T07:32:00Z"},
      {"odt2", "1979-05-27T00:32:00-07:00"},
      {"odt3", "1979-05-27T00:32:00.999999-07:00"},
      {"odt4", "1979-05-27 07:32:00Z"},
      {"odt5", "1979-05-27t07:32:00z"},
      {"ldt", "1979-05-27T07:32:00"},
      {"ld", "1979-05-27"},
      {"lt1", "07:32:00"},
      {"lt2", "00:32:00.999999"},
      {"leap", "2000-02-29"},
      {"leapsec", "1990-12-31T23:59:60Z"},
  };
  for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
    const struct toml_value *v = toml_get(root, dates[i].key);
    CHECK(v != NULL);
    CHECK_INT_EQ(v->type, TOML_DATETIME);
    CHECK_STR_EQ(v->u.string.ptr, dates[i].raw);
  }
}

static void test_arrays(void) {
  cleanup_toml struct toml_value *root =
      PARSE("empty = []\n"
            "ints = [ 1, 2, 3 ]\n"
            "mixed = [ 1, \"two\", 3.0, true, [4], { five = 5 }, 1979-05-27 ]\n"
            "nested = [ [ 1, 2 ], [\"a\", 'b'] ]\n"
            "multi = [\n"
            "  # a comment line\n"
            "  \"x\", # after an item\n"
            "\n"
            "  \"y\",\n"
            "]\n"
            "inline_tables = [ { a = 1 }, { a = 2, b.c = 3 } ]\n");
  CHECK_INT_EQ(toml_array_count(toml_get(root, "empty")), 0);
  const struct toml_value *ints = toml_get(root, "ints");
  CHECK_INT_EQ(toml_array_count(ints), 3);
  CHECK_INT_EQ(toml_array_item(ints, 2)->u.integer, 3);
  CHECK(toml_array_item(ints, 3) == NULL);
  const struct toml_value *mixed = toml_get(root, "mixed");
  static const enum toml_type types[] = {TOML_INTEGER, TOML_STRING, TOML_FLOAT,   TOML_BOOL,
                                         TOML_ARRAY,   TOML_TABLE,  TOML_DATETIME};
  CHECK_INT_EQ(toml_array_count(mixed), 7);
  for (size_t i = 0; i < 7; i++)
    CHECK_INT_EQ(toml_array_item(mixed, i)->type, types[i]);
  const struct toml_value *nested = toml_get(root, "nested");
  CHECK_STR_EQ(toml_array_item(toml_array_item(nested, 1), 1)->u.string.ptr, "b");
  const struct toml_value *multi = toml_get(root, "multi");
  CHECK_INT_EQ(toml_array_count(multi), 2);
  CHECK_STR_EQ(toml_array_item(multi, 1)->u.string.ptr, "y");
  const struct toml_value *tables = toml_get(root, "inline_tables");
  CHECK_INT_EQ(toml_get_path(toml_array_item(tables, 1), "b.c")->u.integer, 3);
  /* Items are placed where they start. */
  CHECK_INT_EQ(toml_array_item(multi, 1)->line, 9);
  CHECK_INT_EQ(toml_array_item(multi, 1)->column, 3);
}

static void test_inline_tables(void) {
  cleanup_toml struct toml_value *root =
      PARSE("name = { first = \"Tom\", last = \"Preston-Werner\" }\n"
            "point = {x=1,y=2}\n"
            "animal = { type.name = \"pug\", type.size = \"small\" }\n"
            "empty = {}\n"
            "deep = { a = { b = { c = [1, { d = 'e' }] } } }\n");
  CHECK_STR_EQ(string_at(root, "name.last"), "Preston-Werner");
  CHECK_INT_EQ(int_at(root, "point.y"), 2);
  CHECK_STR_EQ(string_at(root, "animal.type.size"), "small");
  CHECK_INT_EQ(toml_table_count(toml_get(root, "empty")), 0);
  const struct toml_value *c = toml_get_path(root, "deep.a.b.c");
  CHECK_STR_EQ(toml_get(toml_array_item(c, 1), "d")->u.string.ptr, "e");
}

static void test_keys(void) {
  cleanup_toml struct toml_value *root = PARSE("bare_key-1 = 1\n"
                                               "1234 = 2\n"
                                               "\"127.0.0.1\" = 3\n"
                                               "\"character encoding\" = 4\n"
                                               "\"\xCA\x8E\xC7\x9D\xCA\x9E\" = 5\n"
                                               "'key2' = 6\n"
                                               "'quoted \"value\"' = 7\n"
                                               "\"\" = 8\n"
                                               "physical.color = \"orange\"\n"
                                               "site.\"google.com\" = true\n"
                                               "fruit . flavor = \"banana\"\n"
                                               "3.14159 = \"pi\"\n"
                                               "true = 9\n"
                                               "\"esc\\u0041\" = 10\n");
  CHECK_INT_EQ(int_at(root, "bare_key-1"), 1);
  CHECK_INT_EQ(int_at(root, "1234"), 2);
  CHECK_INT_EQ(toml_get(root, "127.0.0.1")->u.integer, 3);
  CHECK(toml_get_path(root, "127.0.0.1") == NULL); /* dots split paths */
  CHECK_INT_EQ(toml_get(root, "character encoding")->u.integer, 4);
  CHECK_INT_EQ(toml_get(root, "\xCA\x8E\xC7\x9D\xCA\x9E")->u.integer, 5);
  CHECK_INT_EQ(toml_get(root, "key2")->u.integer, 6);
  CHECK_INT_EQ(toml_get(root, "quoted \"value\"")->u.integer, 7);
  CHECK_INT_EQ(toml_get(root, "")->u.integer, 8);
  CHECK_STR_EQ(string_at(root, "physical.color"), "orange");
  CHECK(toml_get(toml_get(root, "site"), "google.com")->u.boolean);
  CHECK_STR_EQ(string_at(root, "fruit.flavor"), "banana");
  CHECK_STR_EQ(string_at(root, "3.14159"), "pi");
  CHECK_INT_EQ(int_at(root, "true"), 9);
  CHECK_INT_EQ(int_at(root, "escA"), 10);
  /* Insertion order is kept. */
  CHECK_STR_EQ(toml_table_key(root, 0), "bare_key-1");
  CHECK_STR_EQ(toml_table_key(root, 8), "physical");
  CHECK_STR_EQ(toml_table_key(root, 13), "escA");
  CHECK(toml_table_key(root, 14) == NULL);
}

static void test_tables(void) {
  cleanup_toml struct toml_value *root =
      PARSE("top = 0\n"
            "[x.y.z.w] # implicit x, x.y, x.y.z\n"
            "a = 1\n"
            "[x] # defining an implied table afterwards is allowed\n"
            "b = 2\n"
            "[fruit]\n"
            "apple.color = \"red\"\n"
            "apple.taste.sweet = true\n"
            "[fruit.apple.texture] # a sub-table of one made by dotted keys\n"
            "smooth = true\n"
            "[p.q.r] # implies p.q, which dotted keys may still extend\n"
            "[p]\n"
            "q.s = 1\n"
            "[[fruits]]\n"
            "name = \"apple\"\n"
            "[fruits.physical]\n"
            "color = \"red\"\n"
            "[[fruits.varieties]]\n"
            "name = \"red delicious\"\n"
            "[[fruits.varieties]]\n"
            "name = \"granny smith\"\n"
            "[[fruits]]\n"
            "name = \"banana\"\n"
            "[[fruits.varieties]]\n"
            "name = \"plantain\"\n"
            "[ servers . \"beta\" ]\n"
            "ip = \"10.0.0.2\"\n");
  CHECK_INT_EQ(int_at(root, "x.y.z.w.a"), 1);
  CHECK_INT_EQ(int_at(root, "x.b"), 2);
  CHECK(toml_get_path(root, "fruit.apple.taste.sweet")->u.boolean);
  CHECK(toml_get_path(root, "fruit.apple.texture.smooth")->u.boolean);
  CHECK_INT_EQ(int_at(root, "p.q.s"), 1);
  CHECK(toml_get_path(root, "p.q.r") != NULL);
  const struct toml_value *fruits = toml_get(root, "fruits");
  CHECK_INT_EQ(fruits->type, TOML_ARRAY);
  CHECK_INT_EQ(toml_array_count(fruits), 2);
  const struct toml_value *apple = toml_array_item(fruits, 0);
  CHECK_STR_EQ(string_at(apple, "physical.color"), "red");
  CHECK_INT_EQ(toml_array_count(toml_get(apple, "varieties")), 2);
  const struct toml_value *banana = toml_array_item(fruits, 1);
  CHECK_STR_EQ(toml_get(toml_array_item(toml_get(banana, "varieties"), 0), "name")->u.string.ptr,
               "plantain");
  CHECK_STR_EQ(string_at(root, "servers.beta.ip"), "10.0.0.2");
  CHECK_STR_EQ(toml_table_key(root, 0), "top");
  CHECK_STR_EQ(toml_table_key(root, 1), "x");
  CHECK_STR_EQ(toml_table_key(root, 2), "fruit");
  CHECK_STR_EQ(toml_table_key(root, 3), "p");
  CHECK_STR_EQ(toml_table_key(root, 4), "fruits");
  CHECK_STR_EQ(toml_table_key(root, 5), "servers");
}

static void test_crlf_bom_and_empty(void) {
  cleanup_toml struct toml_value *empty = PARSE("");
  CHECK_INT_EQ(toml_table_count(empty), 0);
  cleanup_toml struct toml_value *blank = PARSE("\n  \t\n# only a comment");
  CHECK_INT_EQ(toml_table_count(blank), 0);
  cleanup_toml struct toml_value *root = PARSE("\xEF\xBB\xBF[a]\r\nb = 1\r\nc = [\r\n 2,\r\n]\r\n");
  CHECK_INT_EQ(int_at(root, "a.b"), 1);
  const struct toml_value *b = toml_get_path(root, "a.b");
  CHECK_INT_EQ(b->line, 2);
  CHECK_INT_EQ(b->column, 1);
  CHECK_INT_EQ(toml_get_path(root, "a")->column, 1); /* BOM is no column */
  /* Nor when an error looks back to an earlier position. */
  CHECK_ERROR("\xEF\xBB\xBF"
              "a = [1,\n2",
              "t.toml:1:5: unterminated array");
  /* No NUL terminator needed: only len bytes are read. */
  cleanup_free char *exact = xmemdup("k = 12", 6);
  cleanup_toml struct toml_value *unterminated = parse_or_die(__LINE__, NULL, exact, 6);
  CHECK_INT_EQ(int_at(unterminated, "k"), 12);
}

/* ---- the two consumers --------------------------------------------------- */

static void test_crio_conf(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_toml struct toml_value *root =
      parse_or_die(__LINE__, "crio.conf", crio_conf, strlen(crio_conf));
  const struct toml_value *crio = toml_get(root, "crio");
  const char *s = NULL;
  CHECK_INT_EQ(toml_get_string(crio, "root", &s, &err), 0);
  CHECK_STR_EQ(s, "/var/lib/containers/storage");
  const struct toml_value *api = toml_get_path(root, "crio.api");
  int64_t size = 0;
  CHECK_INT_EQ(toml_get_int64(api, "grpc_max_send_msg_size", &size, &err), 0);
  CHECK_INT_EQ(size, 83886080);
  CHECK_INT_EQ(toml_get_int64(api, "grpc_max_recv_msg_size", &size, &err), 0);
  CHECK_INT_EQ(size, 83886080);
  bool tls = true;
  CHECK_INT_EQ(toml_get_bool(api, "stream_enable_tls", &tls, &err), 0);
  CHECK(!tls);

  const struct toml_value *runtime = toml_get_path(root, "crio.runtime");
  CHECK_INT_EQ(toml_get_string(runtime, "log_level", &s, &err), 0);
  CHECK_STR_EQ(s, "info");
  int64_t log_size_max = 0;
  CHECK_INT_EQ(toml_get_int64(runtime, "log_size_max", &log_size_max, &err), 0);
  CHECK_INT_EQ(log_size_max, -1);
  cleanup_strv char **caps = NULL;
  CHECK_INT_EQ(toml_get_string_array(runtime, "default_capabilities", &caps, &err), 0);
  CHECK_STR_EQ(caps[0], "CHOWN");
  CHECK_STR_EQ(caps[8], "KILL");
  CHECK(caps[9] == NULL);
  cleanup_strv char **ulimits = NULL;
  CHECK_INT_EQ(toml_get_string_array(runtime, "default_ulimits", &ulimits, &err), 0);
  CHECK(ulimits[0] == NULL);
  /* Absent keys are no error and leave defaults alone. */
  const char *absent = "default";
  CHECK_INT_EQ(toml_get_string(runtime, "no_such_key", &absent, &err), 1);
  CHECK_STR_EQ(absent, "default");
  CHECK(err == NULL);

  /* Runtime handlers come back in file order, with their names. */
  const struct toml_value *runtimes = toml_get_path(root, "crio.runtime.runtimes");
  CHECK_INT_EQ(toml_table_count(runtimes), 3);
  CHECK_STR_EQ(toml_table_key(runtimes, 0), "runc");
  CHECK_STR_EQ(toml_table_key(runtimes, 1), "crun");
  CHECK_STR_EQ(toml_table_key(runtimes, 2), "kata-qemu");
  const struct toml_value *kata = toml_table_value(runtimes, 2);
  CHECK_INT_EQ(toml_get_string(kata, "runtime_type", &s, &err), 0);
  CHECK_STR_EQ(s, "vm");
  bool privileged = false;
  CHECK_INT_EQ(toml_get_bool(kata, "privileged_without_host_devices", &privileged, &err), 0);
  CHECK(privileged);
  cleanup_free char *path = toml_value_path(kata);
  CHECK_STR_EQ(path, "crio.runtime.runtimes.kata-qemu");

  const char *pause = NULL;
  CHECK_INT_EQ(toml_get_string(toml_get_path(root, "crio.image"), "pause_image", &pause, &err), 0);
  CHECK_STR_EQ(pause, "registry.k8s.io/pause:3.9");
  cleanup_strv char **plugin_dirs = NULL;
  CHECK_INT_EQ(
      toml_get_string_array(toml_get_path(root, "crio.network"), "plugin_dirs", &plugin_dirs, &err),
      0);
  CHECK_STR_EQ(plugin_dirs[0], "/opt/cni/bin/");
  CHECK_INT_EQ(int_at(root, "crio.metrics.metrics_port"), 9090);

  /* A consumer's own check, reported like ours. */
  const struct toml_value *level = toml_get(runtime, "log_level");
  CHECK_INT_EQ(toml_error(&err, level, "unknown level \"%s\"", "info"), -1);
  CHECK_STR_EQ(crio_error_message(&err), "crio.conf:52:1: crio.runtime.log_level: unknown level "
                                         "\"info\"");
}

static void test_registries_conf(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_toml struct toml_value *root =
      parse_or_die(__LINE__, "registries.conf", registries_conf, strlen(registries_conf));
  cleanup_strv char **search = NULL;
  CHECK_INT_EQ(toml_get_string_array(root, "unqualified-search-registries", &search, &err), 0);
  CHECK_STR_EQ(search[0], "registry.fedoraproject.org");
  CHECK_STR_EQ(search[2], "docker.io");
  CHECK(search[3] == NULL);
  const char *mode = NULL;
  CHECK_INT_EQ(toml_get_string(root, "short-name-mode", &mode, &err), 0);
  CHECK_STR_EQ(mode, "enforcing");

  const struct toml_value *registries = NULL;
  CHECK_INT_EQ(toml_get_array(root, "registry", &registries, &err), 0);
  CHECK_INT_EQ(toml_array_count(registries), 2);

  const struct toml_value *r0 = toml_array_item(registries, 0);
  const char *s = NULL;
  bool b = true;
  CHECK_INT_EQ(toml_get_string(r0, "prefix", &s, &err), 0);
  CHECK_STR_EQ(s, "example.com/foo");
  CHECK_INT_EQ(toml_get_string(r0, "location", &s, &err), 0);
  CHECK_STR_EQ(s, "internal-registry-for-example.com/bar");
  CHECK_INT_EQ(toml_get_bool(r0, "insecure", &b, &err), 0);
  CHECK(!b);
  CHECK_INT_EQ(toml_get_bool(r0, "blocked", &b, &err), 0);
  CHECK(!b);
  const struct toml_value *m0 = NULL;
  CHECK_INT_EQ(toml_get_array(r0, "mirror", &m0, &err), 0);
  CHECK_INT_EQ(toml_array_count(m0), 2);
  CHECK_INT_EQ(toml_get_string(toml_array_item(m0, 0), "location", &s, &err), 0);
  CHECK_STR_EQ(s, "example-mirror-0.local/mirror-for-foo");
  CHECK_INT_EQ(toml_get_bool(toml_array_item(m0, 0), "insecure", &b, &err), 1);
  CHECK_INT_EQ(toml_get_bool(toml_array_item(m0, 1), "insecure", &b, &err), 0);
  CHECK(b);

  /* [[registry.mirror]] belongs to the [[registry]] just above it. */
  const struct toml_value *r1 = toml_array_item(registries, 1);
  CHECK_INT_EQ(toml_get_string(r1, "prefix", &s, &err), 1);
  CHECK_INT_EQ(toml_get_bool(r1, "mirror-by-digest-only", &b, &err), 0);
  CHECK(b);
  const struct toml_value *m1 = toml_get(r1, "mirror");
  CHECK_INT_EQ(toml_array_count(m1), 2);
  CHECK_INT_EQ(toml_get_string(toml_array_item(m1, 0), "pull-from-mirror", &s, &err), 0);
  CHECK_STR_EQ(s, "digest-only");
  CHECK_INT_EQ(toml_get_string(toml_array_item(m1, 1), "location", &s, &err), 0);
  CHECK_STR_EQ(s, "10.0.0.5:5000");
  cleanup_free char *path = toml_value_path(toml_array_item(m1, 1));
  CHECK_STR_EQ(path, "registry[1].mirror[1]");

  const struct toml_value *aliases = toml_get(root, "aliases");
  CHECK_INT_EQ(toml_table_count(aliases), 2);
  CHECK_STR_EQ(toml_table_key(aliases, 1), "ubi8");
  CHECK(err == NULL);
}

/* ---- typed getters and their errors -------------------------------------- */

static void test_typed_getters(void) {
  static const char text[] = "[[registry]]\n"
                             "location = \"a.example\"\n"
                             "insecure = \"yes\"\n"
                             "[[registry]]\n"
                             "[[registry.mirror]]\n"
                             "location = 5\n"
                             "[misc]\n"
                             "list = [\"a\", 2]\n"
                             "nul = \"a\\u0000b\"\n"
                             "ratio = 2\n"
                             "half = 0.5\n"
                             "\"docker.io\" = { insecure = 1 }\n"
                             "big = 0x7fffffffffffffff\n";
  cleanup_toml struct toml_value *root =
      parse_or_die(__LINE__, "registries.conf", text, strlen(text));
  const struct toml_value *r0 = toml_array_item(toml_get(root, "registry"), 0);
  const struct toml_value *misc = toml_get(root, "misc");
  const char *s = NULL;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  char **strv = NULL;
  const struct toml_value *v = NULL;

  {
    cleanup_error crio_error_t err = NULL;
    CHECK_INT_EQ(toml_get_bool(r0, "insecure", &b, &err), -1);
    CHECK_STR_EQ(crio_error_message(&err), "registries.conf:3:1: registry[0].insecure: expected "
                                           "boolean, found string");
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  }
  {
    cleanup_error crio_error_t err = NULL;
    const struct toml_value *mirror =
        toml_array_item(toml_get(toml_array_item(toml_get(root, "registry"), 1), "mirror"), 0);
    CHECK_INT_EQ(toml_get_string(mirror, "location", &s, &err), -1);
    CHECK_STR_EQ(crio_error_message(&err), "registries.conf:6:1: registry[1].mirror[0].location: "
                                           "expected string, found integer");
  }
  {
    cleanup_error crio_error_t err = NULL;
    CHECK_INT_EQ(toml_get_string_array(misc, "list", &strv, &err), -1);
    CHECK(strv == NULL);
    CHECK_STR_EQ(crio_error_message(&err),
                 "registries.conf:8:14: misc.list[1]: expected string, found "
                 "integer");
  }
  {
    cleanup_error crio_error_t err = NULL;
    CHECK_INT_EQ(toml_get_string(misc, "nul", &s, &err), -1);
    CHECK_STR_EQ(crio_error_message(&err), "registries.conf:9:1: misc.nul: string contains a NUL "
                                           "character");
  }
  {
    cleanup_error crio_error_t err = NULL;
    CHECK_INT_EQ(toml_get_int64(toml_get(misc, "docker.io"), "insecure", &i, &err), 0);
    CHECK_INT_EQ(i, 1);
    CHECK_INT_EQ(toml_get_bool(toml_get(misc, "docker.io"), "insecure", &b, &err), -1);
    CHECK_STR_EQ(crio_error_message(&err), "registries.conf:12:17: misc.\"docker.io\".insecure: "
                                           "expected boolean, found integer");
  }
  {
    cleanup_error crio_error_t err = NULL;
    CHECK_INT_EQ(toml_get_double(misc, "ratio", &d, &err), 0);
    CHECK(d == 2.0);
    CHECK_INT_EQ(toml_get_double(misc, "half", &d, &err), 0);
    CHECK(d == 0.5);
    CHECK_INT_EQ(toml_get_int64(misc, "half", &i, &err), -1);
    CHECK_STR_EQ(crio_error_message(&err),
                 "registries.conf:11:1: misc.half: expected integer, found "
                 "float");
  }
  {
    cleanup_error crio_error_t err = NULL;
    CHECK_INT_EQ(toml_get_int64(misc, "big", &i, &err), 0);
    CHECK(i == INT64_MAX);
    /* Absent, NULL table: 1.  Not a table: an error about it. */
    CHECK_INT_EQ(toml_get_table(misc, "nothing", &v, &err), 1);
    CHECK_INT_EQ(toml_get_string(NULL, "x", &s, &err), 1);
    CHECK(err == NULL);
    CHECK_INT_EQ(toml_get_string(toml_get(misc, "half"), "x", &s, &err), -1);
    CHECK_STR_EQ(crio_error_message(&err), "registries.conf:11:1: misc.half: expected table, found "
                                           "float");
  }
  {
    cleanup_error crio_error_t err = NULL;
    CHECK_INT_EQ(toml_get_table(root, "registry", &v, &err), -1);
    CHECK_STR_EQ(crio_error_message(&err),
                 "registries.conf:1:1: registry: expected table, found array");
  }
  {
    cleanup_error crio_error_t err = NULL;
    CHECK_INT_EQ(toml_get_array(root, "misc", &v, &err), -1);
    CHECK_STR_EQ(crio_error_message(&err),
                 "registries.conf:7:1: misc: expected array, found table");
  }
  {
    /* The root has a label but no position. */
    cleanup_error crio_error_t err = NULL;
    CHECK_INT_EQ(toml_error(&err, root, "no registries"), -1);
    CHECK_STR_EQ(crio_error_message(&err), "registries.conf: no registries");
  }
  CHECK(toml_get(NULL, "x") == NULL);
  CHECK(toml_get_path(NULL, "x") == NULL);
  CHECK(toml_get_path(root, "misc.half.x") == NULL);
  CHECK_INT_EQ(toml_table_count(toml_get(misc, "half")), 0);
  CHECK_INT_EQ(toml_array_count(misc), 0);
  CHECK_STR_EQ(toml_type_name(TOML_DATETIME), "date-time");
}

static void test_building(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_toml struct toml_value *root = toml_new(TOML_TABLE);
  struct toml_value *n = toml_new(TOML_INTEGER);
  n->u.integer = 7;
  CHECK_INT_EQ(toml_table_add(root, "n", n, &err), 0);
  CHECK_INT_EQ(toml_table_add(root, "n", toml_new(TOML_BOOL), &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EEXIST);
  crio_error_release(&err);
  struct toml_value *list = toml_new(TOML_ARRAY);
  toml_array_append(list, toml_new(TOML_STRING));
  CHECK_INT_EQ(toml_table_add(root, "list", list, &err), 0);
  cleanup_strv char **strv = NULL;
  CHECK_INT_EQ(toml_get_string_array(root, "list", &strv, &err), 0);
  CHECK_STR_EQ(strv[0], "");
  int64_t i = 0;
  CHECK_INT_EQ(toml_get_int64(root, "n", &i, &err), 0);
  CHECK_INT_EQ(i, 7);
  /* Built values have no position: the error says only the path. */
  bool b;
  CHECK_INT_EQ(toml_get_bool(root, "n", &b, &err), -1);
  CHECK_STR_EQ(crio_error_message(&err), "n: expected boolean, found integer");
}

/* A table with many keys stays fast: the index keeps lookups O(1). */
static void test_many_keys(void) {
  size_t count = 50000;
  size_t cap = count * 24;
  cleanup_free char *text = xmalloc(cap);
  size_t len = 0;
  for (size_t i = 0; i < count; i++)
    len += (size_t)snprintf(text + len, cap - len, "key%zu = %zu\n", i, i);
  int64_t start = crio_monotonic_ns();
  cleanup_toml struct toml_value *root = parse_or_die(__LINE__, "many", text, len);
  CHECK_INT_EQ(toml_table_count(root), count);
  for (size_t i = 0; i < count; i += 997) {
    char key[32];
    snprintf(key, sizeof(key), "key%zu", i);
    CHECK_INT_EQ(toml_get(root, key)->u.integer, i);
  }
  CHECK(toml_get(root, "key50000") == NULL);
  /* Quadratic behaviour would take minutes here, not seconds. */
  CHECK(crio_monotonic_ns() - start < 20LL * 1000 * 1000 * 1000);
  CHECK_ERROR("k1=1\nk2=2\nk3=3\nk4=4\nk5=5\nk6=6\nk7=7\nk8=8\nk9=9\nk5=0",
              "t.toml:10:1: duplicate key k5 (first defined at 5:1)");
}

static void test_parse_file(void) {
  char path[] = "/tmp/test_toml.XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  static const char text[] = "[crio]\nroot = \"/x\"\nbad = \n";
  CHECK(write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1));
  close(fd);
  cleanup_error crio_error_t err = NULL;
  struct toml_value *root = NULL;
  CHECK_INT_EQ(toml_parse_file(path, &root, &err), -1);
  cleanup_free char *expected = xasprintf("%s:3:7: expected a value", path);
  CHECK_STR_EQ(crio_error_message(&err), expected);
  crio_error_release(&err);
  unlink(path);
  CHECK_INT_EQ(toml_parse_file(path, &root, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
}

/* ---- errors, with exact positions ---------------------------------------- */

static void test_errors(void) {
  /* Redefinitions. */
  CHECK_ERROR("a = 1\na = 2\n", "t.toml:2:1: duplicate key a (first defined at 1:1)");
  CHECK_ERROR("a = 1\n\"a\" = 2\n", "t.toml:2:1: duplicate key a (first defined at 1:1)");
  CHECK_ERROR("[a]\nx = 1\n[a]\n", "t.toml:3:1: table a defined twice (first at 1:1)");
  CHECK_ERROR("[a.b]\n[a]\n[a]\n", "t.toml:3:1: table a defined twice (first at 2:1)");
  CHECK_ERROR("[[a]]\n[a.b]\nc = 1\n[a.b]\n",
              "t.toml:4:1: table a[0].b defined twice (first at 2:1)");
  CHECK_ERROR("[[a]]\n[a]\n", "t.toml:2:1: a is an array of tables (defined at 1:1), not a "
                              "table");
  CHECK_ERROR("a = [1]\n[[a]]\n", "t.toml:2:1: a is an array (defined at 1:1), not an array of "
                                  "tables");
  CHECK_ERROR("[a]\n[[a]]\n", "t.toml:2:1: a is a table (defined at 1:1), not an array of "
                              "tables");
  CHECK_ERROR("[[registry]]\n[[registry.mirror]]\n[registry.mirror]\n",
              "t.toml:3:1: registry[0].mirror is an array of tables (defined "
              "at 2:1), not a table");
  CHECK_ERROR("a = {b = 1}\n[a]\n", "t.toml:2:1: table a defined twice (first at 1:1)");
  CHECK_ERROR("a = {b = {c = 1}}\n[a.b.d]\n",
              "t.toml:2:1: cannot add keys to inline table a (defined at "
              "1:1)");
  CHECK_ERROR("a = [{b = 1}]\n[a.c]\n", "t.toml:2:1: a is an array (defined at 1:1), not a table");
  CHECK_ERROR("[a]\nb = 1\n[a.b]\n", "t.toml:3:1: a.b is an integer (defined at 2:1), not a table");

  /* Dotted keys. */
  CHECK_ERROR("a = 1\na.b = 2\n", "t.toml:2:1: a is an integer (defined at 1:1), not a table");
  CHECK_ERROR("a.b = 1\na.b.c = 2\n",
              "t.toml:2:3: a.b is an integer (defined at 1:3), not a table");
  CHECK_ERROR("a.b = 1\na = 2\n", "t.toml:2:1: duplicate key a (first defined at 1:1)");
  CHECK_ERROR("a.b = 1\na.b = 2\n", "t.toml:2:3: duplicate key a.b (first defined at 1:3)");
  CHECK_ERROR("[fruit]\napple.color = \"red\"\n[fruit.apple]\n",
              "t.toml:3:1: table fruit.apple defined twice (first at 2:1)");
  CHECK_ERROR("[t1]\nt2.t3.v = 0\n[t1.t2.t3]\n",
              "t.toml:3:1: table t1.t2.t3 defined twice (first at 2:4)");
  CHECK_ERROR("a = {b = 1}\na.c = 2\n", "t.toml:2:1: cannot add keys to inline table a (defined at "
                                        "1:1)");
  CHECK_ERROR("x = {a.b = 1, a = 2}\n", "t.toml:1:15: duplicate key x.a (first defined at 1:6)");
  CHECK_ERROR("[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
              "t.toml:4:3: cannot add keys to table a.b.c with dotted keys: "
              "it is defined by a header at 1:1");
  CHECK_ERROR("[a.b.c]\n[a]\nb.x = 1\n[a.b]\n",
              "t.toml:4:1: table a.b defined twice (first at 3:1)");
  CHECK_ERROR("[a.b]\n[a]\nb.c = 1\n",
              "t.toml:3:1: cannot add keys to table a.b with dotted keys: it "
              "is defined by a header at 1:1");
  CHECK_ERROR("[[a.b]]\n[a]\nb.y = 2\n",
              "t.toml:3:1: a.b is an array of tables (defined at 1:1), not a "
              "table");

  /* Strings. */
  CHECK_ERROR("a = \"abc\n", "t.toml:1:5: unterminated string");
  CHECK_ERROR("a = \"abc", "t.toml:1:5: unterminated string");
  CHECK_ERROR("a = 'abc\n", "t.toml:1:5: unterminated string");
  CHECK_ERROR("a = \"\"\"abc\n\"\"", "t.toml:1:5: unterminated multi-line "
                                     "string");
  CHECK_ERROR("a = '''abc", "t.toml:1:5: unterminated multi-line string");
  CHECK_ERROR("a = \"x\\qy\"", "t.toml:1:7: invalid escape sequence '\\q'");
  CHECK_ERROR("a = \"x\\ y\"", "t.toml:1:7: invalid escape sequence");
  CHECK_ERROR("a = \"x\\\ny\"", "t.toml:1:7: invalid escape sequence");
  CHECK_ERROR("a = \"\\e\"", "t.toml:1:6: invalid escape sequence '\\e'");
  CHECK_ERROR("a = \"\\u12\"", "t.toml:1:6: \\u escape needs 4 hex digits");
  CHECK_ERROR("a = \"\\U0001F60\"", "t.toml:1:6: \\U escape needs 8 hex digits");
  CHECK_ERROR("a = \"\\uD800\"", "t.toml:1:6: \\uD800 is not a Unicode scalar value");
  CHECK_ERROR("a = \"\\U00110000\"", "t.toml:1:6: \\U00110000 is not a Unicode scalar value");
  CHECK_ERROR("a = \"x\x01\"", "t.toml:1:7: control character U+0001 in "
                               "string");
  CHECK_ERROR("a = 'x\x7f'", "t.toml:1:7: control character U+007F in string");
  CHECK_ERROR("a = \"\"\"x\ry\"\"\"", "t.toml:1:9: control character U+000D in string");
  CHECK_ERROR("a = \"\xff\"", "t.toml:1:6: invalid UTF-8");
  CHECK_ERROR("a = \"\xC0\xAF\"", "t.toml:1:6: invalid UTF-8"); /* overlong */
  CHECK_ERROR("a = \"\xED\xA0\x80\"", "t.toml:1:6: invalid UTF-8");
  CHECK_ERROR("a = \"\xE2\x82\"", "t.toml:1:6: invalid UTF-8");
  CHECK_ERROR("a = \"\"\"x\"\"\"\"\"\"", "t.toml:1:14: expected end of line after value");
  CHECK_ERROR("\"\"\"k\"\"\" = 1", "t.toml:1:1: a multi-line string cannot be a key");
  CHECK_ERROR("\"a\\u0000b\" = 1", "t.toml:1:1: key contains a NUL character");

  /* Keys and structure. */
  CHECK_ERROR("log_level \"info\"", "t.toml:1:11: expected '=' after key");
  CHECK_ERROR("[crio]\n\n    log_level\n", "t.toml:3:14: expected '=' after key");
  CHECK_ERROR("a.b. = 1", "t.toml:1:6: expected a key");
  CHECK_ERROR("= 1", "t.toml:1:1: expected a key");
  CHECK_ERROR("a = ", "t.toml:1:5: expected a value");
  CHECK_ERROR("a = # nothing", "t.toml:1:5: expected a value");
  CHECK_ERROR("a = 1 b = 2", "t.toml:1:7: expected end of line after value");
  CHECK_ERROR("a = \"x\" \"y\"", "t.toml:1:9: expected end of line after value");
  CHECK_ERROR("a = 1\rb = 2", "t.toml:1:6: expected end of line after value");
  CHECK_ERROR("[a] x", "t.toml:1:5: expected end of line after table header");
  CHECK_ERROR("[a", "t.toml:1:3: expected ']' to close the table header");
  CHECK_ERROR("[[a]", "t.toml:1:4: expected ']]' to close the array of tables "
                      "header");
  CHECK_ERROR("[[a] ]", "t.toml:1:4: expected ']]' to close the array of "
                        "tables header");
  CHECK_ERROR("[ ]", "t.toml:1:3: expected a key");
  CHECK_ERROR("a = 1 # \x7f", "t.toml:1:9: control character U+007F in "
                              "comment");
  CHECK_ERROR("# \x01\n", "t.toml:1:3: control character U+0001 in comment");
  CHECK_ERROR("# \xff\n", "t.toml:1:3: invalid UTF-8");
  CHECK_ERROR("a = [1, 2", "t.toml:1:5: unterminated array");
  CHECK_ERROR("a = [1 2]", "t.toml:1:8: expected ',' or ']' in array");
  CHECK_ERROR("a = [,]", "t.toml:1:6: expected a value");
  CHECK_ERROR("a = [1,,2]", "t.toml:1:8: expected a value");
  CHECK_ERROR("a = {x = 1,}", "t.toml:1:12: trailing comma in inline table");
  CHECK_ERROR("a = {x = 1\n}", "t.toml:1:11: newline in inline table");
  CHECK_ERROR("a = {\nx = 1}", "t.toml:1:6: newline in inline table");
  CHECK_ERROR("a = {x = 1 y = 2}", "t.toml:1:12: expected ',' or '}' in inline table");
  CHECK_ERROR("a = {x = 1", "t.toml:1:5: unterminated inline table");
  /* Columns count characters, not bytes. */
  CHECK_ERROR("s = \"\xC3\xA9\" x", "t.toml:1:9: expected end of line after value");

  /* Numbers and other bare values. */
  CHECK_ERROR("a = 12x", "t.toml:1:5: invalid number '12x'");
  CHECK_ERROR("a = 1__0", "t.toml:1:5: invalid number '1__0'");
  CHECK_ERROR("a = _1", "t.toml:1:5: invalid number '_1'");
  CHECK_ERROR("a = 1_", "t.toml:1:5: invalid number '1_'");
  CHECK_ERROR("a = 0x", "t.toml:1:5: invalid number '0x'");
  CHECK_ERROR("a = 0xG1", "t.toml:1:5: invalid number '0xG1'");
  CHECK_ERROR("a = 0o8", "t.toml:1:5: invalid number '0o8'");
  CHECK_ERROR("a = 0b2", "t.toml:1:5: invalid number '0b2'");
  CHECK_ERROR("a = +0x10", "t.toml:1:5: invalid number '+0x10'");
  CHECK_ERROR("a = 0X10", "t.toml:1:5: invalid number '0X10'");
  CHECK_ERROR("a = 1.", "t.toml:1:5: invalid number '1.'");
  CHECK_ERROR("a = .5", "t.toml:1:5: invalid number '.5'");
  CHECK_ERROR("a = 1.e5", "t.toml:1:5: invalid number '1.e5'");
  CHECK_ERROR("a = 1e", "t.toml:1:5: invalid number '1e'");
  CHECK_ERROR("a = 1e+", "t.toml:1:5: invalid number '1e+'");
  CHECK_ERROR("a = 1.5.5", "t.toml:1:5: invalid number '1.5.5'");
  CHECK_ERROR("a = --1", "t.toml:1:5: invalid number '--1'");
  CHECK_ERROR("a = +", "t.toml:1:5: invalid number '+'");
  CHECK_ERROR("a = 0123", "t.toml:1:5: leading zeros are not allowed: '0123'");
  CHECK_ERROR("a = -01.5", "t.toml:1:5: leading zeros are not allowed: '-01.5'");
  CHECK_ERROR("a = 9223372036854775808", "t.toml:1:5: integer out of range: '9223372036854775808'");
  CHECK_ERROR("a = -9223372036854775809",
              "t.toml:1:5: integer out of range: '-9223372036854775809'");
  CHECK_ERROR("a = 0x8000000000000000", "t.toml:1:5: integer out of range: '0x8000000000000000'");
  CHECK_ERROR("a = 1e999", "t.toml:1:5: float out of range: '1e999'");
  CHECK_ERROR("a = yes", "t.toml:1:5: invalid value 'yes' (strings need "
                         "quotes)");
  CHECK_ERROR("a = True", "t.toml:1:5: invalid value 'True' (strings need "
                          "quotes)");
  CHECK_ERROR("a = truex", "t.toml:1:5: invalid value 'truex' (strings need "
                           "quotes)");
  CHECK_ERROR("a = Infinity", "t.toml:1:5: invalid value 'Infinity' (strings "
                              "need quotes)");
  CHECK_ERROR("a = 1979-13-01", "t.toml:1:5: invalid date-time '1979-13-01'");
  CHECK_ERROR("a = 1979-02-29", "t.toml:1:5: invalid date-time '1979-02-29'");
  CHECK_ERROR("a = 1979-05-27T25:00:00", "t.toml:1:5: invalid date-time '1979-05-27T25:00:00'");
  CHECK_ERROR("a = 1979-05-27T07:32", "t.toml:1:5: invalid date-time '1979-05-27T07:32'");
  CHECK_ERROR("a = 1979-05-27T07:32:00+7:00",
              "t.toml:1:5: invalid date-time '1979-05-27T07:32:00+7:00'");
  CHECK_ERROR("a = 07:32:00.", "t.toml:1:5: invalid date-time '07:32:00.'");
  CHECK_ERROR("a = 1234-", "t.toml:1:5: invalid date-time '1234-'");
  {
    /* A long token is quoted only in part. */
    cleanup_free char *digits = repeat("1", 100);
    cleanup_free char *text = xasprintf("a = %sx", digits);
    cleanup_free char *shown = repeat("1", 40);
    cleanup_free char *expected = xasprintf("t.toml:1:5: invalid number '%s'", shown);
    check_error(__LINE__, text, expected);
  }
  /* No label: the position alone. */
  cleanup_error crio_error_t err = NULL;
  struct toml_value *root = NULL;
  CHECK_INT_EQ(toml_parse("a =", 3, NULL, &root, &err), -1);
  CHECK_STR_EQ(crio_error_message(&err), "1:4: expected a value");
}

/* ---- depth --------------------------------------------------------------- */

static void test_depth_limit(void) {
  char msg[128];
  /* a sits at depth 1, so 128 nested arrays reach exactly the limit. */
  {
    cleanup_free char *open = repeat("[", TOML_MAX_DEPTH);
    cleanup_free char *close = repeat("]", TOML_MAX_DEPTH);
    cleanup_free char *text = xasprintf("a = %s%s", open, close);
    cleanup_toml struct toml_value *root = PARSE(text);
    const struct toml_value *v = toml_get(root, "a");
    for (int i = 1; i < TOML_MAX_DEPTH; i++)
      v = toml_array_item(v, 0);
    CHECK(v != NULL && toml_array_count(v) == 0);
  }
  {
    cleanup_free char *open = repeat("[", TOML_MAX_DEPTH + 1);
    cleanup_free char *close = repeat("]", TOML_MAX_DEPTH + 1);
    cleanup_free char *text = xasprintf("a = %s%s", open, close);
    snprintf(msg, sizeof(msg), "t.toml:1:%d: nesting deeper than %d levels", 5 + TOML_MAX_DEPTH,
             TOML_MAX_DEPTH);
    check_error(__LINE__, text, msg);
  }
  {
    cleanup_free char *open = repeat("{b=", TOML_MAX_DEPTH + 1);
    cleanup_free char *close = repeat("}", TOML_MAX_DEPTH + 1);
    cleanup_free char *text = xasprintf("a = %s1%s", open, close);
    snprintf(msg, sizeof(msg), "t.toml:1:%d: nesting deeper than %d levels", 5 + 3 * TOML_MAX_DEPTH,
             TOML_MAX_DEPTH);
    check_error(__LINE__, text, msg);
  }
  {
    /* A header may name 128 levels, not 129. */
    cleanup_free char *parts = repeat("a.", TOML_MAX_DEPTH - 1);
    cleanup_free char *ok = xasprintf("[%sa]\nx = 1\n", parts);
    cleanup_toml struct toml_value *root = PARSE(ok);
    CHECK(root != NULL);
    cleanup_free char *bad = xasprintf("[%sa.a]\n", parts);
    snprintf(msg, sizeof(msg), "t.toml:1:%d: nesting deeper than %d levels", 2 + 2 * TOML_MAX_DEPTH,
             TOML_MAX_DEPTH);
    check_error(__LINE__, bad, msg);
    cleanup_free char *dotted = xasprintf("%sa.a = 1\n", parts);
    snprintf(msg, sizeof(msg), "t.toml:1:%d: nesting deeper than %d levels", 1 + 2 * TOML_MAX_DEPTH,
             TOML_MAX_DEPTH);
    check_error(__LINE__, dotted, msg);
  }
  {
    /* Levels add up across a header, a dotted key and a value: 100 from
     * the header, 27 dotted tables, then an array at 128 holds only
     * scalars. */
    cleanup_free char *header = repeat("h.", 99);
    cleanup_free char *dots = repeat("d.", 27);
    cleanup_free char *ok = xasprintf("[%sh]\n%sv = [1]\n", header, dots);
    cleanup_toml struct toml_value *root = PARSE(ok);
    CHECK(root != NULL);
    cleanup_free char *bad = xasprintf("[%sh]\n%sv = [[]]\n", header, dots);
    snprintf(msg, sizeof(msg), "t.toml:2:%d: nesting deeper than %d levels", 2 * 27 + 6,
             TOML_MAX_DEPTH);
    check_error(__LINE__, bad, msg);
    /* Arrays of tables count twice, the array and its table: 64 nested
     * [[a.a...]] reach the limit. */
    size_t cap = 70 * 140, len = 0;
    cleanup_free char *aot = xmalloc(cap);
    aot[0] = '\0';
    for (int level = 1; level <= TOML_MAX_DEPTH / 2 + 1; level++) {
      cleanup_free char *name = repeat(".a", (size_t)level);
      len += (size_t)snprintf(aot + len, cap - len, "[[%s]]\n", name + 1);
      if (level == TOML_MAX_DEPTH / 2) {
        cleanup_toml struct toml_value *deepest = PARSE(aot);
        CHECK(deepest != NULL);
      }
    }
    snprintf(msg, sizeof(msg), "t.toml:%d:1: nesting deeper than %d levels", TOML_MAX_DEPTH / 2 + 1,
             TOML_MAX_DEPTH);
    check_error(__LINE__, aot, msg);
  }
  {
    /* Absurd depth is refused quickly, without touching the stack. */
    cleanup_free char *open = repeat("[", 1000000);
    cleanup_free char *text = xasprintf("a = %s", open);
    snprintf(msg, sizeof(msg), "t.toml:1:%d: nesting deeper than %d levels", 5 + TOML_MAX_DEPTH,
             TOML_MAX_DEPTH);
    check_error(__LINE__, text, msg);
    cleanup_free char *inl = repeat("{a=", 1000000);
    cleanup_free char *text2 = xasprintf("a = %s", inl);
    snprintf(msg, sizeof(msg), "t.toml:1:%d: nesting deeper than %d levels", 5 + 3 * TOML_MAX_DEPTH,
             TOML_MAX_DEPTH);
    check_error(__LINE__, text2, msg);
    cleanup_free char *keys = repeat("a.", 1000000);
    cleanup_free char *text3 = xasprintf("[%sa]", keys);
    snprintf(msg, sizeof(msg), "t.toml:1:%d: nesting deeper than %d levels", 2 + 2 * TOML_MAX_DEPTH,
             TOML_MAX_DEPTH);
    check_error(__LINE__, text3, msg);
  }
}

/* ---- random damage ------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void) {
  /* xorshift64*: reproducible from the printed seed. */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}

static size_t rng_below(size_t n) {
  return n ? (size_t)(rng() % n) : 0;
}

/* Reads everything a consumer might, so a malformed tree would show. */
static size_t walk(const struct toml_value *v, unsigned depth) {
  CHECK(depth <= TOML_MAX_DEPTH);
  size_t nodes = 1;
  cleanup_free char *path = toml_value_path(v);
  CHECK(path != NULL);
  cleanup_error crio_error_t err = NULL;
  const char *s;
  bool b;
  int64_t i;
  double d;
  cleanup_strv char **strv = NULL;
  switch (v->type) {
  case TOML_TABLE:
    for (size_t k = 0; k < toml_table_count(v); k++) {
      const char *key = toml_table_key(v, k);
      CHECK(toml_get(v, key) == toml_table_value(v, k));
      CHECK(toml_table_value(v, k)->parent == v);
      nodes += walk(toml_table_value(v, k), depth + 1);
    }
    break;
  case TOML_ARRAY:
    for (size_t k = 0; k < toml_array_count(v); k++) {
      CHECK(toml_array_item(v, k)->parent == v);
      nodes += walk(toml_array_item(v, k), depth + 1);
    }
    (void)toml_as_string_array(v, &strv, &err);
    break;
  case TOML_STRING:
    CHECK(v->u.string.ptr[v->u.string.len] == '\0');
    (void)toml_as_string(v, &s, &err);
    break;
  case TOML_DATETIME:
    CHECK(strlen(v->u.string.ptr) == v->u.string.len);
    break;
  case TOML_INTEGER:
    CHECK(toml_as_int64(v, &i, &err) == 0);
    break;
  case TOML_FLOAT:
    CHECK(toml_as_double(v, &d, &err) == 0);
    break;
  case TOML_BOOL:
    CHECK(toml_as_bool(v, &b, &err) == 0);
    break;
  }
  crio_error_release(&err);
  CHECK_INT_EQ(toml_error(&err, v, "x"), -1);
  return nodes;
}

static void test_fuzz(void) {
  static const char *const samples[] = {crio_conf, registries_conf, kitchen_sink};
  static const char interesting[] = "[]{}\"'=.,#\\\n\r\t _-+:0123456789eExobu"
                                    "TZ";
  const char *env = getenv("CRIO_TOML_FUZZ_ITERATIONS");
  long iterations = env ? strtol(env, NULL, 10) : 20000;
  const char *seed_env = getenv("CRIO_TOML_FUZZ_SEED");
  uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL) * 2654435761ULL + 1;
  fprintf(stderr, "   seed 0x%llx, %ld iterations\n", (unsigned long long)seed, iterations);
  rng_state = seed;
  /* Undamaged, every sample parses: the damage is what fails. */
  for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
    cleanup_toml struct toml_value *root =
        parse_or_die(__LINE__, "sample", samples[i], strlen(samples[i]));
    walk(root, 0);
  }
  long parsed = 0;
  for (long it = 0; it < iterations; it++) {
    const char *sample = samples[rng_below(3)];
    size_t len = strlen(sample);
    size_t cap = len * 2 + 64;
    cleanup_free char *buf = xmalloc(cap);
    memcpy(buf, sample, len);
    size_t mutations = 1 + rng_below(4);
    for (size_t m = 0; m < mutations; m++) {
      size_t at = rng_below(len + 1);
      switch (rng_below(6)) {
      case 0: /* truncate */
        len = at;
        break;
      case 1: /* any byte */
        if (at < len)
          buf[at] = (char)rng_below(256);
        break;
      case 2: /* a byte that means something to TOML */
        if (at < len)
          buf[at] = interesting[rng_below(sizeof(interesting) - 1)];
        break;
      case 3: /* insert */
        if (len + 1 < cap) {
          memmove(buf + at + 1, buf + at, len - at);
          buf[at] = interesting[rng_below(sizeof(interesting) - 1)];
          len++;
        }
        break;
      case 4: { /* delete a range */
        size_t n = rng_below(len - at + 1);
        memmove(buf + at, buf + at + n, len - at - n);
        len -= n;
        break;
      }
      case 5: { /* copy a range over another place (duplicates lines) */
        size_t from = rng_below(len + 1);
        size_t n = rng_below(len - from + 1);
        if (n > cap - len)
          n = cap - len;
        if (n == 0)
          break;
        cleanup_free char *copy = xmemdup(buf + from, n);
        memmove(buf + at + n, buf + at, len - at);
        memcpy(buf + at, copy, n);
        len += n;
        break;
      }
      }
    }
    /* An exact-size copy, so reading past len is an ASan error. */
    cleanup_free char *exact = xmemdup(buf, len ? len : 1);
    cleanup_error crio_error_t err = NULL;
    cleanup_toml struct toml_value *root = NULL;
    int r = toml_parse(exact, len, "fuzz", &root, &err);
    if (r == 0) {
      CHECK(root != NULL && err == NULL);
      walk(root, 0);
      parsed++;
    } else {
      CHECK_INT_EQ(r, -1);
      CHECK(root == NULL);
      CHECK(strncmp(crio_error_message(&err), "fuzz:", 5) == 0);
    }
  }
  fprintf(stderr, "   %ld of %ld damaged samples still parsed\n", parsed, iterations);
}

int main(void) {
  RUN_TEST(test_basic_string_escapes);
  RUN_TEST(test_literal_and_multiline_strings);
  RUN_TEST(test_integers);
  RUN_TEST(test_floats);
  RUN_TEST(test_bools_and_datetimes);
  RUN_TEST(test_arrays);
  RUN_TEST(test_inline_tables);
  RUN_TEST(test_keys);
  RUN_TEST(test_tables);
  RUN_TEST(test_crlf_bom_and_empty);
  RUN_TEST(test_crio_conf);
  RUN_TEST(test_registries_conf);
  RUN_TEST(test_typed_getters);
  RUN_TEST(test_building);
  RUN_TEST(test_many_keys);
  RUN_TEST(test_parse_file);
  RUN_TEST(test_errors);
  RUN_TEST(test_depth_limit);
  RUN_TEST(test_fuzz);
  return 0;
}
