#!/usr/bin/env bash
# The fleet on a machine with TensorRT and an NVIDIA GPU: benchmarks/fleet_checks.sh OUT [FLEET OPTIONS...]
#
#   1. tests/test_fleet.py (the real local-cluster build of the example, and the CPU tests beside it)
#   2. benchmarks/fleet_example.yaml on a local cluster from an empty store: every job built (exit 0)
#   3. the same manifest again: every job cached, no build
#   then the store's and the Triton repository's files, and a table of both runs (OUT/fleet.md)
#
# Run from anywhere with TensorRT and the fleet extra importable (pip install -e '.[fleet]', or dask,
# distributed and fsspec from a wheel folder: pip install --no-index --find-links WHEELS dask distributed
# fsspec). The plugin library is build/lib/libtrtconvert_plugins.so, where the manifest looks for it: copied
# from TRTCONVERT_PLUGIN_LIBRARY, or built with `trtconvert plugins build`. FLEET OPTIONS go to both runs,
# e.g. --gpu-kind H100 on a card whose name gives another kind than the manifest's gpus.
set -uo pipefail
OUT=$(mkdir -p "${1:?give an output folder}" && cd "$1" && pwd)
shift
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
LOG=$OUT/fleet.log
trtconvert() { python3 -m trtconvert "$@"; }
run() {  # run LABEL COMMAND...: the command's stderr and its wall time into the log
  local label=$1 start rc; shift
  echo "### $label: $*" >>"$LOG"
  start=$(date +%s%N)
  "$@" 2>>"$LOG"; rc=$?
  printf '### %s: exit %d in %d ms\n' "$label" "$rc" $((($(date +%s%N) - start) / 1000000)) | tee -a "$LOG"
  return 0
}

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

run "fleet tests" python3 -m pytest -p no:cacheprovider -rs -q tests/test_fleet.py
rm -rf build/fleet_store build/fleet_triton
run "dry run" trtconvert fleet benchmarks/fleet_example.yaml --dry-run "$@"
run "first run (empty store)" sh -c 'python3 -m trtconvert fleet benchmarks/fleet_example.yaml --json "$@" >"$0"' "$OUT/first.json" "$@"
run "second run" sh -c 'python3 -m trtconvert fleet benchmarks/fleet_example.yaml --json "$@" >"$0"' "$OUT/second.json" "$@"
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
