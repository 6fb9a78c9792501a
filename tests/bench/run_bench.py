#!/usr/bin/python3
"""make bench: throughput and latency of direct, json-tcp-lb, HAProxy and the Go original.

Every run starts a fresh lb-sink (1 port direct, 2 ports behind a proxy) and a fresh proxy,
sends a fixed number of lines with lb-loadgen, waits until the sink has every byte, then stops
both. Throughput is the sink's received bytes over the time from its first to its last received
byte (end to end: through the proxy into the sinks). A run whose sink did not get every line
exactly once (the sink's verifier) is marked failed. Standard library only.

Parts (--only): plain (C = 1 and 4 connections, 64- and 200-byte lines), tls (C = 4, 200-byte
lines, TLS from the clients and to the targets), mem (C = 100: the proxy's peak memory with many
clients) and latency. "json-tcp-lb -threads 1" is json-tcp-lb with all clients on the
data-plane thread, to compare with its default of 2 I/O threads. "json-tcp-lb x2 -threads 1"
(only when named in --modes) is two single-thread json-tcp-lb processes, each with half the
clients and half the connections: what a write path split per thread could gain at most.
"relay copy" and "relay splice" (not with TLS, not in the latency runs) are lb-relay, a
do-nothing proxy (one target connection per client, bytes forwarded as they come, by read and
write or by splice(2)): the ceiling this machine sets for any proxy ("x splice" compares with
relay splice). "go-json-tcp-lb" is the Go program json-tcp-lb replaces, built from
../shared/peers/go-json-tcp-lb with Debian's golang-go (skipped with a message when either is
missing).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
HAPROXY = os.environ.get("HAPROXY", "/usr/sbin/haproxy")  # override: HAPROXY=/path
T1 = "json-tcp-lb -threads 1"
GO = "go-json-tcp-lb"
SHARDED = "json-tcp-lb x2 -threads 1"
COPY = "relay copy"
SPLICE = "relay splice"  # the ceiling the "x splice" column compares with
RELAYS = (COPY, SPLICE)
MODES = ("direct",) + RELAYS + ("json-tcp-lb", "haproxy", GO, T1)
ALL_MODES = MODES + (SHARDED,)
# The Go original's source: a peer of the project, not part of it (override: GO_LB_SRC=/path).
GO_SRC = os.environ.get("GO_LB_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "peers",
    "go-json-tcp-lb"))
PARTS = ("plain", "tls", "mem", "latency")
LB_ARGS = []  # --lb-args: more json-tcp-lb flags


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# A minimal config so the certificates do not depend on the system's openssl.cnf.
OPENSSL_CNF = """[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def build_go_peer(tmpdir):
    """Builds the Go original into tmpdir; (path, version) or raises RuntimeError saying why."""
    go = shutil.which("go") or ("/usr/bin/go" if os.access("/usr/bin/go", os.X_OK) else None)
    if go is None:
        raise RuntimeError("go not found (apt-get install golang-go)")
    if not os.path.isfile(os.path.join(GO_SRC, "main.go")):
        raise RuntimeError(f"{GO_SRC}/main.go not found (GO_LB_SRC=/path overrides)")
    src = os.path.join(tmpdir, "go-src")  # the peers folder may be read-only
    shutil.copytree(GO_SRC, src)
    out = os.path.join(tmpdir, "go-json-tcp-lb")
    env = dict(os.environ, GOCACHE=os.path.join(tmpdir, "go-cache"), GOFLAGS="-mod=mod",
               GOPATH=os.path.join(tmpdir, "go-path"), GOPROXY="off", CGO_ENABLED="0")
    r = subprocess.run([go, "build", "-o", out, "."], cwd=src, env=env, capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"go build failed: {r.stderr.strip()[:300]}")
    v = subprocess.run([go, "version"], capture_output=True, text=True).stdout.strip()
    return out, v


def make_tls_files(tmpdir):
    """A throwaway CA and a server certificate for IP 127.0.0.1, made once per bench run.

    Every TLS client in the bench verifies the server against this CA (as a production setup
    would); verification only costs at the handshake. EC P-256 keeps key generation instant.
    Returns {"cert", "key", "ca", "combined"} (combined = cert + key, HAProxy's crt file).
    Raises RuntimeError when openssl is missing or fails.
    """
    d = os.path.join(tmpdir, "tls")
    os.makedirs(d, exist_ok=True)
    f = {k: os.path.join(d, n) for k, n in (
        ("cnf", "openssl.cnf"), ("ca", "ca.pem"), ("ca_key", "ca.key"), ("csr", "server.csr"),
        ("cert", "server.pem"), ("key", "server.key"), ("combined", "combined.pem"))}
    with open(f["cnf"], "w") as out:
        out.write(OPENSSL_CNF)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        ["req", "-config", f["cnf"], "-x509", *ec, "-keyout", f["ca_key"], "-out", f["ca"],
         "-days", "2", "-subj", "/CN=json-tcp-lb bench CA", "-extensions", "ca"],
        ["req", "-config", f["cnf"], *ec, "-keyout", f["key"], "-out", f["csr"],
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", f["csr"], "-CA", f["ca"], "-CAkey", f["ca_key"],
         "-set_serial", "1", "-days", "2", "-extfile", f["cnf"], "-extensions", "server",
         "-out", f["cert"]],
        ["verify", "-CAfile", f["ca"], f["cert"]],
    ]
    for step in steps:
        try:
            p = subprocess.run(["openssl", *step], capture_output=True, text=True, timeout=60)
        except OSError as e:
            raise RuntimeError(f"openssl: {e}")
        if p.returncode != 0:
            raise RuntimeError(f"openssl {step[0]}: {p.stderr.strip()[:300]}")
    with open(f["combined"], "w") as out:
        for k in ("cert", "key"):
            with open(f[k]) as part:
                out.write(part.read())
    return f


class SinkProc:
    """lb-sink with N ports; watches its progress lines to know when every byte arrived."""

    def __init__(self, bin_dir, ports, run_id, streams, lines, latency=False, verify=True,
                 tls=None):
        args = [os.path.join(bin_dir, "tests/tools/lb-sink")]
        for _ in range(ports):
            args += ["-listen", f"{HOST}:0"]
        if tls:
            args += ["-tls-cert", tls["cert"], "-tls-key", tls["key"]]
        args += ["-report-interval", "50ms", "-expect-run", run_id,
                 "-expect-streams", str(streams), "-expect-lines", str(lines)]
        if latency:
            args.append("-latency")
        if not verify:
            args.append("-no-verify")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.addresses = [self.proc.stdout.readline().split()[1] for _ in range(ports)]
        self.bytes = 0
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read_progress, daemon=True)
        self.reader.start()

    def _read_progress(self):
        pattern = re.compile(r"^progress lines=(\d+) bytes=(\d+)")
        for line in self.proc.stderr:
            m = pattern.match(line)
            if m:
                with self.cond:
                    self.bytes = int(m.group(2))
                    self.cond.notify_all()

    def wait_bytes(self, expected, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.bytes < expected:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return False
                self.cond.wait(left)
        return True

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # leave no sink behind; the run fails
            self.proc.kill()
            out, _ = self.proc.communicate()
        for line in out.splitlines():
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError("lb-sink printed no report")


class Proxy:
    """json-tcp-lb, HAProxy, the Go original or lb-relay in front of the sink's ports.

    connections, threads: json-tcp-lb's -connections and -threads (None: its default). tls:
    make_tls_files() for TLS from the clients and to the targets, None for plain TCP. name
    names the log file.
    """

    def __init__(self, kind, bin_dir, targets, tmpdir, connections=4, tls=None, name=None,
                 threads=None, go_binary=None):
        self.kind = kind
        self.port = free_port()
        self.log = open(os.path.join(tmpdir, f"{name or kind}.log"), "w")
        if kind == "json-tcp-lb":
            args = [os.path.join(bin_dir, "dataplane/json-tcp-lb"), "-addr", HOST,
                    "-port", str(self.port), "-target", ",".join(targets),
                    "-control-addr", "off", "-metrics-addr", "off", "-log-level", "warn"]
            if connections is not None:
                args += ["-connections", str(connections)]
            if threads is not None:
                args += ["-threads", str(threads)]
            args += LB_ARGS
            if tls:
                args += ["-tls-cert", tls["cert"], "-tls-key", tls["key"], "-tls-target",
                         "-tls-target-ca", tls["ca"]]
        elif kind == GO:
            # Its defaults, like json-tcp-lb's; it has no CA flag, so it cannot verify the
            # targets' certificate (less work than the others do).
            args = [go_binary, "-addr", HOST, "-port", str(self.port),
                    "-target", ",".join(targets), "-connections", str(connections or 4)]
            if tls:
                args += ["-tls-cert", tls["cert"], "-tls-key", tls["key"], "-tls-target",
                         "-tls-target-skip-verify"]
        elif kind in RELAYS:
            args = [os.path.join(bin_dir, "tests/tools/lb-relay"), "-listen",
                    f"{HOST}:{self.port}", "-target", ",".join(targets)]
            if kind == COPY:
                args.append("-copy")
        else:
            cfg = os.path.join(tmpdir, f"{name or kind}.cfg")
            # Same TLS work as json-tcp-lb: terminate the clients' TLS, verify the targets.
            bind_tls = f" ssl crt {tls['combined']}" if tls else ""
            server_tls = f" ssl verify required ca-file {tls['ca']}" if tls else ""
            servers = "\n".join(f"    server s{i} {t}{server_tls}"
                                for i, t in enumerate(targets))
            # High, but within the file-descriptor limit (HAProxy refuses to start otherwise).
            import resource
            maxconn = max(256, min(10000, (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 64) // 2))
            with open(cfg, "w") as f:
                f.write(f"""global
    maxconn {maxconn}
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind {HOST}:{self.port}{bind_tls}
    maxconn {maxconn}
    default_backend be
backend be
    balance roundrobin
{servers}
""")
            args = [HAPROXY, "-db", "-f", cfg]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_listening(self.port, self.proc):
            self.stop()
            raise RuntimeError(f"{kind} did not start listening (log: {self.log.name})")

    def stop(self):
        if self.proc.poll() is None:
            # The Go original idles 5 s before it exits on SIGTERM; the run is over by now (the
            # sink has every byte), so it is killed.
            self.proc.send_signal(signal.SIGKILL if self.kind == GO else signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_loadgen(opts, target, conns, lines, size, run_id, rate, latency, verify, tls,
                  first_stream=0):
    args = [os.path.join(opts.build, "tests/tools/lb-loadgen"), "-target", target,
            "-connections", str(conns), "-lines", str(lines), "-size", str(size),
            "-run-id", run_id, "-first-stream", str(first_stream)]
    if rate:
        args += ["-rate", str(rate)]
    if latency:
        args.append("-stamp-time")
    if not verify:
        args.append("-repeat-chunk")  # format one chunk, resend it: the generator keeps up
    if tls:
        args += ["-tls", "-tls-ca", tls["ca"]]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_loadgen(gen, timeout=300):
    """(exit status, parsed JSON result or None, stderr) of a started lb-loadgen."""
    try:
        out, err = gen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        gen.kill()
        out, err = gen.communicate()
    try:
        return gen.returncode, json.loads(out.strip().splitlines()[-1]), err
    except (ValueError, IndexError):
        return gen.returncode, None, err


def one_run(opts, mode, conns, size, total_bytes, tmpdir, rate=0, latency=False, tls=None,
            lb_connections=4):
    lines = max(1, total_bytes // size // conns)
    expected = lines * conns * size
    run_id = f"b{os.getpid()}"
    # Parsing every line would make the sink the bottleneck of the throughput runs: they count
    # bytes and lines only (unless --verify); latency runs always verify every line.
    verify = latency or opts.verify
    sink = SinkProc(opts.build, 1 if mode == "direct" else 2, run_id, conns, lines, latency,
                    verify, tls)
    # SHARDED: two proxies, each with half the clients (streams split, so the sink still sees
    # 0..conns-1) and half the connections; CPU and peak RSS are their sums.
    shards = 2 if mode == SHARDED else 1
    proxies, gens = [], []
    result = {"mode": mode, "connections": conns, "size": size, "tls": bool(tls), "ok": False,
              "expected_bytes": expected}
    try:
        if mode == "direct":
            targets = [sink.addresses[0]]
        else:
            kind, threads = ("json-tcp-lb", 1) if mode in (T1, SHARDED) else (mode, None)
            per_proxy = lb_connections if shards == 1 else (lb_connections or 4) // shards
            for i in range(shards):
                proxies.append(Proxy(kind, opts.build, sink.addresses, tmpdir,
                                     connections=per_proxy, tls=tls, threads=threads,
                                     name=f"{mode.replace(' ', '')}{i}",
                                     go_binary=opts.go_binary))
            targets = [f"{HOST}:{p.port}" for p in proxies]
            cpu0 = sum(cpu_seconds(p.proc.pid) for p in proxies)
        share = conns // len(targets)
        for i, target in enumerate(targets):
            gens.append(start_loadgen(opts, target, share, lines, size, run_id, rate, latency,
                                      verify, tls, first_stream=i * share))
        gen_problems, loadgens = [], []
        for gen in gens:
            rc, loadgen, err = finish_loadgen(gen)
            if rc != 0:
                gen_problems.append(f"lb-loadgen exit {rc}")
            if loadgen is None:
                gen_problems.append(f"lb-loadgen: {err.strip()[:300]}")
            else:
                loadgens.append(loadgen)
        if len(loadgens) == 1:
            result["loadgen"] = loadgens[0]
        elif loadgens:
            result["loadgen"] = {"lines_per_sec": sum(g["lines_per_sec"] for g in loadgens),
                                 "tls_cipher": loadgens[0].get("tls_cipher", "")}
        arrived = sink.wait_bytes(expected, timeout=60)
        if proxies:
            result["proxy_cpu_s"] = sum(cpu_seconds(p.proc.pid) for p in proxies) - cpu0
            result["proxy_peak_rss_kb"] = sum(vm_hwm_kb(p.proc.pid) for p in proxies)
    finally:
        for gen in gens:
            if gen.poll() is None:
                gen.kill()
                gen.wait()
        try:
            report = sink.stop()
        finally:
            for p in proxies:
                p.stop()
    got = report["bytes"]
    verify = report.get("verify", {})
    result["verified_lines"] = "verify" in report
    span = (report["last_byte_unix_ns"] - report["first_byte_unix_ns"]) / 1e9
    result.update({
        "sink_bytes": got, "sink_lines": report["lines"], "seconds": span,
        "mb_per_s": got / span / 1e6 if span > 0 else 0.0,
        "lines_per_s": report["lines"] / span if span > 0 else 0.0,
        "verify": verify,
    })
    if "latency" in report:
        result["latency"] = report["latency"]
    if proxies and got:
        result["proxy_cpu_s_per_gb"] = result["proxy_cpu_s"] / (got / 1e9)
    problems = gen_problems
    if not arrived or got != expected:
        problems.append(f"sink got {got} of {expected} bytes")
    if report["lines"] != lines * conns:
        problems.append(f"sink got {report['lines']} of {lines * conns} lines")
    if "verify" in report and (verify.get("ok") != lines * conns or any(
            verify.get(k, 0) for k in ("duplicate", "malformed", "missing", "unexpected"))):
        problems.append(f"verify {verify}")
    if problems:
        result["error"] = "; ".join(problems)
    else:
        result["ok"] = True
    return result


def median(values):
    return statistics.median(values) if values else None


def fmt(v, spec):
    if v is None:
        width = re.match(r"\d*", spec).group(0)
        return format("-", f">{width}")
    return format(v, spec)


def workloads(opts, modes, parts, tls):
    """The throughput table's row groups, in print order; each runs in its modes."""
    out = []
    if "plain" in parts:
        for size in (64, 200):
            for conns in (1, 4):
                out.append({"workload": f"C={conns} {size}B", "connections": conns, "size": size,
                            "mb": opts.mb_200 if size == 200 else opts.mb_64,
                            "modes": [m for m in modes if conns > 1 or m != SHARDED]})
    if "tls" in parts and tls:
        out.append({"workload": "C=4 200B TLS", "connections": 4, "size": 200,
                    "mb": opts.mb_tls, "modes": [m for m in modes if m not in RELAYS],
                    "tls": tls})
    if "mem" in parts:
        # Many clients at once: the proxy's per-client memory shows in its peak RSS. json-tcp-lb
        # at its default -connections, as a user would run it; direct has no proxy to measure.
        out.append({"workload": "C=100 200B", "connections": 100, "size": 200,
                    "mb": opts.mb_mem, "lb_connections": None,
                    "modes": [m for m in modes if m != "direct"]})
    return out


def throughput(opts, modes, parts, tls, tmpdir):
    cells = []
    for w in workloads(opts, modes, parts, tls):
        conns, size = w["connections"], w["size"]
        # Rep by rep, every mode in turn (not all reps of one mode, then the next): this box's
        # speed drifts by tens of percent within minutes, and interleaving spreads the drift
        # over all modes instead of favouring whichever ran in a fast stretch.
        runs = {mode: [] for mode in w["modes"]}
        for rep in range(opts.reps):
            for mode in w["modes"]:
                try:
                    r = one_run(opts, mode, conns, size, w["mb"] * 10**6, tmpdir,
                                tls=w.get("tls"), lb_connections=w.get("lb_connections", 4))
                except Exception as e:  # a run that cannot run is reported, not fatal
                    r = {"mode": mode, "connections": conns, "size": size, "ok": False,
                         "error": str(e)}
                runs[mode].append(r)
                status = "ok" if r["ok"] else "FAILED: " + r.get("error", "")
                cipher = r.get("loadgen", {}).get("tls_cipher")
                if cipher:  # what the proxy chose for its clients (they offer AES-256 first)
                    status += f" ({cipher})"
                print(f"  {mode:25} {w['workload']:13} rep {rep + 1}: "
                      f"{fmt(r.get('mb_per_s'), '8.0f')} MB/s "
                      f"{fmt(r.get('seconds'), '5.2f')} s  {status}", flush=True)
        for mode in w["modes"]:
            good = [r for r in runs[mode] if r["ok"]]
            cells.append({
                "workload": w["workload"], "mode": mode, "connections": conns, "size": size,
                "tls": "tls" in w, "runs": runs[mode], "ok_runs": len(good),
                "mb_per_s": median([r["mb_per_s"] for r in good]),
                "lines_per_s": median([r["lines_per_s"] for r in good]),
                "proxy_cpu_s_per_gb": median([r["proxy_cpu_s_per_gb"] for r in good
                                              if "proxy_cpu_s_per_gb" in r]),
                "proxy_peak_rss_mb": max([r["proxy_peak_rss_kb"] / 1024 for r in good
                                          if "proxy_peak_rss_kb" in r], default=None),
            })
    index = {(c["mode"], c["workload"]): c for c in cells}
    for c in cells:
        d = index.get(("direct", c["workload"]))
        h = index.get(("haproxy", c["workload"]))
        g = index.get((GO, c["workload"]))
        r = index.get((SPLICE, c["workload"]))
        hc = h and h["proxy_cpu_s_per_gb"]
        c["vs_go"] = (c["mb_per_s"] / g["mb_per_s"]
                      if g and g["mb_per_s"] and c["mb_per_s"] else None)
        c["vs_splice"] = (c["mb_per_s"] / r["mb_per_s"]
                          if r and r["mb_per_s"] and c["mb_per_s"] else None)
        c["cpu_vs_haproxy"] = (c["proxy_cpu_s_per_gb"] / hc
                               if hc and c["proxy_cpu_s_per_gb"] else None)
        c["vs_direct"] = (c["mb_per_s"] / d["mb_per_s"]
                          if d and d["mb_per_s"] and c["mb_per_s"] else None)
        c["vs_haproxy"] = (c["mb_per_s"] / h["mb_per_s"]
                           if h and h["mb_per_s"] and c["mb_per_s"] else None)
    return cells


def latency(opts, modes, tmpdir):
    out = []
    total_lines = opts.latency_rate * opts.latency_seconds
    for mode in [m for m in modes if m not in (T1, SHARDED) + RELAYS]:
        runs = []
        for rep in range(opts.latency_reps):
            try:
                r = one_run(opts, mode, 4, 200, total_lines * 200, tmpdir,
                            rate=opts.latency_rate, latency=True)
            except Exception as e:
                r = {"mode": mode, "ok": False, "error": str(e)}
            runs.append(r)
            lat = r.get("latency", {})
            status = "ok" if r["ok"] else "FAILED: " + r.get("error", "")
            print(f"  latency {mode:12} rep {rep + 1}: p50 {fmt(lat.get('p50_ns', 0) / 1e3, '7.1f')} us"
                  f"  p99 {fmt(lat.get('p99_ns', 0) / 1e3, '7.1f')} us  {status}", flush=True)
        good = [r for r in runs if r["ok"] and r.get("latency", {}).get("count")]
        out.append({
            "mode": mode, "runs": runs, "ok_runs": len(good), "ok": len(good) == len(runs),
            "lines_per_s": median([r["loadgen"]["lines_per_sec"] for r in good]),
            "p50_us": median([r["latency"]["p50_ns"] / 1e3 for r in good]),
            "p99_us": median([r["latency"]["p99_ns"] / 1e3 for r in good]),
            "max_us": max([r["latency"]["max_ns"] / 1e3 for r in good], default=None),
        })
    direct = next((r for r in out if r["mode"] == "direct"), None)
    for r in out:
        for q in ("p50", "p99"):
            r[f"added_{q}_us"] = (r[f"{q}_us"] - direct[f"{q}_us"]
                                  if direct and r[f"{q}_us"] is not None
                                  and direct[f"{q}_us"] is not None else None)
    return out


def print_tables(cells, lat, skipped):
    if cells:
        print()
        print("Throughput (medians; MB/s = sink bytes / (last byte - first byte received), 1 MB = 1e6 B)")
        head = (f"{'workload':14} {'mode':25} {'MB/s':>7} {'Mlines/s':>8} {'x direct':>8} "
                f"{'x haproxy':>9} {'x go':>5} {'x splice':>8} {'CPU s/GB':>8} {'CPU x hap':>9} "
                f"{'RSS MB':>7} {'ok':>4}")
        print(head)
        print("-" * len(head))
        for c in cells:
            print(f"{c['workload']:14} {c['mode']:25} {fmt(c['mb_per_s'], '7.0f')} "
                  f"{fmt(c['lines_per_s'] and c['lines_per_s'] / 1e6, '8.2f')} "
                  f"{fmt(c['vs_direct'], '8.2f')} {fmt(c['vs_haproxy'], '9.2f')} "
                  f"{fmt(c['vs_go'], '5.2f')} {fmt(c['vs_splice'], '8.2f')} "
                  f"{fmt(c['proxy_cpu_s_per_gb'], '8.2f')} "
                  f"{fmt(c['cpu_vs_haproxy'], '9.2f')} {fmt(c['proxy_peak_rss_mb'], '7.1f')} "
                  f"{c['ok_runs']}/{len(c['runs'])}")
    if lat:
        print()
        print("Latency (4 connections, 200-byte lines, fixed rate; receive time - ts stamped by "
              "the generator; medians of the runs, max over them; added = minus direct)")
        print(f"{'mode':12} {'lines/s':>8} {'p50 us':>8} {'p99 us':>8} {'max us':>9} "
              f"{'+p50 us':>8} {'+p99 us':>8} {'ok':>4}")
        for r in lat:
            print(f"{r['mode']:12} {fmt(r.get('lines_per_s'), '8.0f')} "
                  f"{fmt(r.get('p50_us'), '8.1f')} {fmt(r.get('p99_us'), '8.1f')} "
                  f"{fmt(r.get('max_us'), '9.1f')} {fmt(r.get('added_p50_us'), '8.1f')} "
                  f"{fmt(r.get('added_p99_us'), '8.1f')} {r['ok_runs']}/{len(r['runs'])}")
    for s in skipped:
        print(f"skipped: {s}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mb-200", type=int, default=1500, help="MB per run with 200-byte lines")
    ap.add_argument("--mb-64", type=int, default=1000, help="MB per run with 64-byte lines")
    ap.add_argument("--mb-tls", type=int, default=600, help="MB per run of the TLS workload")
    ap.add_argument("--mb-mem", type=int, default=1000,
                    help="MB per run of the 100-connection memory workload")
    ap.add_argument("--only", default=",".join(PARTS),
                    help=f"comma list of parts to run (default all): {', '.join(PARTS)}")
    ap.add_argument("--latency", action="store_true", help="latency runs only (--only latency)")
    ap.add_argument("--no-latency", action="store_true", help="no latency runs")
    ap.add_argument("--latency-rate", type=int, default=50000)
    ap.add_argument("--latency-seconds", type=int, default=3)
    ap.add_argument("--latency-reps", type=int, default=3)
    ap.add_argument("--verify", action="store_true",
                    help="throughput runs also parse and verify every line (slows the sink)")
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"comma list (default: {', '.join(MODES)}); also: {SHARDED}")
    ap.add_argument("--lb-args", default="",
                    help="more json-tcp-lb flags, space-separated (e.g. '-queue-bytes 4MiB')")
    ap.add_argument("--out", default=None, help="default: BUILD/bench/results.json")
    opts = ap.parse_args()
    LB_ARGS.extend(opts.lb_args.split())

    modes = [m.strip() for m in opts.modes.split(",") if m.strip()]
    tools = ["tests/tools/lb-sink", "tests/tools/lb-loadgen", "dataplane/json-tcp-lb"]
    if any(m in RELAYS for m in modes):
        tools.append("tests/tools/lb-relay")
    for tool in tools:
        if not os.access(os.path.join(opts.build, tool), os.X_OK):
            sys.exit(f"bench: {opts.build}/{tool} missing; run make build")
    parts = [p.strip() for p in opts.only.split(",") if p.strip()]
    for name, given, known in (("--modes", modes, ALL_MODES), ("--only", parts, PARTS)):
        unknown = [x for x in given if x not in known]
        if unknown:
            sys.exit(f"bench: {name}: unknown {unknown}; known: {', '.join(known)}")
    if opts.latency:
        parts = ["latency"]
    if opts.no_latency and "latency" in parts:
        parts.remove("latency")
    skipped = []
    if "haproxy" in modes and not os.access(HAPROXY, os.X_OK):
        modes.remove("haproxy")
        skipped.append(f"haproxy: {HAPROXY} not found (apt-get install haproxy; make deps)")
        print(f"bench: {skipped[-1]}; skipping HAProxy", flush=True)

    opts.go_binary = None
    machine = {
        "nproc": os.cpu_count(),
        "kernel": os.uname().release,
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                     if l.startswith("model name")), "unknown"),
    }
    if "haproxy" in modes:
        v = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True).stdout.splitlines()
        machine["haproxy"] = v[0] if v else "unknown"
    print(f"bench: {machine}", flush=True)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lb-bench-") as tmpdir:
        if GO in modes:
            try:
                opts.go_binary, machine["go"] = build_go_peer(tmpdir)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                modes.remove(GO)
                skipped.append(f"{GO}: {e}")
                print(f"bench: {skipped[-1]}; skipping the Go original", flush=True)
        tls = None
        if "tls" in parts:
            try:
                tls = make_tls_files(tmpdir)
            except RuntimeError as e:
                skipped.append(f"tls: cannot make a test certificate ({e})")
                print(f"bench: {skipped[-1]}; skipping the TLS workload", flush=True)
        cells = throughput(opts, modes, parts, tls, tmpdir)
        lat = latency(opts, modes, tmpdir) if "latency" in parts else []
    results = {"machine": machine, "parts": parts, "modes": modes,
               "throughput": cells, "latency": lat, "skipped": skipped,
               "method": "MB/s and lines/s from the sink: bytes received over first-to-last "
                         "received byte (end to end, all bytes at the sinks); a run counts only "
                         "if the sink got every byte and line (throughput: counted; latency and "
                         "--verify: every line parsed and checked exactly once)",
               "seconds": time.monotonic() - started}
    out = opts.out or os.path.join(opts.build, "bench", "results.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print_tables(cells, lat, skipped)
    print(f"\nresults: {out} ({results['seconds']:.0f} s)")
    failed = [c for c in cells if c["ok_runs"] < len(c["runs"])] + [r for r in lat
                                                                      if not r.get("ok")]
    if failed:
        print(f"bench: {len(failed)} workload(s) had failed runs (see errors above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
