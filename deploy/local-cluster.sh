#!/usr/bin/env bash
# A Redis Cluster of 3 primaries and 3 replicas on this machine, for trying cluster mode
# (docs/operations.md, "Trying a cluster on one machine"). Not for production: no
# passwords, loopback only, each node's data in <folder>/<port>/.
#
#   deploy/local-cluster.sh start [folder] [first port]   (default ./local-cluster, 7000)
#   deploy/local-cluster.sh stop  [folder]
#
# Needs redis-server and redis-cli 7 or later on PATH (cluster mode uses sharded pub/sub).
set -euo pipefail

command=${1:-start}
folder=${2:-./local-cluster}
first=${3:-7000}

# Runs "$@" until it succeeds; after 30 s says what it waited for and where to look.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "gave up waiting for $what; see $folder/*/redis.log" >&2
  exit 1
}

cluster_ready() {
  redis-cli -p "$first" cluster info | grep -q "cluster_state:ok" &&
    [ "$(redis-cli -p "$first" cluster nodes | grep -c slave)" = 3 ]
}

case "$command" in
start)
  version=$(redis-server --version | sed -E 's/.*v=([0-9]+).*/\1/')
  if [ "$version" -lt 7 ]; then
    echo "redis-server $version found; a cluster for Roomful Meetings needs Redis 7 or later" >&2
    exit 1
  fi
  mkdir -p "$folder"
  nodes=()
  for port in $(seq "$first" $((first + 5))); do
    mkdir -p "$folder/$port"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$folder/$port" --daemonize yes \
      --pidfile "$(cd "$folder/$port" && pwd)/redis.pid" --logfile redis.log \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      --cluster-require-full-coverage no \
      --appendonly yes --maxmemory-policy noeviction
    nodes+=("127.0.0.1:$port")
  done
  for port in $(seq "$first" $((first + 5))); do
    wait_for "the node on port $port" redis-cli -p "$port" ping
  done
  if [ "$(redis-cli -p "$first" cluster info | tr -d '\r' | grep cluster_known_nodes)" != "cluster_known_nodes:6" ]; then
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
  fi
  wait_for "the cluster (3 primaries with a replica each)" cluster_ready
  echo "cluster up: --redis-url redis+cluster://127.0.0.1:$first,127.0.0.1:$((first + 1))"
  ;;
stop)
  # Asked through its port, not by pid: a pidfile left by a killed node may name another
  # process by now. Each node writes its data and exits; a stopped one does not answer.
  for dir in "$folder"/*/; do
    port=$(basename "$dir")
    redis-cli -p "$port" shutdown >/dev/null 2>&1 || true
    wait_for "the node on port $port to stop" sh -c "! redis-cli -p $port ping"
    rm -f "$dir/redis.pid"
  done
  echo "stopped; the data stays in $folder (delete it to start afresh)"
  ;;
*)
  echo "usage: $0 start|stop [folder] [first port]" >&2
  exit 2
  ;;
esac
