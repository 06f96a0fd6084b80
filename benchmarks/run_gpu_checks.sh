#!/usr/bin/env bash
# On a CUDA machine: build the kernel library for the GPU at hand, run the GPU tests, the benchmark, and a
# profile of the large cases. Logs and tables go to RESULTS_DIR; a short summary goes to stdout.
#
#   benchmarks/run_gpu_checks.sh RESULTS_DIR [build] [test] [bench] [profile] [variants]
#
# No stage named: the first four. CUBIC_VARIANT=LETTERS makes `build` build that variant instead of v9 (to run
# the GPU tests on a candidate before it becomes the default). `variants` builds the four-tap kernel variants of CUBIC_VARIANTS (default
# "v9 C F G CF CG R D W CFW CGW CFDW CFRDW": v9 is the default build, letters are the candidates of csrc/kernels/NOTES.md, "v10
# candidates"), times them in one process against v9 with every output compared bit for bit
# (benchmarks/bicubic_ab.py), and runs the GPU test that compares each candidate with v9 on more shapes.
set -uo pipefail
cd "$(dirname "$0")/.."
results=${1:?usage: $0 RESULTS_DIR [build] [test] [bench] [profile] [variants]}
shift
stages=" ${*:-build test bench profile} "
mkdir -p "$results"
build=build/gpu
lib=$PWD/$build/kernels/libtrtconvert_kernels.so
# The package is importable from the checkout without installing it (the GPU machine may lack its deps).
export PYTHONUNBUFFERED=1 TRTCONVERT_KERNELS_LIB=$lib PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
status=0

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv \
  | tee "$results/gpu.txt"

if [[ $stages == *" build "* ]]; then
  echo "== build"
  if cmake -S csrc -B $build -DTRTCONVERT_KERNELS_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
       -DCMAKE_CUDA_ARCHITECTURES=native -DTRTCONVERT_PTXAS_VERBOSE=ON \
       -DTRTCONVERT_CUBIC_VARIANT="${CUBIC_VARIANT:-v9}" >"$results/build.log" 2>&1 &&
     cmake --build $build -j >>"$results/build.log" 2>&1; then
    grep -A2 "Compiling entry" "$results/build.log" | grep -E "entry|registers|spill" \
      | sed -E 's/.*entry function .(_Z[^ ]*).*/\1/' | c++filt | sed -E 's/\(anonymous namespace\):://g' \
      | paste - - - | sed -E 's/ptxas info *: //g' | cut -c1-220
    cuobjdump -sass $build/kernels/libtrtconvert_kernels.so >"$results/sass.txt" 2>&1 || true
  else
    tail -40 "$results/build.log"; exit 1
  fi
fi

if [[ $stages == *" test "* ]]; then
  echo "== tests"
  python3 -m pytest tests/gpu -m gpu -q -p no:cacheprovider -rf >"$results/tests.log" 2>&1 || status=1
  grep -E "^FAILED|passed|failed|worst relative" "$results/tests.log" | tail -30
fi

if [[ $stages == *" bench "* ]]; then
  echo "== benchmark"
  python3 benchmarks/bicubic.py --antialias --output "$results/bicubic.md" >"$results/bench.log" 2>&1 || status=1
  if [[ -f $results/bicubic.md ]]; then cat "$results/bicubic.md"; else tail -20 "$results/bench.log"; fi
fi

if [[ $stages == *" profile "* ]]; then
  echo "== profile"
  ncu --clock-control none --kernel-name regex:cubic --csv --page details \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
      --section MemoryWorkloadAnalysis --section SchedulerStats \
      --metrics "smsp__inst_executed.sum,dram__bytes_read.sum,dram__bytes_write.sum,regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio" \
      python3 benchmarks/bicubic.py --profile --cases 8x64x256 32x32 8x64x512 >"$results/ncu.csv" 2>"$results/ncu.err" \
    || { status=1; tail -5 "$results/ncu.err"; }
  python3 - "$results/ncu.csv" <<'PY'
import csv, sys
wanted = ["Duration", "dram__bytes_read.sum", "dram__bytes_write.sum", "smsp__inst_executed.sum", "DRAM Throughput", "Memory Throughput", "Compute (SM) Throughput", "Registers Per Thread",
          "Achieved Occupancy", "Theoretical Occupancy", "Issue Slots Busy", "Executed Ipc Active",
          "Warp Cycles Per Issued Instruction", "Block Limit Registers", "L1/TEX Hit Rate", "L2 Hit Rate"]
rows = [r for r in csv.DictReader(line for line in open(sys.argv[1]) if line.startswith('"'))]
kernels = {}
for r in rows:
    key = (r["ID"], r["Kernel Name"].split("(")[0].split("<")[0].split("::")[-1], r.get("Grid Size", ""))
    kernels.setdefault(key, {})[r["Metric Name"]] = f'{r["Metric Value"]} {r["Metric Unit"]}'.strip()
for (kid, name, grid), m in kernels.items():
    print(f"-- launch {kid} {name} grid {grid}")
    print("   " + "; ".join(f"{k}: {m[k]}" for k in wanted if k in m))
    prefix = "smsp__average_warps_issue_stalled_"
    stalls = sorted(((float(v.split()[0].replace(",", "")), k[len(prefix):].split("_per_issue")[0])
                     for k, v in m.items() if k.startswith(prefix)), reverse=True)[:5]
    if stalls: print("   stalls: " + "; ".join(f"{k}: {v:.2f}" for v, k in stalls))
PY
fi
if [[ $stages == *" variants "* ]]; then
  echo "== variants"
  read -r -a variants <<<"${CUBIC_VARIANTS:-v9 C F G CF CG R D W CFW CGW CFDW CFRDW}"
  pids=()
  for v in "${variants[@]}"; do
    ( cmake -S csrc -B "build/variant-$v" -DTRTCONVERT_KERNELS_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CUDA_ARCHITECTURES=native -DTRTCONVERT_CUBIC_VARIANT="$v" -DTRTCONVERT_WERROR=ON \
        -DTRTCONVERT_PTXAS_VERBOSE=ON && cmake --build "build/variant-$v" --target trtconvert_kernels_shared -j 4
    ) >"$results/build-$v.log" 2>&1 &
    pids+=($!)
  done
  built=()
  for i in "${!variants[@]}"; do
    if wait "${pids[$i]}"; then built+=("${variants[$i]}"); else
      echo "variant ${variants[$i]} failed to build:"; tail -20 "$results/build-${variants[$i]}.log"; status=1; fi
  done
  # Registers and spills of every four-tap kernel, one column per build.
  logs=()
  for v in "${built[@]}"; do logs+=("$v=$results/build-$v.log"); done
  (( ${#logs[@]} )) && python3 benchmarks/ptxas_registers.py "${logs[@]}" | tee "$results/registers.md" \
    | grep -E "^\| (kernel|half)"
  if [[ " ${built[*]} " == *" v9 "* ]]; then
    libs=() tests=()
    for v in "${built[@]}"; do
      libs+=(--lib "$v=$PWD/build/variant-$v/kernels/libtrtconvert_kernels.so")
      [[ $v == v9 ]] || tests+=("$v=$PWD/build/variant-$v/kernels/libtrtconvert_kernels.so")
    done
    python3 benchmarks/bicubic_ab.py "${libs[@]}" --output "$results/ab.md" >"$results/ab.log" 2>&1 || status=1
    if [[ -f $results/ab.md ]]; then cat "$results/ab.md"; else tail -20 "$results/ab.log"; fi
    if (( ${#tests[@]} )); then
      TRTCONVERT_KERNELS_LIB=$PWD/build/variant-v9/kernels/libtrtconvert_kernels.so \
      TRTCONVERT_KERNEL_VARIANTS=$(IFS=,; echo "${tests[*]}") \
        python3 -m pytest tests/gpu -m gpu -q -p no:cacheprovider -rf -k variant_matches_the_default \
        >"$results/tests-variants.log" 2>&1 || status=1
      grep -E "^FAILED|passed|failed" "$results/tests-variants.log" | tail -30
    fi
  else
    echo "v9 did not build: no comparison"; status=1
  fi
fi

exit $status
