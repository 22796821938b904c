# Sourced by setup-gpu-env.sh. `apt_waiting_for_lock LOG CMD...` runs CMD with its output in LOG; while
# it fails because another apt or dpkg holds the lock (unattended upgrades on a fresh machine, say),
# it waits and tries again, for at most LOOM_APT_LOCK_WAIT seconds (default 600) in all, saying so
# once. Any other failure, or the lock still held at the end, returns CMD's failure.
APT_LOCK_MESSAGE='Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock directory|is another process using it'

apt_waiting_for_lock() {
  local log="$1"
  shift
  local deadline=$((SECONDS + ${LOOM_APT_LOCK_WAIT:-600}))
  local said=0
  until "$@" >"$log" 2>&1; do
    local status=$?
    if ! grep -qE "$APT_LOCK_MESSAGE" "$log" || [ "$SECONDS" -ge "$deadline" ]; then return "$status"; fi
    if [ "$said" -eq 0 ]; then
      echo "setup: another apt or dpkg holds the package lock; waiting for it (at most ${LOOM_APT_LOCK_WAIT:-600} s, LOOM_APT_LOCK_WAIT)" >&2
      said=1
    fi
    sleep "${LOOM_APT_LOCK_POLL:-5}"
  done
}
