#!/usr/bin/env bash
# Stop the daemons tests/slurm/start-cluster.sh DIR started: only the pids in DIR's pid files.
set -uo pipefail
dir=$(realpath -m "${1:?usage: stop-cluster.sh DIR}")
for daemon in slurmd slurmctld munged; do
    pidfile="$dir/$daemon.pid"
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    # only a process of that name: a stale pid file must not end someone else's process
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$daemon" ]; then
        kill "$pid"
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"
done
if [ -s "$dir/munge-socket-dir" ]; then
    socket_dir=$(cat "$dir/munge-socket-dir")
    case "$socket_dir" in /tmp/inuprep-munge.*) rm -rf "$socket_dir" ;; esac
    rm -f "$dir/munge-socket-dir"
fi
