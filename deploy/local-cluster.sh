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
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
  done
  if [ "$(redis-cli -p "$first" cluster info | tr -d '\r' | grep cluster_known_nodes)" != "cluster_known_nodes:6" ]; then
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
  fi
  until redis-cli -p "$first" cluster info | grep -q "cluster_state:ok" &&
    [ "$(redis-cli -p "$first" cluster nodes | grep -c slave)" = 3 ]; do sleep 0.2; done
  echo "cluster up: --redis-url redis+cluster://127.0.0.1:$first,127.0.0.1:$((first + 1))"
  ;;
stop)
  for pidfile in "$folder"/*/redis.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  echo "stopped; the data stays in $folder (delete it to start afresh)"
  ;;
*)
  echo "usage: $0 start|stop [folder] [first port]" >&2
  exit 2
  ;;
esac
