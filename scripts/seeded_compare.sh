#!/bin/bash
# Seeded evaluations of the same checkpoints under two commits' code: byte-identical JSON = a refactor moved code,
# not results. Usage: bash scripts/seeded_compare.sh OLD_COMMIT NEW_COMMIT [MODEL ...]  (the checkpoints: OLD's)
set -euo pipefail
old=$1 new=$2; shift 2
models=${*:-dcgan-mnist cgan-mnist vae-mnist ae-mnist arf-mnist}
root=$(git rev-parse --show-toplevel) py=$(git rev-parse --show-toplevel)/.venv/bin/python
work=$(mktemp -d)
for side in old new; do git -C "$root" worktree add -f --detach "$work/$side" "${!side}" -q; done
export IMGGEN_MNIST_ROOT=${IMGGEN_MNIST_ROOT:-$root/../shared/data} OMP_NUM_THREADS=1
status=0
for m in $models; do
  for side in old new; do
    (cd "$work/$side" && PYTHONPATH="$work/$side" "$py" -c "import torch, sys; torch.set_num_threads(1); \
from imggen.__main__ import main; main(['eval', '$work/old/checkpoints/$m.safetensors', '-n', '1000', \
'--iwae-images', '50', '--seed', '3'])" > "$work/$side-$m.json" 2>/dev/null)
  done
  if cmp -s "$work/old-$m.json" "$work/new-$m.json"; then echo "$m: identical"; else echo "$m: DIFFERENT"; status=1; fi
done
for side in old new; do git -C "$root" worktree remove --force "$work/$side"; done
exit $status
