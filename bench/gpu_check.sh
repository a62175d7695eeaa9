#!/usr/bin/env bash
# One-shot GPU check (docs: bench/README.md, "gpu_check"): one command, no network,
# at most 8 minutes on the GPU machine; prints one table.
#
#   bench/gpu_check.sh            # on the GPU machine (the wheels in .whl/, see below)
#   bench/gpu_check.sh --tiny     # anywhere, on the CPU: what tests/test_gpu_check.py runs
#
# The GPU machine has Python 3.12 with torch but no nbgrader, ipykernel or jupyter-client,
# and no bubblewrap. So this script makes a throw-away virtual environment in a temporary
# folder that sees the machine's own packages (a .pth file) and installs the wheels of
# bench/gpu_wheels.txt into it from $AG_WHEELS (default .whl/, filled here by
# bench/gpu_wheels.sh), then grades with the sandbox fallback (AUTOGRADER_SANDBOX=none).
# Where everything is importable already, the interpreter is used as it is
# (AG_OVERLAY=always makes the environment anyway: the test checks that path too).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
wheels=${AG_WHEELS:-$here/.whl}
work=$(mktemp -d "${TMPDIR:-/tmp}/ag-gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

probe='import ipykernel, jupyter_client, nbformat, nbgrader.preprocessors, tomlkit, torch'
if [ "${AG_OVERLAY:-auto}" = always ] || ! "$py" -c "$probe" 2>/dev/null; then
  "$py" -m venv --without-pip "$work/venv"
  site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # the machine's own site-packages (torch...) after ours, their .pth files processed too
  "$py" - "$site/_ag_machine.pth" <<'PY'
import site, sys
dirs = [p for p in site.getsitepackages() + [site.getusersitepackages()] if p]
with open(sys.argv[1], "w") as fh:
    fh.write("import site; " + "; ".join(f"site.addsitedir({d!r})" for d in dirs) + "\n")
PY
  if compgen -G "$wheels/*.whl" >/dev/null; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --disable-pip-version-check --target "$site" "$wheels"/*.whl
  fi
  py="$work/venv/bin/python"
  "$py" -c "$probe" || { echo "gpu_check: missing packages (run bench/gpu_wheels.sh" \
                              "where pip works, and carry .whl/)" >&2; exit 2; }
fi
for tool in prlimit setpriv; do
  command -v "$tool" >/dev/null || echo "gpu_check: warning: $tool not found" >&2
done
export AUTOGRADER_SANDBOX=none AUTOGRADER_LANG=en PYTHONUNBUFFERED=1
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg
export AUTOGRADER_WORKER_CACHE="$work/cache" AUTOGRADER_DATA="$work/data"
cd "$here"
"$py" bench/gpu_check.py --workdir "$work/run" "$@"
