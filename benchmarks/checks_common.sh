# Sourced by tensorrt_checks.sh and fleet_checks.sh once LOG is set: the command they time and how a step is logged.
trtconvert() { python3 -m trtconvert "$@"; }
run() {  # run LABEL COMMAND...: the command's output and its wall time into the log
  local label=$1 start rc; shift
  echo "### $label: $*" >>"$LOG"
  start=$(date +%s%N)
  "$@" >>"$LOG" 2>&1; rc=$?
  printf '### %s: exit %d in %d ms\n' "$label" "$rc" $((($(date +%s%N) - start) / 1000000)) | tee -a "$LOG"
  return 0
}
