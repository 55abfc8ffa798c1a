#!/usr/bin/env bash
# The whole tutorial on a GPU machine without hub access: build the offline hub (random gpt-oss-20b under its hub
# ids, the hub-shaped dataset), run every notebook unmodified on the gpt-oss-20b preset, write docs/gpu-run.md.
#
#   tools/gpu_check.sh build            # the hub stand-ins (~3-4 min the first time; skipped when complete)
#   tools/gpu_check.sh run 00 01 02     # notebooks in order, each its own runner call; a rerun redoes (03 resumes)
#   tools/gpu_check.sh report           # docs/gpu-run.md from every run so far
#   tools/gpu_check.sh status           # what is built and which notebooks ran
#   tools/gpu_check.sh all              # build, run 00-06, report (where one call may run that long)
#
# The stages share a work folder, so a machine that allows only short calls runs them one call at a time, and
# every log is kept. Environment (defaults in brackets):
#   GPU_CHECK_WORK      hub cache, dataset cache, logs, summaries          [/dev/shm/gpu_check]
#   GPU_CHECK_OUTPUTS   the notebooks' outputs (exports take tens of GB)    [/tmp/gpu_check_outputs]
#   GPU_CHECK_SMOKE=1   the notebooks' smoke parameters instead of the preset's
#   GPU_CHECK_EXPERTS   how unsloth/gpt-oss-20b stores its experts: bf16, or mxfp4 as the hub does       [bf16]
#   GPU_CHECK_DEADLINE  seconds this call may use; a notebook still running then is interrupted (its summary says
#                       so) and the rest are left for the next call                          [570]
#   GPU_CHECK_CALL_START  when the call began (date +%s), so that `build && run ...` in one call share one deadline
#   GPU_CHECK_PARAMETERS_NN  JSON parameters for notebook NN where the device time forces a cut, e.g.
#                       GPU_CHECK_PARAMETERS_05='{"MAX_STEPS": 3}'; the notes record them (say why in GPU_CHECK_NOTE)
#   GPU_CHECK_NOTE      a line for the report's "what was cut and why"
#   HF_HOME is the work folder's hf/ (hub/ and datasets/ inside, where both stand-ins go); the hub is switched off
#   (HF_HUB_OFFLINE=1).
#   With $OUT set (the device runner's output folder) logs, summaries, executed notebooks and the report are
#   archived to $OUT/gpu_check.tar.gz after every notebook.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
PY=${PYTHON:-python3}
WORK=${GPU_CHECK_WORK:-/dev/shm/gpu_check}
OUTPUTS=${GPU_CHECK_OUTPUTS:-/tmp/gpu_check_outputs}
DEADLINE=${GPU_CHECK_DEADLINE:-570}
NOTEBOOKS=(00 01 02 03 04 05 06)
export HF_HOME=$WORK/hf HF_HUB_CACHE=$WORK/hf/hub HF_DATASETS_CACHE=$WORK/hf/datasets
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
export GPT_OSS_TUTORIAL_OUTPUTS=$OUTPUTS
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$here/scripts
mkdir -p "$WORK/logs" "$WORK/summaries" "$WORK/gpu_memory" "$OUTPUTS" "$HF_HUB_CACHE" "$HF_DATASETS_CACHE"
call_start=${GPU_CHECK_CALL_START:-$(date +%s)}
stamp() { date -u +%Y%m%dT%H%M%SZ; }
say() { echo "[gpu_check $(date -u +%H:%M:%S)] $*" | tee -a "$WORK/logs/gpu_check.log"; }
left() { echo $((DEADLINE - ($(date +%s) - call_start))); }
note() { echo "- $(date -u +%Y-%m-%dT%H:%MZ): $*" >> "$WORK/notes.md"; say "note: $*"; }

copy_out() {  # the device runner returns at most 8 files: one archive of everything, plus the log and the report
  [ -n "${OUT:-}" ] || return 0
  mkdir -p "$OUT"
  local items=() extra=()
  for item in logs summaries gpu_memory env.json notes.md; do [ -e "$WORK/$item" ] && items+=("$item"); done
  for item in notebooks figures eval summary.json report.md; do [ -e "$OUTPUTS/$item" ] && extra+=("$item"); done
  tar -czf "$OUT/gpu_check.tar.gz.tmp" -C "$WORK" "${items[@]}" ${extra[@]:+-C "$OUTPUTS" "${extra[@]}"} 2>/dev/null \
    && mv "$OUT/gpu_check.tar.gz.tmp" "$OUT/gpu_check.tar.gz"
  [ -f "$WORK/logs/gpu_check.log" ] && cp "$WORK/logs/gpu_check.log" "$OUT/"
  [ -f docs/gpu-run.md ] && cp docs/gpu-run.md "$OUT/"
  return 0
}
trap copy_out EXIT

machine_log() {  # what the machine looks like now: GPU, memory, free space
  { echo "== $(stamp) $1"; nvidia-smi 2>&1 | head -20; free -g; df -h /dev/shm /tmp "$WORK" "$OUTPUTS" 2>&1; } \
    >> "$WORK/logs/machine.log"
}

build() {
  local s rc=0
  s=$(stamp)
  machine_log "before build"
  "$PY" tools/gpu_report.py env "$WORK" >> "$WORK/logs/gpu_check.log" 2>&1
  say "model: tools/hub_models.py --arch gpt-oss-20b --experts ${GPU_CHECK_EXPERTS:-bf16} into $HF_HUB_CACHE (log: logs/build-model-$s.log)"
  "$PY" tools/hub_models.py --arch gpt-oss-20b --experts "${GPU_CHECK_EXPERTS:-bf16}" --cache "$HF_HUB_CACHE" \
    > "$WORK/logs/build-model-$s.log" 2>&1
  rc=$?
  grep '^\[hub_models\]' "$WORK/logs/build-model-$s.log" | tee -a "$WORK/logs/gpu_check.log"
  [ $rc -eq 0 ] || { say "model build FAILED (rc $rc): see logs/build-model-$s.log"; tail -20 "$WORK/logs/build-model-$s.log"; return $rc; }
  if [ ! -f tools/hub_dataset.py ]; then
    say "dataset: tools/hub_dataset.py is missing from this checkout"; return 1
  fi
  say "dataset: tools/hub_dataset.py --cache $HF_HOME (log: logs/build-dataset-$s.log)"
  "$PY" tools/hub_dataset.py --cache "$HF_HOME" --rows "${GPU_CHECK_ROWS:-1000}" > "$WORK/logs/build-dataset-$s.log" 2>&1
  rc=$?
  tail -5 "$WORK/logs/build-dataset-$s.log" | tee -a "$WORK/logs/gpu_check.log"
  [ $rc -eq 0 ] || { say "dataset build FAILED (rc $rc): see logs/build-dataset-$s.log"; return $rc; }
  "$PY" -c "import lingua" 2>/dev/null || note "lingua-language-detector is not installed here: notebook 04's language figures are not measured in this run"
  machine_log "after build"
  say "build done; $(left) s of this call's deadline left"
  copy_out
}

run_one() {  # one notebook through the runner, its GPU memory sampled every 0.5 s
  local nb=$1 s budget rc sampler name path
  s=$(stamp)
  budget=$(left)
  if [ "$budget" -lt 45 ]; then
    note "notebook $nb not started in this call: ${budget} s of the ${DEADLINE} s deadline left; run it in the next call"
    return 3
  fi
  name=$nb
  for path in notebooks/"$nb"_*.ipynb; do [ -f "$path" ] && name=$(basename "$path" .ipynb); done
  sampler=""
  if command -v nvidia-smi >/dev/null; then
    # only the GPU this run may use (CUDA_VISIBLE_DEVICES), so that a second job on another GPU is not counted
    nvidia-smi ${CUDA_VISIBLE_DEVICES:+-i "$CUDA_VISIBLE_DEVICES"} --query-gpu=timestamp,memory.used \
      --format=csv,noheader,nounits -lms 500 \
      >> "$WORK/gpu_memory/$name.csv" 2>/dev/null &
    sampler=$!
  fi
  local params_var="GPU_CHECK_PARAMETERS_$nb" smoke=${GPU_CHECK_SMOKE:-0}
  local params=${!params_var:-}
  rm -f "$OUTPUTS/summary.json"  # so a run that dies before writing one cannot pass off the previous one as its own
  say "run $name (at most ${budget} s; log: logs/run-$name-$s.log)"
  if [ -z "$params" ]; then  # the reader's command
    local args=(scripts/run_all.py --preset gpt-oss-20b --outputs "$OUTPUTS" --only "$nb")
    [ "$smoke" = 1 ] && args+=(--smoke)
    timeout -s INT -k 30 "$budget" "$PY" "${args[@]}" > "$WORK/logs/run-$name-$s.log" 2>&1
  else  # the same runner, with the parameters that cut it to the device time
    note "$name runs with parameters $params"
    timeout -s INT -k 30 "$budget" "$PY" - "$nb" "$OUTPUTS" "$smoke" "$params" > "$WORK/logs/run-$name-$s.log" 2>&1 <<'PY'
import json, sys
from gpt_oss_tutorial import runner
nb, outputs, smoke, params = sys.argv[1:]
summary = runner.run_all("gpt-oss-20b", smoke=smoke == "1", notebooks=[nb], outputs=outputs,
                         extra_parameters=json.loads(params))
print(f"Status: {summary['status']}")
failed = [n for n in summary["notebooks"] if n["status"] == "failed"]
if failed:
    print(f"First failure ({failed[0]['name']}): {failed[0]['error']}")
sys.exit(0 if summary["status"] == "ok" else 1)
PY
  fi
  rc=$?
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  [ -f "$OUTPUTS/summary.json" ] && cp "$OUTPUTS/summary.json" "$WORK/summaries/$s-$name.json"
  if [ $rc -eq 124 ]; then
    note "$name interrupted after ${budget} s (the per-call deadline); its summary records it; rerun to redo or resume"
  fi
  grep -E '^(Status|First failure)' "$WORK/logs/run-$name-$s.log" | sed "s/^/  $name: /" | tee -a "$WORK/logs/gpu_check.log"
  copy_out  # after every notebook: a call killed at its limit still returns what ran
  return $rc
}

run() {
  local nb failed=0
  [ $# -gt 0 ] || set -- "${NOTEBOOKS[@]}"
  [ -n "${GPU_CHECK_NOTE:-}" ] && note "$GPU_CHECK_NOTE"
  "$PY" tools/gpu_report.py env "$WORK" >> "$WORK/logs/gpu_check.log" 2>&1
  machine_log "before run $*"
  for nb in "$@"; do
    run_one "$nb"
    case $? in
      0) ;;
      3) failed=1; break ;;   # out of time: the next call continues
      *) failed=1 ;;          # later notebooks still run: their own errors say what they lacked
    esac
  done
  machine_log "after run $*"
  return $failed
}

report() {
  "$PY" tools/gpu_report.py render "$WORK" --out docs/gpu-run.md | tee -a "$WORK/logs/gpu_check.log"
}

status() {
  local repo
  for repo in models--unsloth--gpt-oss-20b models--unsloth--gpt-oss-20b-unsloth-bnb-4bit \
              datasets--HuggingFaceH4--Multilingual-Thinking; do
    if [ -f "$HF_HUB_CACHE/$repo/refs/main" ]; then
      echo "$repo: $(cat "$HF_HUB_CACHE/$repo/refs/main") ($(du -shL "$HF_HUB_CACHE/$repo/snapshots" 2>/dev/null | cut -f1))"
    else
      echo "$repo: not built"
    fi
  done
  "$PY" tools/gpu_report.py render "$WORK" | sed -n '/^## Notebooks/,/^## Key figures/p' | head -n -2
}

command=${1:-}
shift || true
case $command in
  build) build ;;
  run) run "$@" ;;
  report) report ;;
  status) status ;;
  all) build && { run "${NOTEBOOKS[@]}"; report; } ;;
  *) sed -n '2,25p' "$0"; exit 2 ;;
esac
