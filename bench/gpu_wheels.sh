#!/usr/bin/env bash
# Fetch the wheels bench/gpu_check.sh installs on the offline GPU machine into .whl/
# (ignored by git; it travels with the working tree when the device call carries it).
#
#   bench/gpu_wheels.sh                  # CPython 3.12, manylinux x86_64 (the GPU machine)
#   PYVER=3.11 bench/gpu_wheels.sh DIR   # another Python, into DIR (a CPU stand-in)
#
# Needs pip and PyPI here; prints the folder's size at the end (the tree that travels to
# the device machine must stay under 64 MiB).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/.whl}
pyver=${PYVER:-3.12}
pip=${PIP:-"python3 -m pip"}
mkdir -p "$dest"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_26_x86_64 \
         manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_12_x86_64 \
         manylinux2010_x86_64 manylinux_2_5_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
# --no-deps: the list is the closure already (gpu_wheels.txt says why each is there)
$pip download -q --no-deps --only-binary=:all: --python-version "$pyver" \
  --implementation cp "${platforms[@]}" -d "$dest" -r "$here/bench/gpu_wheels.txt"
ls "$dest"/*.whl | wc -l | xargs echo "wheels:"
du -sh "$dest"
