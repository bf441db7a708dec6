#!/usr/bin/env bash
# ipvs-tests.sh - the IPVS backend against a real IPVS in User-Mode Linux.
#
# Runs crates/dataplane/tests/ipvs_uml.rs: each test boots a throw-away UML
# guest with ipvs-vm (../shared/tools/ipvs-vm/ipvs-vm from the repository
# root, or $IPVS_VM_TOOL) and, inside it:
#   * ipvs_matches_ipvsadm: 22 services (every scheduler, NAT/DR/TUN
#     ipip/gue/gre, TCP/UDP/SCTP, fwmark v4/v6, IPv6, persistence, flags,
#     thresholds) applied by IpvsBackend list byte for byte like the same
#     set programmed with `ipvsadm -R`; read() round-trips both;
#   * ipvs_one_change_one_request: one server change = one netlink request;
#   * ipvs_flush_keeps_foreign_and_config: flush() spares hand-made services,
#     errors carry op + errno, lvs_timeouts, sync daemon, lvs_flush;
#   * ipvs_matches_keepalived: Debian's keepalived (checkers only) and
#     model::desired + IpvsBackend program the same table for generated
#     configs and the shipped samples (checkers stripped).
# and crates/daemon/tests/ipvs_daemon_uml.rs, the keepalived-rs binary itself:
#   * daemon_matches_keepalived: keepalived -C and keepalived-rs -C on the
#     same files (samples, checkers stripped; generated: every scheduler,
#     NAT/DR/TUN, TCP/UDP, fwmark, IPv6, failing checkers, inhibit_on_failure,
#     sorry_server, alpha) settle to the same `ipvsadm -Ln --sort`;
#   * daemon_nat_traffic: client -> keepalived-rs (NAT, HTTP_GET/TCP_CHECK) ->
#     3 busybox httpd; dead servers removed / weighted 0, no request reaches
#     them, they return;
#   * daemon_reload_one_operation: SIGHUP changing one weight = 1 operation;
#   * daemon_lvs_sync_daemon: keepalived's lvs_sync_daemon vs ours (a gap is
#     reported as KNOWN-GAP).
#
# Prints PASS/FAIL per test and "N passed, N failed[, N skipped]".
# Exit: 0 all passed, 1 a failure, 77 skipped (UML cannot start here; the
# reason is printed) unless IPVS_VM_REQUIRED=1 (then a skip is a failure).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
vm=${IPVS_VM_TOOL:-$root/../shared/tools/ipvs-vm/ipvs-vm}

skip() {
  echo "SKIP: ipvs-tests: $*"
  if [[ ${IPVS_VM_REQUIRED-} == 1 ]]; then
    echo "FAIL: IPVS_VM_REQUIRED=1"
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "0 passed, 0 failed, 1 skipped"
  exit 77
}

[[ -x $vm ]] || skip "ipvs-vm not found at $vm"
"$vm" --check >/dev/null 2>&1
rc=$?
case $rc in
  0) ;;
  77) skip "ipvs-vm --check: a UML guest cannot run on this host" ;;
  *) skip "ipvs-vm --check failed with status $rc" ;;
esac

export IPVS_VM_TOOL=$vm IPVS_VM_REQUIRED=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
# the guests are bounded by ipvs-vm --timeout (set in the tests); this bounds the build too
timeout 1500 cargo test -p keepalived-dataplane --test ipvs_uml -- --test-threads=2 --nocapture \
  >"$log" 2>&1
status=$?
timeout 1500 cargo test -p keepalived-rs --test ipvs_daemon_uml -- --test-threads=2 --nocapture \
  >>"$log" 2>&1
status2=$?
((status == 0)) && status=$status2

passed=0 failed=0
while read -r name verdict; do
  if [[ $verdict == ok ]]; then
    echo "PASS: $name"
    passed=$((passed + 1))
  else
    echo "FAIL: $name"
    failed=$((failed + 1))
  fi
done < <(sed -n 's/^test \([a-z_0-9]*\) \.\.\. \(ok\|FAILED\)$/\1 \2/p' "$log" | sort -u -k1,1)

if ((status != 0)); then
  # reasons: the failing tests' assertion messages, and the guest output
  grep -E -A25 "panicked at|^---- |error(\[|:)" "$log" | head -300
  if ((failed == 0)); then
    echo "FAIL: cargo test exited with status $status"
    failed=1
  fi
fi
grep -E "^\[guest [a-z_]*\] (KNOWN-DIFFERENCE|KNOWN-GAP|samples identical|identical to keepalived|daemon identical|SAME |DIFF |nat traffic|reload:|applied |ran )" "$log" || true
echo "ipvs-tests: $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))
