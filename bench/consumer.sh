#!/usr/bin/env bash
# Consumer throughput next to NSQ's own bench_reader, on one nsqd of our own (free ports, temp data):
# N messages of 200 B are published once to a topic with two channels; bench_reader reads one,
# consumer.java (printing raw bodies to /dev/null) the other. Prints msg/s of both and the ratio.
#   bench/consumer.sh            N=1000000 by default (nsqd holds them in memory: ~0.5 GB); N=300000 bench/consumer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000000}" SIZE=200 TOPIC=bench_consume
BIN=.nsq/bin
[ -x "$BIN/nsqd" ] && [ -x "$BIN/bench_reader" ] || scripts/install-nsq

work="$(mktemp -d)"
nsqd_pid=""
cleanup() { [ -n "$nsqd_pid" ] && kill "$nsqd_pid" 2>/dev/null && wait "$nsqd_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Port 0: nsqd picks free ports and logs them. Everything in memory, as NSQ's own bench.sh does.
"$BIN/nsqd" --tcp-address=127.0.0.1:0 --http-address=127.0.0.1:0 --data-path="$work" \
  --mem-queue-size=$((N + 1)) >"$work/nsqd.log" 2>&1 &
nsqd_pid=$!
for _ in $(seq 100); do grep -q "HTTP: listening" "$work/nsqd.log" && break; sleep 0.1; done
tcp="$(sed -n 's/.*TCP: listening on \([0-9.:]*\).*/\1/p' "$work/nsqd.log" | head -1)"
http="$(sed -n 's/.*HTTP: listening on \([0-9.:]*\).*/\1/p' "$work/nsqd.log" | head -1)"
[ -n "$tcp" ] && [ -n "$http" ] || { echo "nsqd did not start: $(cat "$work/nsqd.log")" >&2; exit 1; }

curl -sf -X POST "http://$http/topic/create?topic=$TOPIC" >/dev/null
for ch in bench_reader mqueue; do curl -sf -X POST "http://$http/channel/create?topic=$TOPIC&channel=$ch" >/dev/null; done

# Fill: /mpub takes newline-separated bodies, up to nsqd's 5 MiB --max-body-size per request.
body="$(head -c $((SIZE - 1)) /dev/zero | tr '\0' 'x')"
chunk=20000
awk -v b="$body" -v n="$chunk" 'BEGIN { for (i = 0; i < n; i++) print b }' >"$work/chunk"
for ((left = N; left > 0; left -= chunk)); do
  n=$((left < chunk ? left : chunk))
  head -n "$n" "$work/chunk" | curl -sf --data-binary @- "http://$http/mpub?topic=$TOPIC" >/dev/null
done
depth() { curl -sf "http://$http/stats?format=json&topic=$TOPIC&channel=$1" | grep -o "\"channel_name\":\"$1\",\"depth\":[0-9]*" | cut -d: -f3; }
echo "# $N messages of $SIZE B on nsqd $tcp; channel depths: bench_reader=$(depth bench_reader) mqueue=$(depth mqueue)"

# bench_reader runs for a fixed time; its rate is only fair while the channel has not run dry.
RUNFOR="${RUNFOR:-1s}"
br="$("$BIN/bench_reader" -nsqd-tcp-address "$tcp" -topic "$TOPIC" -channel bench_reader -size "$SIZE" -runfor "$RUNFOR" 2>&1)"
br_rate="$(sed -n 's/.* - \([0-9.]*\)ops\/s.*/\1/p' <<<"$br")"
left="$(depth bench_reader)"
echo "bench_reader: $br_rate msg/s ($br)"
[ "${left:-0}" -gt 0 ] || echo "warning: bench_reader emptied the channel before -runfor $RUNFOR ended: its rate is a lower bound; raise N" >&2

# consumer.java: the shipped path (jbang, JVM start excluded from the rate: the summary times from the first message).
JBANG="${JBANG:-./jbang}"
$JBANG build consumer.java >/dev/null 2>&1
start=$(date +%s%N)
$JBANG consumer.java --nsqd "$tcp" -s "$TOPIC" -g mqueue --count "$N" --format raw >/dev/null 2>"$work/consumer.err"
end=$(date +%s%N)
summary="$(grep 'summary:' "$work/consumer.err")"
mq_rate="$(sed -n 's/.*(\([0-9]*\) msg\/s).*/\1/p' <<<"$summary")"
echo "consumer.java: $mq_rate msg/s (${summary#*summary: }; wall $(( (end - start) / 1000000 )) ms with JVM start)"
awk -v a="$mq_rate" -v b="$br_rate" 'BEGIN { printf "ratio consumer/bench_reader: %.2f\n", a / b }'
