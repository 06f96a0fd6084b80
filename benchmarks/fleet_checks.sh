#!/usr/bin/env bash
# The fleet on a machine with TensorRT and an NVIDIA GPU, in two parts that each fit in a few minutes:
#
#   benchmarks/fleet_checks.sh tests   OUT   tests/test_fleet.py: the real local-cluster build of the example
#                                            (FP32 and FP16 with the plugin, then all cached) and the CPU tests
#   benchmarks/fleet_checks.sh example OUT [FLEET OPTIONS...]
#                                            benchmarks/fleet_example.yaml on a local cluster from an empty
#                                            store (every job built), then again (every job cached); the
#                                            store's and the Triton repository's files, a table of both runs
#                                            in OUT/fleet.md
#
# Run from anywhere with TensorRT and the fleet extra importable (pip install -e '.[fleet]', or dask,
# distributed and fsspec from a wheel folder: pip install --no-index --find-links WHEELS dask distributed
# fsspec). The plugin library is build/lib/libtrtconvert_plugins.so, where the manifest looks for it: copied
# from TRTCONVERT_PLUGIN_LIBRARY, or built with `trtconvert plugins build` (TENSORRT_ROOT: the TensorRT
# headers). FLEET OPTIONS go to both runs, e.g. --gpu-kind H100 on a card whose name gives another kind than
# the manifest's gpus. TRTCONVERT_CHECKS_TIMING_CACHE: a timing cache of an earlier run to start the store with.
set -uo pipefail
part=${1:?give a part: tests or example}
case $part in tests|example) ;; *) echo "unknown part '$part': give tests or example"; exit 2 ;; esac
OUT=$(mkdir -p "${2:?give an output folder}" && cd "$2" && pwd)
shift 2
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
LOG=$OUT/fleet-$part.log
# shellcheck source=benchmarks/checks_common.sh
. benchmarks/checks_common.sh

python3 -c "import dask, distributed, fsspec" 2>/dev/null || { echo "install the fleet extra first (see the top of $0)"; exit 3; }
echo "# fleet on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null), $(date -u +%FT%TZ)" | tee "$LOG"
python3 -c "import tensorrt; print('# TensorRT', tensorrt.__version__)" | tee -a "$LOG"

LIB=build/lib/libtrtconvert_plugins.so
if [ ! -f "$LIB" ]; then
  mkdir -p build/lib
  if [ -n "${TRTCONVERT_PLUGIN_LIBRARY:-}" ]; then cp "$TRTCONVERT_PLUGIN_LIBRARY" "$LIB"
  else trtconvert plugins build -q >>"$LOG" 2>&1 || { echo "plugin build failed, see $LOG"; exit 1; }; fi
fi
python3 examples/super_resolution.py -o examples/super_resolution.onnx >>"$LOG" 2>&1

if [ "$part" = tests ]; then
  export TRTCONVERT_PLUGIN_LIBRARY=$PWD/$LIB
  run "fleet tests" python3 -m pytest -p no:cacheprovider -rs -q --durations 5 tests/test_fleet.py
  tail -n 15 "$LOG"
  exit 0
fi
rm -rf build/fleet_store build/fleet_triton
if [ -n "${TRTCONVERT_CHECKS_TIMING_CACHE:-}" ]; then
  # A timing cache kept from an earlier run on this GPU kind skips most tactic timing in the first run's builds:
  # put where the store keeps the cache of this TensorRT and GPU kind (FLEET options may name the kind).
  kind=$(python3 -c "from trtconvert.fleet.cluster import gpu_kind; from trtconvert.engine.machine import cuda_gpu; print(gpu_kind(cuda_gpu()[0].name))")
  for ((i = 1; i <= $#; i++)); do [ "${!i}" = --gpu-kind ] && { j=$((i + 1)); kind=${!j}; }; done
  version=$(python3 -c "import tensorrt; print(tensorrt.__version__)")
  mkdir -p "build/fleet_store/timing/tensorrt-$version"
  cp "$TRTCONVERT_CHECKS_TIMING_CACHE" "build/fleet_store/timing/tensorrt-$version/$kind.cache"
fi
run "dry run" trtconvert fleet benchmarks/fleet_example.yaml --dry-run "$@"
fleet_json() {  # fleet_json REPORT OPTIONS...: a run whose --json report goes to REPORT, its log to the log
  local report=$1; shift
  python3 -m trtconvert fleet benchmarks/fleet_example.yaml --json "$@" >"$report"
}
run "first run (empty store)" fleet_json "$OUT/first.json" "$@"
run "second run" fleet_json "$OUT/second.json" "$@"
{ echo "### files"; find build/fleet_store build/fleet_triton -type f 2>/dev/null | sort; } >>"$LOG"
python3 - "$OUT" >"$OUT/fleet.md" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| run | job | gpu | state | exit | seconds | worker |\n| --- | --- | --- | --- | --- | --- | --- |")
for run in ("first", "second"):
    try:
        report = json.loads((out / f"{run}.json").read_text())
    except (OSError, ValueError) as err:
        print(f"| {run} | no report ({err}) | | | | | |")
        continue
    for job in report.get("jobs", []):
        print(f"| {run} | {job['name']} | {job['gpu']} | {job['state']} | {job['exit_code']} | {job['seconds']} | {job['worker']} |")
    for name, model in (report.get("triton") or {}).get("models", {}).items():
        print(f"| {run} | triton: {name} | | {'exported' if model.get('exported') else model.get('reason')} | | | |")
PY
cat "$OUT/fleet.md"
