#!/usr/bin/env bash
# The cost of --statsd-address: consumer (printing) and a do-nothing front-door handler (bench/noop.java),
# each run without and with metrics every 1s to a UDP sink, alternating, N x 200 B on a private nsqd.
# Rates are each run's summary line. Run alone: flock -x /tmp/mqueue-cpu.lock bench/statsd-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-400000}
D=$(mktemp -d /tmp/sb.XXXX)
TCP=127.0.0.1:24150 HTTP=127.0.0.1:24151
.nsq/bin/nsqd --data-path "$D" --tcp-address $TCP --http-address $HTTP --mem-queue-size 2000000 >"$D/nsqd.log" 2>&1 &
NSQD=$!
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 28125)); n = 0
while True:
    s.recv(65536); n += 1
    open(sys.argv[1], "w").write(str(n))
' "$D/sink" &
SINK=$!
trap 'kill $NSQD $SINK 2>/dev/null; wait $NSQD 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 50); do curl -sf "http://$HTTP/ping" >/dev/null && break; sleep 0.1; done
bin/mqueue producer -s sb --nsqd $TCP --nsqd-http $HTTP --groups p0,p1,p2,p3,h0,h1,h2,h3 \
  --rate max --size 200 --count "$N" 2>&1 | grep done
S="--statsd-address 127.0.0.1:28125 --statsd-interval 1s"
for i in 0 1 2 3; do
  if [ $((i % 2)) = 0 ]; then a=""; else a="$S"; fi
  # shellcheck disable=SC2086 # $a is a list of words on purpose
  line=$(bin/mqueue consumer -s sb -g p$i --nsqd $TCP --count "$N" $a 2>&1 >/dev/null | grep summary)
  echo "print statsd=${a:+on}: $line"
done
for i in 0 1 2 3; do
  if [ $((i % 2)) = 0 ]; then a="$S"; else a=""; fi
  # shellcheck disable=SC2086
  line=$(./jbang bench/noop.java -s sb -g h$i --nsqd $TCP --count "$N" --concurrency 2 --max-in-flight 200 $a \
    2>&1 >/dev/null | grep summary)
  echo "handler statsd=${a:+on}: $line"
done
echo "datagrams received by the sink: $(cat "$D/sink" 2>/dev/null || echo 0)"
