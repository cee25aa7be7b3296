"""crio wipe with containers: after a SIGKILL of the daemon, a replay of
the state log releases what running containers hold — their conmon, the
runtime's container, the overlay mount, their dirs — before their pods'
resources, and a second wipe finds nothing."""

import containers_harness as ch
import recovery_harness as r
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)


def test_wipe_releases_running_containers_then_their_pods(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("wipe-ctr")
    cid = ch.run_container(env, pod_id, pod_cfg,
                           ch.shell("sleeper", env.image, "sleep 1000"))
    ch.wait_state(env.client, cid, 1)  # CONTAINER_RUNNING
    assert env.conmons(), "expected a conmon for the running container"
    assert cid in env.runc_containers(), "expected runc to know the running container"
    env.daemon.kill()

    plan = r.plan(r.crio_wipe(env, "--dry-run").stdout)
    types = [t for _k, o, t, _i in plan if o == cid]
    for want in ("conmon", "runtime", "mount", "dir"):
        assert want in types, f"expected the dry run to plan the container's {want}, saw {types}"
    kinds = [k for k, _o, _t, _i in plan]
    assert kinds.index("container") < kinds.index("pod"), \
        f"expected containers released before their pods, saw {kinds}"

    res = r.crio_wipe(env)
    assert res.returncode == 0, f"expected crio wipe to exit 0, saw {res.returncode}: {res.stderr}"
    assert env.conmons() == [], f"expected no conmon left, saw {env.conmons()}"
    assert env.runc_containers() == [], f"expected no runc state left, saw {env.runc_containers()}"
    assert env.mounts() == [], f"expected no mounts left under root/runroot, saw {env.mounts()}"
    again = r.plan(r.crio_wipe(env, "--dry-run").stdout)
    assert again == [], f"expected a second wipe to find nothing, saw {again}"
