#!/bin/sh
# crio with a gVisor handler named "runsc", for the conformance kit:
#
#   ../shared/conformance/critest.sh tests/conformance/crio-with-runsc.sh -runtime-handler=runsc
#
# The kit starts "$CRIO --config <its temp dir>/crio.conf ..." with an empty
# config file and offers no other way to configure a handler, so this
# wrapper appends the handler's table to that file (in the kit's temp dir,
# never the kit itself) and runs the build's crio, which finds crio-pause
# and crio-runsc-shim beside itself.  CRIO_BIN overrides the binary.
set -eu
here=$(dirname "$(readlink -f "$0")")
crio=${CRIO_BIN:-$here/../../build/daemon/crio}
runsc=$(command -v runsc || true)
[ -n "$runsc" ] || { echo "crio-with-runsc.sh: runsc is not installed (apt-get install runsc)" >&2; exit 1; }
cfg= prev=
for a in "$@"; do
  [ "$prev" = --config ] && cfg=$a
  prev=$a
done
if [ -n "$cfg" ] && ! grep -q '^\[crio.runtime.runtimes.runsc\]' "$cfg"; then
  cat >>"$cfg" <<EOT

# appended by crio-with-runsc.sh (docs/configuration.md, "Runtime handlers")
[crio.runtime.runtimes.runsc]
runtime_path = "$runsc"
runtime_type = "oci"
runtime_args = ["--platform=ptrace", "--network=host", "--oci-seccomp"]
EOT
fi
exec "$crio" "$@"
