/* oci_spec_update_resources: what UpdateContainerResources hands to
 * `runtime update` — the same resources oci_spec_build() makes, and
 * nothing the CRI does not update. */
#include <errno.h>

#include "tests/unit/test_oci_spec_fixture.h"

static cJSON *update_ok(struct fx_case *k) {
  cJSON *res = NULL;
  cleanup_error crio_error_t err = NULL;
  if (oci_spec_update_resources("c1", k->res, &k->host, &res, &k->warnings, &err) < 0) {
    fprintf(stderr, "update resources: %s\n", crio_error_message(&err));
    exit(1);
  }
  return res;
}

static int64_t get_int(const cJSON *obj, const char *a, const char *b) {
  int64_t v = 0;
  CHECK(oci_spec_get_int(cJSON_GetObjectItemCaseSensitive(obj, a), b, &v));
  return v;
}

static void test_same_resources_as_the_spec(void) {
  struct fx_case k;
  fx_case_init(&k);
  k.in.pids_limit = 321;
  k.res->cpu_shares = 256;
  k.res->cpu_quota = 20000;
  k.res->cpu_period = 100000;
  k.res->cpuset_cpus = fx_str("0");
  k.res->memory_limit_in_bytes = 64 << 20;
  cJSON *res = update_ok(&k);
  CHECK_INT_EQ(get_int(res, "memory", "limit"), 64 << 20);
  /* Swap accounting on: swap = limit, as at creation. */
  CHECK_INT_EQ(get_int(res, "memory", "swap"), 64 << 20);
  CHECK_INT_EQ(get_int(res, "cpu", "shares"), 256);
  CHECK_INT_EQ(get_int(res, "cpu", "quota"), 20000);
  CHECK_INT_EQ(get_int(res, "cpu", "period"), 100000);
  CHECK_STR_EQ(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(res, "cpu"), "cpus")
          ->valuestring,
      "0");
  /* The daemon's pids limit and the devices are not the update's. */
  CHECK(cJSON_GetObjectItemCaseSensitive(res, "pids") == NULL);
  CHECK(cJSON_GetObjectItemCaseSensitive(res, "devices") == NULL);
  cJSON *spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.memory.limit"), 64 << 20);
  cJSON_Delete(res);
}

static void test_checks_and_clamps_as_the_spec(void) {
  struct fx_case k;
  fx_case_init(&k);
  cJSON *res = NULL;
  cleanup_error crio_error_t err = NULL;
  k.res->cpuset_cpus = fx_str("1-0");
  CHECK(oci_spec_update_resources("c1", k.res, &k.host, &res, NULL, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  CHECK(strstr(crio_error_message(&err), "cpuset_cpus") != NULL);
  CHECK(res == NULL);
  crio_error_release(&err);
  k.res->cpuset_cpus = fx_str("");
  k.res->memory_limit_in_bytes = 64 << 20;
  k.res->memory_swap_limit_in_bytes = 32 << 20;
  CHECK(oci_spec_update_resources("c1", k.res, &k.host, &res, NULL, &err) < 0);
  CHECK(strstr(crio_error_message(&err), "below the memory limit") != NULL);
  crio_error_release(&err);
  /* No swap accounting: the limit alone, with a warning. */
  k.host.memory_swap = false;
  k.res->memory_swap_limit_in_bytes = 128 << 20;
  res = update_ok(&k);
  CHECK_INT_EQ(get_int(res, "memory", "limit"), 64 << 20);
  CHECK(!oci_spec_get_int(cJSON_GetObjectItemCaseSensitive(res, "memory"), "swap", &(int64_t){0}));
  CHECK(fx_has_warning(&k, "swap"));
  cJSON_Delete(res);
  /* Nothing asked: an empty object, which changes nothing. */
  oci_spec_warnings_release(&k.warnings);
  fx_case_init(&k);
  res = update_ok(&k);
  CHECK(cJSON_GetArraySize(res) == 0);
  cJSON_Delete(res);
  oci_spec_warnings_release(&k.warnings);
}

int main(void) {
  RUN_TEST(test_same_resources_as_the_spec);
  RUN_TEST(test_checks_and_clamps_as_the_spec);
  return 0;
}
