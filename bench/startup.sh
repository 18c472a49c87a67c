#!/usr/bin/env bash
# Socket-activated start-up of the real consumer (SOCKET_ACTIVATION=true, stdout, a short TIMEOUT), per
# start-up path: wake connection → first message handled,
# RUNS cold starts each (p50/min/max), next to `java Hello` measured in the same run.
#   bench/startup.sh [SCRIPT] [RUNS]      SCRIPT defaults to consumer.java, RUNS to 10
# Uses a private nsqd on free ports (never the default ones). Needs systemd-socket-activate.
# bench/latency measures the shipped path end to end (publish -> handled, woken by the wakeup).
set -euo pipefail
cd "$(dirname "$0")/.."
script="${1:-consumer.java}"
runs="${2:-10}"
scripts/install-nsq >/dev/null
nsqd="$(command -v .nsq/bin/nsqd || command -v nsqd)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || shuf -i 20000-60000 -n 1; }
tcp="127.0.0.1:$(free_port)"; http="127.0.0.1:$(free_port)"
data="$(mktemp -d)"
"$nsqd" --tcp-address="$tcp" --http-address="$http" --data-path="$data" >"$data/nsqd.log" 2>&1 &
nsqd_pid=$!
trap 'kill "$nsqd_pid" 2>/dev/null; wait "$nsqd_pid" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "http://$http/ping" >/dev/null 2>&1 && break; sleep 0.1; done

# Build every path once (package, JBang's cache) so the measured starts are cache hits.
scripts/package
./jbang build "$script" >/dev/null 2>&1
./jbang build bench/StartupBench.java >/dev/null 2>&1
jdk17="$(ls -d /usr/lib/jvm/*17* 2>/dev/null | head -n 1)"

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(java -version 2>&1 | head -1), script $script, nsqd $("$nsqd" --version | head -1)"
# Not exec: the EXIT trap must still stop nsqd.
./jbang bench/StartupBench.java "$tcp" "$http" "$runs" \
  "jbang=./jbang $script" \
  "bin/mqueue (package)=bin/mqueue $script" \
  ${jdk17:+"bin/mqueue on JDK 17=env JAVA_HOME=$jdk17 bin/mqueue $script"} \
  ${EXTRA_VARIANTS:-}
