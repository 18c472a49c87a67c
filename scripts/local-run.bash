# Sourced by scripts/demo, bench/latency and scripts/package-train: a private nsqd on ports the OS picks (never
# the default ones) with a temp data dir, the fastest way to start our scripts, and a cleanup
# trap that leaves nothing running. Sets: repo, work, launcher, NSQD_TCP, NSQD_HTTP (start_nsqd).

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mqueue-demo.XXXXXX")"
pgroups=()
names=()          # pid -> the name spawn gave it
# shellcheck disable=SC2034 # used by the scripts that source this
# The wakeup's push channel on a host (wake.PushFollower.ownChannel): a client on it means that host's wakeup
# follows the stream. One per host, named for the kernel's hostname, '_' for what a channel name cannot hold.
wakeup_channel() {
  local h="${1:-$(cat /proc/sys/kernel/hostname)}"
  h="${h//[^.a-zA-Z0-9_-]/_}"
  echo "mqueue-wakeup-${h:0:40}#ephemeral"
}
WAKEUP_CHANNEL="$(wakeup_channel)"

# The seed's variables change the tools' defaults; these scripts spell out all they use.
forget_seed_env() {
  unset GROUP TIMEOUT COUNT EXEC FORMAT INTERVAL RATE THREADS BATCH DEFER SIZE PAYLOAD_KEYS MAX_IN_FLIGHT \
    NSQD_TCP_ADDRESS NSQD_HTTP_ADDRESS NSQLOOKUPD_HTTP_ADDRESS MQUEUE_SOCKET_DIR SOCKET_ACTIVATION
}

cleanup() {
  local rc=$? pid i alive
  trap - EXIT INT TERM
  for pid in "${pgroups[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do            # up to 10 s for a clean stop
    alive=false
    for pid in "${pgroups[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=true; done
    $alive || break
    sleep 0.1
  done
  for pid in "${pgroups[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ -z "${KEEP_WORK:-}" ]; then
    local logs=() f
    for f in "$work"/*.err; do [ -s "$f" ] && logs+=("$f"); done
    # A run that failed before it started anything has no logs, and says so in its own error line.
    [ ${#logs[@]} -gt 0 ] && echo "logs of the failed run:" >&2
    for f in "${logs[@]}"; do echo "--- $(basename "$f")" >&2; tail -n 15 "$f" >&2; done
  fi
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# spawn NAME CMD...: runs CMD in the background, stdout/stderr in $work/NAME.out/.err; sets
# $spawned. Job control is on just for the start: the job gets its own process group, so cleanup
# kills it with all it started (jbang's JVMs, systemd-socket-activate's consumer); off again so
# bash prints no job notices.
spawn() {
  local name="$1"; shift
  # The files exist before the job starts, so a poll right after spawn never reads a missing file.
  : >"$work/$name.out"; : >"$work/$name.err"
  set -m
  "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null &
  spawned=$!
  set +m
  pgroups+=("$spawned")
  names[$spawned]="$name"
}

# running PID...: fails (exit 1, with its log) when one of them has exited.
running() {
  local pid
  for pid in "$@"; do
    kill -0 "$pid" 2>/dev/null && continue
    die "${names[$pid]:-$pid} exited early: $(tail -n 5 "$work/${names[$pid]:-x}.err" 2>/dev/null)"
  done
}

die() { echo "${0##*/}: $*" >&2; exit 1; }

# lines FILE: its line count, 0 while it does not exist.
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# wait_for WHAT SECONDS CMD...: polls CMD every 0.1 s; fails with WHAT after SECONDS.
wait_for() {
  local what="$1" secs="$2" _tick; shift 2   # (not `i`: CMD may read the caller's i)
  for ((_tick = 0; _tick < secs * 10; _tick++)); do "$@" && return 0; sleep 0.1; done
  die "timed out after ${secs}s waiting for $what"
}

# Our tools start as the units start them: bin/mqueue on the package scripts/package made (one JVM,
# no JBang). `launch_build` packages once, up front (quick when up to date), so parallel starts never
# race on a build. MQUEUE_LAUNCHER=jbang runs them through ./jbang instead (for comparisons).
if [ "${MQUEUE_LAUNCHER:-}" = jbang ]; then
  launcher=("$repo/jbang")
  launch_build() { local s; for s in "$@"; do "$repo/jbang" build "$repo/$s.java" >/dev/null 2>&1 || die "cannot build $s.java (try: ./jbang build $s.java)"; done; }
else
  launcher=("$repo/bin/mqueue")
  launch_build() { [ -n "${MQUEUE_APP:-}" ] || "$repo/scripts/package" || die "cannot package the tools (scripts/package)"; }
fi
launch() { "${launcher[@]}" "$repo/$1.java" "${@:2}"; }

start_nsqd() {
  "$repo/scripts/install-nsq"
  mkdir -p "$work/nsqd"
  spawn nsqd "$repo/.nsq/bin/nsqd" --tcp-address=127.0.0.1:0 --http-address=127.0.0.1:0 \
    --data-path="$work/nsqd" --broadcast-address=127.0.0.1
  listening() {
    NSQD_TCP="$(sed -n 's/.*TCP: listening on \(.*\)$/\1/p' "$work/nsqd.err")"
    NSQD_HTTP="$(sed -n 's/.*HTTP: listening on \(.*\)$/\1/p' "$work/nsqd.err")"
    [ -n "$NSQD_TCP" ] && [ -n "$NSQD_HTTP" ] && curl -fsS -o /dev/null "http://$NSQD_HTTP/ping"
  }
  wait_for "nsqd to listen (log: $work/nsqd.err)" 15 listening
}

# nsqd HTTP: POST a write endpoint; `clients TOPIC CHANNEL` prints the channel's client count (0 if absent).
nsqd_post() { curl -fsS -o /dev/null -X POST "http://$NSQD_HTTP$1"; }
clients() {
  local n
  n="$(curl -fsS "http://$NSQD_HTTP/stats?format=json&include_clients=false&topic=$1&channel=${2//#/%23}" |
    grep -o '"client_count":[0-9]*' | head -n1 | cut -d: -f2)"
  echo "${n:-0}"
}
