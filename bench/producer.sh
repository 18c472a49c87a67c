#!/usr/bin/env bash
# producer.java --rate max against NSQ's own bench_writer, on one nsqd this script starts
# (free ports, temp data dir) and stops. Prints both rates and their ratio.
# Knobs: RUNFOR (default 10s), SIZE (200), BATCH (200: bench_writer's MPUB size).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNFOR=${RUNFOR:-10s} SIZE=${SIZE:-200} BATCH=${BATCH:-200}
BIN=.nsq/bin
[ -x "$BIN/nsqd" ] && [ -x "$BIN/bench_writer" ] || scripts/install-nsq

dir=$(mktemp -d "${TMPDIR:-/tmp}/mqueue-bench.XXXXXX")
nsqd_pid=
cleanup() { [ -n "$nsqd_pid" ] && kill "$nsqd_pid" 2>/dev/null && wait "$nsqd_pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

# Port 0: nsqd picks free ports and logs them, so nothing races for a port.
"$BIN/nsqd" --tcp-address=127.0.0.1:0 --http-address=127.0.0.1:0 --data-path="$dir" >"$dir/nsqd.log" 2>&1 &
nsqd_pid=$!
for _ in $(seq 100); do grep -q 'TCP: listening' "$dir/nsqd.log" && break; sleep 0.1; done
tcp=$(grep -o 'TCP: listening on [0-9.:]*' "$dir/nsqd.log" | awk '{print $4}')
[ -n "$tcp" ] || { echo "bench: nsqd did not start:" >&2; cat "$dir/nsqd.log" >&2; exit 1; }
echo "nsqd $tcp (data in $dir); $SIZE-byte messages, $RUNFOR each"

echo "+ $BIN/bench_writer -nsqd-tcp-address $tcp -size $SIZE -batch-size $BATCH -runfor $RUNFOR -topic bench_writer"
go_out=$("$BIN/bench_writer" -nsqd-tcp-address "$tcp" -size "$SIZE" -batch-size "$BATCH" -runfor "$RUNFOR" -topic bench_writer 2>&1)
echo "$go_out" | tail -1
go_rate=$(echo "$go_out" | grep -o '[0-9.]*ops/s' | tail -1 | sed 's/ops\/s//')

echo "+ ./jbang producer.java -s bench_producer --nsqd $tcp --rate max --size $SIZE --batch $BATCH --duration $RUNFOR"
our_out=$(./jbang producer.java -s bench_producer --nsqd "$tcp" --rate max --size "$SIZE" --batch "$BATCH" --duration "$RUNFOR" 2>&1)
echo "$our_out" | grep -E 'done:|error' | tail -2
our_rate=$(echo "$our_out" | grep -o 'acknowledged, [0-9]* msg/s' | tail -1 | grep -o '[0-9]* msg/s' | cut -d' ' -f1)

[ -n "$go_rate" ] && [ -n "$our_rate" ] || { echo "bench: could not read both rates" >&2; exit 1; }
awk -v go="$go_rate" -v ours="$our_rate" 'BEGIN { printf "bench_writer %.0f msg/s, producer.java %.0f msg/s: ratio %.2f\n", go, ours, ours / go }'
