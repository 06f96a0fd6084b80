#!/usr/bin/env bash
# Checks on a machine with TensorRT and an NVIDIA GPU, in parts that each fit in a few minutes:
#
#   benchmarks/tensorrt_checks.sh suite   OUT   the tests marked tensorrt (pytest -m tensorrt), with the measured
#                                               table of cubic Resize on this TensorRT (OUT/cubic_cases.md)
#   benchmarks/tensorrt_checks.sh example OUT   the bundled example end to end: build --verify in FP32 and FP16
#                                               with the plugin, verify, inspect, plan cache and timing cache
#                                               reuse (build times), and bench of the plugin engines against
#                                               engines of TensorRT's own cubic Resize (--compare, with and
#                                               without --cuda-graph, and --layers)
#   benchmarks/tensorrt_checks.sh models  OUT   the shared real models: build --verify
#   benchmarks/tensorrt_checks.sh triton  OUT   the bundled example (with the plugin) and PP-OCR cls built from
#                                               their configs, exported into one Triton model repository
#                                               (OUT/model_repository's configs copied to OUT), and each
#                                               plan verified from the repository
#   benchmarks/tensorrt_checks.sh all     OUT   suite, then int8: one after the other, so that the detector's cold
#                                               builds do not share the CPUs with the suite's
#   benchmarks/tensorrt_checks.sh int8    OUT   PP-OCRv4 det in FP32, FP16 and INT8 (calibrated on synthetic
#                                               text images, then again from the calibration cache alone):
#                                               verify (on random inputs and on a text image that is not in
#                                               the calibration set), bench and inspect --layers of each, bench
#                                               --layers of FP32, --cuda-graph against without, FP16 --compare
#                                               FP32; the timing caches are copied to OUT
#   benchmarks/tensorrt_checks.sh precision OUT PP-OCRv4 det in FP16 on a text image: the plain build --verify
#                                               (the overflow finder's warning and its line after a failing
#                                               check), builds with the --keep-fp32 set it printed, with the
#                                               detection head kept and with --auto-keep-fp32 (its builds and
#                                               the set it kept), their verify, inspect --layers and bench
#                                               against plain FP16 and FP32; then the detector's own TensorRT 11
#                                               Q/DQ model built here as explicit INT8 and verified. It takes the
#                                               int8 part's timing caches (det32/det16/det8) and keeps plans a
#                                               first run left in WORK: run it twice where a run
#                                               is stopped after 10 minutes
#
# Run from the repository root with TensorRT importable. TRTCONVERT_PLUGIN_LIBRARY names the plugin library;
# without it the library is built with `trtconvert plugins build` (TENSORRT_ROOT: the TensorRT headers).
# Every command's output goes to OUT/<part>.log; a failing command is reported and the next one still runs.
set -uo pipefail
part=${1:?give a part: suite, example, models, triton, int8, precision or all}
case $part in suite|example|models|triton|int8|precision|all) ;; *)
  echo "unknown part '$part': give suite, example, models, triton, int8, precision or all"; exit 2 ;;
esac
if [ "$part" = all ]; then
  "$0" suite "${2:?give an output folder}"; "$0" int8 "$2"
  exit 0
fi
OUT=$(mkdir -p "${2:?give an output folder}" && cd "$2" && pwd)
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
WORK=${TRTCONVERT_CHECKS_WORK:-/tmp/trtconvert-checks}
mkdir -p "$WORK"
LOG=$OUT/$part.log
# shellcheck source=benchmarks/checks_common.sh
. benchmarks/checks_common.sh

LIB=${TRTCONVERT_PLUGIN_LIBRARY:-}
if [ -z "$LIB" ]; then
  LIB=$(trtconvert plugins build -q -o "$WORK/lib" --build-dir "$WORK/native") || { echo "plugin build failed"; exit 1; }
  export TRTCONVERT_PLUGIN_LIBRARY=$LIB
fi
echo "# $part on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null), $(date -u +%FT%TZ)" | tee "$LOG"
python3 -c "import tensorrt; print('# TensorRT', tensorrt.__version__)" | tee -a "$LOG"

case $part in
suite)
  # A timing cache kept from an earlier run (TRTCONVERT_TEST_TIMING_CACHE) skips most tactic timing.
  export TRTCONVERT_TEST_RECORD=$OUT TRTCONVERT_TEST_TIMING_CACHE=${TRTCONVERT_TEST_TIMING_CACHE:-$WORK/tests.cache}
  printf '| case | TensorRT native | max abs | auto | auto max abs |\n| --- | --- | --- | --- | --- |\n' >"$OUT/cubic_cases.md"
  # TRTCONVERT_CHECKS_PYTEST_ARGS: more pytest options, e.g. "-n 6" (pytest-xdist) to build several engines
  # at once: cold builds on TensorRT 8.5 spend most of their time on one CPU core each.
  run suite python3 -m pytest -m tensorrt -p no:cacheprovider -rs -q --durations 10 ${TRTCONVERT_CHECKS_PYTEST_ARGS:-} tests
  tail -n 30 "$LOG"
  ;;
example)
  python3 examples/super_resolution.py -o examples/super_resolution.onnx >>"$LOG" 2>&1
  cfg=configs/super_resolution.yaml
  rm -f "$WORK/example.cache"; rm -rf "$WORK/plans"
  run "fp32 plugin, cold timing cache" trtconvert build --config $cfg -o "$WORK/sr.plan" --plugin "$LIB" --verify --timing-cache "$WORK/example.cache"
  run "fp32 plugin, warm timing cache" trtconvert build --config $cfg -o "$WORK/sr_again.plan" --plugin "$LIB" --timing-cache "$WORK/example.cache"
  run "fp16 plugin" trtconvert build --config $cfg -o "$WORK/sr16.plan" --plugin "$LIB" --precision fp16 --verify --timing-cache "$WORK/example.cache"
  run "verify fp32 plugin plan" trtconvert verify "$WORK/sr.plan" --onnx examples/super_resolution.onnx --plugin "$LIB"
  run "inspect fp32 plugin plan" trtconvert inspect "$WORK/sr.plan"
  run "plan cache: store" trtconvert build --config $cfg -o "$WORK/c1.plan" --plugin "$LIB" --cache-dir "$WORK/plans" --timing-cache "$WORK/example.cache"
  run "plan cache: reuse" trtconvert build --config $cfg -o "$WORK/c2.plan" --plugin "$LIB" --cache-dir "$WORK/plans" --timing-cache "$WORK/example.cache"
  run "fp32 native cubic" trtconvert build --config $cfg -o "$WORK/native.plan" --rewrite none --timing-cache "$WORK/example.cache"
  run "fp16 native cubic" trtconvert build --config $cfg -o "$WORK/native16.plan" --rewrite none --precision fp16 --timing-cache "$WORK/example.cache"
  run "verify fp32 native plan" trtconvert verify "$WORK/native.plan" --onnx examples/super_resolution.onnx
  for plan in sr sr16 native native16; do
    run "bench $plan" trtconvert bench "$WORK/$plan.plan" --plugin "$LIB" --iterations 500 --warmup 50 --json
    trtconvert bench "$WORK/$plan.plan" --plugin "$LIB" --iterations 500 --warmup 50 -q >>"$OUT/bench.txt" 2>&1
  done
  # Where the time goes: the plugin against TensorRT's cubic Resize on the same inputs, layer by layer, then as
  # CUDA graph launches (no host enqueue time).
  for flags in "--layers" "--cuda-graph"; do
    for pair in sr:native sr16:native16; do
      mine=${pair%%:*} theirs=${pair##*:}
      echo "### bench $mine --compare $theirs $flags" >>"$OUT/bench.txt"
      trtconvert bench "$WORK/$mine.plan" --compare "$WORK/$theirs.plan" --plugin "$LIB" $flags --iterations 500 --warmup 50 -q >>"$OUT/bench.txt" 2>&1
    done
  done
  cat "$OUT/bench.txt"
  ;;
models)
  cache=$WORK/models.cache
  run "ppocr cls (config)" trtconvert build --config configs/ppocr_mobile_v2_cls.yaml -o "$WORK/cls.plan" --verify --timing-cache "$cache"
  run "silero vad (config, sr frozen)" trtconvert build --config configs/silero_vad.yaml -o "$WORK/silero.plan" --verify --timing-cache "$cache"
  run "inspect silero plan" trtconvert inspect "$WORK/silero.plan"
  run "ppocr det" trtconvert build ../shared/models/ppocr_v4_det.onnx -o "$WORK/det.plan" --profile 'x=1x3x64x64:1x3x320x320:1x3x640x640' --verify --timing-cache "$cache"
  grep -E "^verify|^###|error" "$LOG"
  ;;
triton)
  python3 examples/super_resolution.py -o examples/super_resolution.onnx >>"$LOG" 2>&1
  cache=$WORK/triton.cache repo=$WORK/model_repository
  rm -rf "$repo"
  run "build example (plugin)" trtconvert build --config configs/super_resolution.yaml -o "$WORK/triton_sr.plan" --plugin "$LIB" --timing-cache "$cache"
  run "build ppocr cls" trtconvert build --config configs/ppocr_mobile_v2_cls.yaml -o "$WORK/triton_cls.plan" --timing-cache "$cache"
  run "export example" trtconvert export triton "$WORK/triton_sr.plan" -o "$repo" --name super_resolution --plugin "$LIB"
  run "export ppocr cls" trtconvert export triton "$WORK/triton_cls.plan" -o "$repo" --name ppocr_cls
  run "verify example from the repository" trtconvert verify "$repo/super_resolution/1/model.plan" --onnx examples/super_resolution.onnx --plugin "$repo/super_resolution/plugins/$(basename "$LIB")"
  run "verify ppocr cls from the repository" trtconvert verify "$repo/ppocr_cls/1/model.plan" --onnx ../shared/models/ppocr_mobile_v2_cls.onnx
  (cd "$repo" && find . -type f | sort) >>"$LOG"
  for model in super_resolution ppocr_cls; do
    [ -f "$repo/$model/config.pbtxt" ] && cp "$repo/$model/config.pbtxt" "$OUT/$model.config.pbtxt"
  done
  grep -E "^verify|^###|error|^plugins|^tensorrt" "$LOG"
  ;;
int8)
  # Timing caches live in TRTCONVERT_CHECKS_CACHES when given (to carry them between machines), else in WORK;
  # plans already in WORK are kept, so that a second run on the same machine finishes what a first began.
  caches=${TRTCONVERT_CHECKS_CACHES:-$WORK}; mkdir -p "$caches"
  det=../shared/models/ppocr_v4_det.onnx shape=${TRTCONVERT_CHECKS_DET_SHAPE:-1x3x320x320}
  [ -f "$WORK/det_calib.npz" ] || python3 benchmarks/text_images.py --input x --shape $shape --samples 64 -o "$WORK/det_calib.npz" >>"$LOG" 2>&1
  # On noise the detector finds no text and its output stays near zero, which any engine matches: the plans are
  # also verified on a text image of another seed than the calibration set's.
  [ -f "$WORK/det_check.npy" ] || python3 benchmarks/text_images.py --input x --shape $shape --samples 1 --seed 1 -o "$WORK/det_check.npy" >>"$LOG" 2>&1
  [ -f "$WORK/det8.plan" ] || rm -f "$WORK/det.calib"
  build_once() {  # build_once NAME LABEL ARGS...: a plan not yet in WORK, its output into its own log
    local name=$1 label=$2; shift 2
    if [ -f "$WORK/$name.plan" ]; then echo "### $label: kept from an earlier run" >"$WORK/$name.log"; return; fi
    # TRTCONVERT_CHECKS_PLANS="det16" builds only those, for a run split over several calls (cold builds are long)
    case " ${TRTCONVERT_CHECKS_PLANS:-$name} " in *" $name "*) ;; *) echo "### $label: left for another run" >"$WORK/$name.log"; return ;; esac
    LOG=$WORK/$name.log run "$label" trtconvert build $det -o "$WORK/$name.plan" --profile "x=$shape" "$@" \
      --timing-cache "$caches/$name.timing.cache"
  }
  # The three cold builds at once: on TensorRT 8.5 most of such a build is compiling pointwise kernels, one CPU
  # core per build, so together they take about as long as one. Latency is measured later, alone.
  rm -f "$WORK"/det32.log "$WORK"/det16.log "$WORK"/det8.log
  build_once det32 "det fp32" &
  build_once det16 "det fp16" --precision fp16 &
  build_once det8 "det int8, calibrating" --precision int8 --calib-data "$WORK/det_calib.npz" --calib-cache "$WORK/det.calib" &
  wait
  cat "$WORK"/det32.log "$WORK"/det16.log "$WORK"/det8.log >>"$LOG"
  if [ ! -f "$WORK/det32.plan" ] || [ ! -f "$WORK/det16.plan" ] || [ ! -f "$WORK/det8.plan" ]; then
    grep -E "^###" "$LOG"; echo "plans still missing: run again on this machine with the others"; exit 0
  fi
  rm -f "$WORK/det8b.plan"
  run "det int8, from the cache alone" trtconvert build $det -o "$WORK/det8b.plan" --profile "x=$shape" --precision int8 --calib-cache "$WORK/det.calib" --timing-cache "$caches/det8.timing.cache"
  for plan in det32 det16 det8; do
    run "verify $plan, random inputs" trtconvert verify "$WORK/$plan.plan" --onnx $det
    run "verify $plan, a text image" trtconvert verify "$WORK/$plan.plan" --onnx $det --input x="$WORK/det_check.npy"
    run "layers $plan" trtconvert inspect "$WORK/$plan.plan" --layers
  done
  rm -f "$OUT/bench.txt"
  for plan in det32 det16 det8; do
    trtconvert bench "$WORK/$plan.plan" --iterations 500 --warmup 50 -q >>"$OUT/bench.txt" 2>&1
  done
  echo "### det32 as CUDA graph launches (against the plain runs above)" >>"$OUT/bench.txt"
  trtconvert bench "$WORK/det32.plan" --cuda-graph --iterations 500 --warmup 50 -q >>"$OUT/bench.txt" 2>&1
  echo "### det16 --compare det32 --layers" >>"$OUT/bench.txt"
  trtconvert bench "$WORK/det16.plan" --compare "$WORK/det32.plan" --layers --iterations 200 --warmup 20 -q >>"$OUT/bench.txt" 2>&1
  cp "$caches"/det*.timing.cache "$OUT/" 2>/dev/null
  cat "$OUT/bench.txt"
  grep -E "^calib|^verify|^warning|layers:|^###|error" "$LOG"
  ;;
precision)
  caches=${TRTCONVERT_CHECKS_CACHES:-$WORK}; mkdir -p "$caches"
  det=../shared/models/ppocr_v4_det.onnx shape=${TRTCONVERT_CHECKS_DET_SHAPE:-1x3x320x320}
  [ -f "$WORK/det_calib.npz" ] || python3 benchmarks/text_images.py --input x --shape $shape --samples 64 -o "$WORK/det_calib.npz" >>"$LOG" 2>&1
  [ -f "$WORK/det_check.npy" ] || python3 benchmarks/text_images.py --input x --shape $shape --samples 1 --seed 1 -o "$WORK/det_check.npy" >>"$LOG" 2>&1
  page=(--input x="$WORK/det_check.npy")
  # One timing cache per precision, named as the int8 part names them: a cold FP16 detector build takes over
  # 15 minutes on TensorRT 8.5 and a warm one about a minute, so these builds (the fp16 ones one after another,
  # the kept-fp32 rebuilds retiming only the layers that changed) start from what the int8 part or an earlier
  # run timed (TRTCONVERT_CHECKS_CACHES carries them between machines).
  # Plans already in WORK are kept, as in the int8 part: the builds of this part can take longer than 10 minutes
  # together, so a second run on the same machine finishes what a first one, stopped, began.
  cache_of() { case $1 in p32) echo det32 ;; pq8) echo det8 ;; *) echo det16 ;; esac; }
  build() {  # build NAME LABEL ARGS...: the detector at $shape, verified on the text image, its own log too
    local name=$1 label=$2; shift 2
    if [ -f "$WORK/$name.plan" ]; then echo "### $label: kept from an earlier run" | tee -a "$LOG"; return; fi
    rm -f "$WORK/$name.log"
    LOG=$WORK/$name.log run "$label" trtconvert build $det -o "$WORK/$name.plan" --profile "x=$shape" "$@" \
      --timing-cache "$caches/$(cache_of "$name").timing.cache"
    cat "$WORK/$name.log" >>"$LOG"
  }
  build p32 "det fp32, verify on a text image" --verify "${page[@]}" -v
  build p16 "det fp16, verify on a text image" --precision fp16 --verify "${page[@]}" -v
  # The set the overflow finder printed (before the build, and again after a failing check), if any.
  flags=$(grep -ho "keep them and their readers in fp32: .*" "$WORK/p16.log" | tail -n 1 | sed 's/^keep them and their readers in fp32: //')
  echo "### finder's set: ${flags:-none, nothing past the fp16 range in fp32}" | tee -a "$LOG"
  if [ -n "$flags" ]; then
    eval "set -- $flags"
    build p16k "det fp16, the finder's set kept fp32" --precision fp16 "$@" --verify "${page[@]}" -v
  fi
  # The detection head (the transposed convolutions and the sigmoid that make the probability map) in fp32.
  build p16h "det fp16, head kept fp32" --precision fp16 --keep-fp32 'op:ConvTranspose' --keep-fp32 'op:Sigmoid' --verify "${page[@]}" -v
  # The search: rebuilds keeping the finder's set first, then nodes by their fp32 magnitude, at most
  # TRTCONVERT_CHECKS_MAX_BUILDS builds (5: about a minute each with the fp16 timing cache warm).
  build p16a "det fp16 --auto-keep-fp32" --precision fp16 --auto-keep-fp32 --max-builds "${TRTCONVERT_CHECKS_MAX_BUILDS:-5}" \
    --verify "${page[@]}" -v
  for plan in p16k p16h p16a; do
    [ -f "$WORK/$plan.plan" ] || continue
    run "inspect $plan" trtconvert inspect "$WORK/$plan.plan"
    run "layers $plan" trtconvert inspect "$WORK/$plan.plan" --layers
  done
  # Explicit INT8: the Q/DQ model trtconvert writes for TensorRT 11, built by this TensorRT without calibration.
  [ -f "$WORK/det.qdq.onnx" ] || run "det int8 Q/DQ for TensorRT 11" trtconvert prepare $det -o "$WORK/det.qdq.onnx" --profile "x=$shape" --target-tensorrt 11 --precision int8 --calib-data "$WORK/det_calib.npz" --verify --int8-min-within 0.98
  [ -f "$WORK/pq8.plan" ] || run "det explicit int8 from the Q/DQ model" trtconvert build "$WORK/det.qdq.onnx" -o "$WORK/pq8.plan" --profile "x=$shape" --precision int8 --verify "${page[@]}" --int8-min-within 0.98 --timing-cache "$caches/$(cache_of pq8).timing.cache"
  run "verify explicit int8 against the float detector, a text image" trtconvert verify "$WORK/pq8.plan" --onnx $det "${page[@]}" --int8-min-within 0.98
  run "layers pq8" trtconvert inspect "$WORK/pq8.plan" --layers
  rm -f "$OUT/bench.txt"
  for plan in p32 p16 p16k p16h p16a pq8; do
    [ -f "$WORK/$plan.plan" ] || continue
    echo "## $plan" >>"$OUT/bench.txt"
    trtconvert bench "$WORK/$plan.plan" --iterations 500 --warmup 50 -q >>"$OUT/bench.txt" 2>&1
  done
  cp "$caches"/det*.timing.cache "$OUT/" 2>/dev/null
  cat "$OUT/bench.txt"
  grep -E "^precision|^ranges|^verify|^warning|keep fp32|auto-keep|layers:|^###|error" "$LOG"
  ;;
esac
