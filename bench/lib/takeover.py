#!/usr/bin/env python3
"""Phase-free takeover figures from an observer trace of vrrp-failover.sh.

kill -9 -> takeover, as the harness measures it, includes where in the advert
schedule the crash lands (a uniform 0..advert_int), which dominates the spread
of its median over a few trials. The wire itself shows what a daemon controls:
for each crash takeover (the old master's last advert had a non-zero priority,
the new master is lb2), the silence (last old advert -> first new advert), the
new master's reaction (its first advert -> its first GARP for the VIP), and the
two together (last old advert -> first GARP).

Usage: takeover.py OBS_TXT...   prints one line per file: n and medians (ms).
       takeover.py --phase RESULTS_TSV CONFIG OBS_TXT
           prints n and the mean kill phase (kill -> the old master's last advert
           before it, ms): per trial, last-advert->GARP minus the harness's
           kill9_garp. The harness draws it uniformly, so its mean should be
           about advert_int / 2 whatever the daemon; a run whose mean is off
           shifts the kill -9 median by as much, for reasons of chance alone.
"""
import statistics
import sys

LB1, LB2 = "02:99:00:00:00:01", "02:99:00:00:00:02"


def takeovers(path):
    master = last = None  # current master MAC, its last advert (time, prio)
    pending = None  # (silence, first advert time) of a takeover awaiting its GARP
    out = []
    for line in open(path):
        f = line.split()
        if len(f) < 2:
            continue
        t, src = float(f[0]), f[1]
        if "VRRP" in line:
            prio = int(line.split("prio ")[1].split(",")[0])
            if prio == 0:
                last = (t, 0)
                continue
            if src != master:
                if master is not None and last and last[1] > 0 and src == LB2:
                    pending = (t - last[0], t, last[0])
                master = src
            last = (t, prio)
        elif "ARP" in line and pending and src == LB2:
            gap, first, lastold = pending
            out.append((gap, t - first, t - lastold))
            pending = None
    return out


if sys.argv[1:2] == ["--phase"]:
    results, config, obs = sys.argv[2:5]
    garp = [float(f[3]) for f in (l.split("\t") for l in open(results))
            if len(f) == 4 and f[0] == config and f[2] == "kill9_garp"]
    crash = takeovers(obs)
    if len(garp) != len(crash) or not garp:
        print(f"{len(garp)}\t-")
    else:
        phase = [x[2] * 1000 - g for x, g in zip(crash, garp)]
        print(f"{len(phase)}\t{statistics.mean(phase):.1f}")
    sys.exit(0)

for path in sys.argv[1:]:
    xs = takeovers(path)
    if not xs:
        print(f"{path}\t0")
        continue
    med = [statistics.median(x[i] for x in xs) * 1000 for i in range(3)]
    print(f"{path}\t{len(xs)}\t" + "\t".join(f"{m:.3f}" for m in med))
