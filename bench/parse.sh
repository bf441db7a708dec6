#!/usr/bin/env bash
# Parses a generated keepalived.conf of 1,000 virtual servers x 10 real servers with
# keepalived-rs -t and with Debian's keepalived -t, side by side; prints the median
# wall time of N runs (default 5) and peak RSS of each, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
vs=${VS:-1000}
rs=${RS:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
conf=$work/keepalived.conf
{
  echo 'global_defs {'
  echo '    router_id BENCH'
  echo '}'
  for ((v = 0; v < vs; v++)); do
    printf 'virtual_server 10.%d.%d.1 80 {\n' $((v / 250)) $((v % 250))
    echo '    delay_loop 6'
    echo '    lb_algo wrr'
    echo '    lb_kind NAT'
    echo '    protocol TCP'
    for ((r = 1; r <= rs; r++)); do
      printf '    real_server 172.16.%d.%d 8080 {\n' $((v % 250)) "$r"
      echo '        weight 1'
      echo '        HTTP_GET {'
      echo '            url {'
      echo '                path /health'
      echo '                status_code 200'
      echo '            }'
      echo '            connect_timeout 3'
      echo '            retry 3'
      echo '            delay_before_retry 3'
      echo '        }'
      echo '    }'
    done
    echo '}'
  done
} > "$conf"
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
cargo build --release -q -p keepalived-rs
ours=target/release/keepalived-rs
theirs=$(command -v keepalived || echo /usr/sbin/keepalived)

measure() { # prints "median_ms max_rss_kib rc"
  local times=() rss=0 rc=0
  for ((i = 0; i < runs; i++)); do
    local out
    local t0 t1
    t0=$(date +%s%N)
    /usr/bin/time -o "$work/time" -f '%e %M' "$@" -t -f "$conf" >/dev/null 2>&1 && rc=0 || rc=$?
    t1=$(date +%s%N)
    out=$(tail -1 "$work/time")
    times+=("$(( (t1 - t0) / 1000 ))")
    local m; m=$(awk '{print $2}' <<<"$out")
    ((m > rss)) && rss=$m
  done
  local med; med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] / 1000}')
  echo "$med $rss $rc"
}

lines=$(wc -l < "$conf")
echo "config: $vs virtual servers x $rs real servers, $lines lines; $runs runs each"
read -r ko kr krc < <(measure "$ours")
printf '%-14s median %8.1f ms  peak RSS %7d KiB  exit %s\n' keepalived-rs "$ko" "$kr" "$krc"
if [ -x "$theirs" ]; then
  read -r to tr trc < <(measure "$theirs")
  printf '%-14s median %8.1f ms  peak RSS %7d KiB  exit %s\n' keepalived "$to" "$tr" "$trc"
  awk -v a="$ko" -v b="$to" 'BEGIN { if (a > 0) printf "ratio keepalived / keepalived-rs: %.2f (time)\n", b / a }'
else
  echo "keepalived not installed: apt-get install keepalived to compare"
fi
