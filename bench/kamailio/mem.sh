#!/usr/bin/env bash
# Memory of a running bench Kamailio: sum of RSS and PSS over all its
# processes (PSS counts the shared-memory pool once) plus the shm pool usage
# and open TLS connections, via the ctl socket.
# usage: mem.sh WORKDIR          (the WORKDIR given to start.sh)
set -euo pipefail
W=$(cd "${1:?usage: mem.sh WORKDIR}" && pwd)
P=$(cat "$W/kamailio.pid")
rss=0 pss=0 n=0
for p in $P $(pgrep -P "$P"); do
	r=$(awk '/^Rss:/{print $2}' "/proc/$p/smaps_rollup")
	s=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup")
	rss=$((rss + r)) pss=$((pss + s)) n=$((n + 1))
done
rpc() { kamcmd -s "unix:$W/kamailio_ctl" "$@" | tr -d '\t\n'; }
shm=$(rpc core.shmmem)
tcp=$(rpc core.tcp_info)
used=$(sed -n 's/.*real_used: \([0-9]*\).*/\1/p' <<<"$shm")
conns=$(sed -n 's/.*opened_tls_connections: \([0-9]*\).*/\1/p' <<<"$tcp")
echo "processes=$n sum_rss_kib=$rss sum_pss_kib=$pss shm_real_used_kib=$((used / 1024)) tls_connections=$conns"
