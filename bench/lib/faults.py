#!/usr/bin/env python3
"""Helpers of bench/faults (one process per call, no third-party modules).

  client OUT HOST PORT STOPFILE MAX_S TIMEOUT_S GAP_S
      HTTP/1.1 GETs with Connection: close, one TCP connection each, until
      STOPFILE exists or MAX_S passed; one line per request to OUT:
      "start end ok" (epoch seconds, ok 1/0).
  outage OUT
      prints "requests failed outage_ms": outage = the first failed request's
      start -> the end of the first successful request after it (0 if none
      failed, -1 if nothing succeeded after the first failure).
  flood SRC COUNT RATE GROUP UNICAST_DST...
      COUNT forged / malformed VRRP packets at RATE packets/s from SRC (raw
      IPv4, header written here), round-robin over the kinds of
      crates/daemon/tests/faults_netns.rs; prints "sent SECONDS kind=n ...".
  proc PID...
      prints "ticks rss_kib hwm_kib fds" summed over the PIDs (utime+stime).
  mon FILE VIP T0 [T1]
      ip -ts -o monitor address output: prints "adds dels first_add first_del
      held_s" for VIP after T0 (and before T1); held_s = total time held.
  garp FILE MAC IP T0
      tcpdump -tt -e output: epoch of the first gratuitous ARP for IP sent by
      MAC after T0, or "nan".
  drops BEFORE_JSON AFTER_JSON
      keepalived-rs status --json before/after: growth of the drop counters by
      reason (daemon-wide and per instance, summed): "reason=n,...".
  status FIELD JSON   one top-level field, or "transitions" (sum over instances)
  table TSV           the final table, aligned.
"""
import json
import os
import socket
import struct
import sys
import time


def client(out, host, port, stopfile, max_s, timeout, gap):
    port, max_s, timeout, gap = int(port), float(max_s), float(timeout), float(gap)
    end = time.time() + max_s
    req = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    with open(out, "w", buffering=1) as f:
        while time.time() < end and not os.path.exists(stopfile):
            t0 = time.time()
            ok = 0
            try:
                with socket.create_connection((host, port), timeout=timeout) as s:
                    s.settimeout(timeout)
                    s.sendall(req)
                    data = b""
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    ok = 1 if data.startswith(b"HTTP/1.1 200") else 0
            except OSError:
                ok = 0
            f.write(f"{t0:.6f} {time.time():.6f} {ok}\n")
            if gap > 0:
                time.sleep(gap)


def outage(out):
    rows = [l.split() for l in open(out) if len(l.split()) == 3]
    rows = [(float(a), float(b), int(c)) for a, b, c in rows]
    failed = sum(1 for r in rows if r[2] == 0)
    ms = 0.0
    first = next((i for i, r in enumerate(rows) if r[2] == 0), None)
    if first is not None:
        ok = next((r for r in rows[first:] if r[2] == 1), None)
        ms = (ok[1] - rows[first][0]) * 1000 if ok else -1
    print(len(rows), failed, f"{ms:.0f}")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(s):
    return socket.inet_aton(s)


def vrrp2(vrid, prio, addrs, pw=b"1111"):
    body = struct.pack("!BBBBBBH", 0x21, vrid, prio, len(addrs), 1, 1, 0)
    body += b"".join(ip4(a) for a in addrs) + pw.ljust(8, b"\0")
    c = csum(body)
    return body[:6] + struct.pack("!H", c) + body[8:]


def vrrp3(vrid, prio, addrs, src, dst, centis=100):
    body = struct.pack("!BBBBHH", 0x31, vrid, prio, len(addrs), centis & 0xFFF, 0)
    body += b"".join(ip4(a) for a in addrs)
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 112, len(body))
    c = csum(pseudo + body)
    return body[:6] + struct.pack("!H", c) + body[8:]


def ipv4(payload, src, dst, ttl=255):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), os.getpid() & 0xFFFF,
                      0, ttl, 112, 0, ip4(src), ip4(dst))
    c = csum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def flood(src, count, rate, group, *unicast):
    count, rate = int(count), float(rate)
    vips = ["10.9.0.100", "10.9.0.101", "10.9.0.102"]
    good = vrrp2(51, 200, vips)
    kinds = []
    kinds.append(("auth_mismatch", ipv4(vrrp2(51, 200, vips, b"2222"), src, group), group))
    kinds.append(("bad_ttl", ipv4(good, src, group, ttl=254), group))
    bad = bytearray(good)
    bad[6] ^= 0x5A
    kinds.append(("bad_checksum", ipv4(bytes(bad), src, group), group))
    kinds.append(("unknown_vrid", ipv4(vrrp2(99, 200, vips), src, group), group))
    kinds.append(("too_short", ipv4(good[:6], src, group), group))
    kinds.append(("length_mismatch", ipv4(good[:-4], src, group), group))
    v1 = bytearray(good)
    v1[0] = 0x11
    kinds.append(("bad_version", ipv4(bytes(v1), src, group), group))
    kinds.append(("version_mismatch", ipv4(vrrp3(51, 200, vips, src, group), src, group), group))
    for d in unicast:  # a correct advert, priority 254, from an address that is no peer
        kinds.append(("unknown_unicast_peer", ipv4(vrrp2(52, 254, ["10.9.0.110"]), src, d), d))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = {}
    t0 = time.time()
    batch = max(1, int(rate / 100))
    n = 0
    while n < count:
        for _ in range(min(batch, count - n)):
            name, pkt, dst = kinds[n % len(kinds)]
            try:
                s.sendto(pkt, (dst, 0))
                sent[name] = sent.get(name, 0) + 1
            except OSError:
                sent["send_error"] = sent.get("send_error", 0) + 1
            n += 1
        ahead = t0 + n / rate - time.time()
        if ahead > 0:
            time.sleep(ahead)
    print(f"{time.time() - t0:.3f}", " ".join(f"{k}={v}" for k, v in sent.items()))


def proc(*pids):
    ticks = rss = hwm = fds = 0
    for p in pids:
        try:
            stat = open(f"/proc/{p}/stat").read()
            f = stat.rsplit(")", 1)[1].split()
            ticks += int(f[11]) + int(f[12])
            for l in open(f"/proc/{p}/status"):
                if l.startswith("VmRSS:"):
                    rss += int(l.split()[1])
                elif l.startswith("VmHWM:"):
                    hwm += int(l.split()[1])
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except (OSError, IndexError, ValueError):
            pass
    print(ticks, rss, hwm, fds)


def ts_of(line):
    import datetime
    if not line.startswith("["):
        return None
    return datetime.datetime.fromisoformat(line[1:line.index("]")]).timestamp()


def mon(path, vip, t0, t1=None):
    t0 = float(t0)
    t1 = float(t1) if t1 else float("inf")
    adds = dels = 0
    first_add = first_del = "nan"
    held, since = 0.0, None
    for line in open(path, errors="replace"):
        t = ts_of(line)
        if t is None or t < t0 or t > t1 or f"inet {vip}/" not in line:
            continue
        if "Deleted" in line:
            dels += 1
            if first_del == "nan":
                first_del = f"{t:.6f}"
            if since is not None:
                held += t - since
                since = None
        else:
            adds += 1
            if first_add == "nan":
                first_add = f"{t:.6f}"
            since = t
    if since is not None:
        held += min(t1, time.time()) - since
    print(adds, dels, first_add, first_del, f"{held:.3f}")


def garp(path, mac, ip, t0):
    t0 = float(t0)
    for line in open(path, errors="replace"):
        f = line.split()
        if len(f) < 2:
            continue
        try:
            t = float(f[0])
        except ValueError:
            continue
        if t >= t0 and f[1] == mac and (f"who-has {ip} tell {ip}" in line or
                                        f"who-has {ip} (ff:ff:ff:ff:ff:ff) tell {ip}" in line):
            print(f"{t:.6f}")
            return
    print("nan")


def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return {}


def all_drops(v):
    out = dict(v.get("vrrp_drops") or {})
    for i in v.get("instances") or []:
        for k, n in (i.get("drops") or {}).items():
            out[k] = out.get(k, 0) + n
    return out


def drops(before, after):
    b, a = all_drops(load(before)), all_drops(load(after))
    d = {k: a[k] - b.get(k, 0) for k in a if a[k] - b.get(k, 0) > 0}
    print(",".join(f"{k}={v}" for k, v in sorted(d.items())) or "none")


def status(field, path):
    v = load(path)
    if field == "transitions":
        print(sum(i.get("transitions_total", 0) for i in v.get("instances") or []))
    else:
        print(v.get(field, "?"))


def table(path):
    rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    w = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        r = r + [""] * (len(w) - len(r))
        print("| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |")
        if k == 0:
            print("|" + "|".join("-" * (x + 2) for x in w) + "|")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"client": client, "outage": outage, "flood": flood, "proc": proc, "mon": mon,
     "garp": garp, "drops": drops, "status": status, "table": table}[cmd](*args)
