#!/usr/bin/python3
"""make bench-fleet: how fast lb-controlplane brings a fleet of json-tcp-lb data planes in line.

Starts one lb-sink (2 ports), N json-tcp-lb data planes (-connections 1, control API on a free
port) and lb-controlplane with a config file naming the sink and every data plane, all on
127.0.0.1. Four scenarios, in order:

  initial configuration    lb-controlplane starts; every data plane gets its first push
  file change              the config file is replaced (rename) with the other sink port
  control-plane restart    SIGTERM, the file changes (both sink ports), lb-controlplane starts
  all data planes restart  SIGKILL every json-tcp-lb, start them again on the same control ports

Convergence is measured from outside: t0 is taken just before the event, and a data plane has
converged when lb-controlplane's log line "data plane ADDR: runs cfg-X (...)" for the new
desired version arrives on its stderr (read on a thread, time.monotonic() per line). Reported:
p50, p99 and max over the data planes, lb-controlplane's CPU seconds per scenario (utime + stime
from /proc/PID/stat), its peak RSS (VmHWM) and its CPU while idle with N status streams open.
Standard library only.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TOOLS = {"sink": "tests/tools/lb-sink", "dp": "dataplane/json-tcp-lb",
         "cp": "controlplane/lb-controlplane"}
SCENARIOS = (("initial", "initial configuration"), ("file_change", "file change"),
             ("cp_restart", "control-plane restart"), ("dp_restart", "all data planes restart"))

# lb-controlplane's log lines (controlplane/control_plane.cc, data_plane_link.cc).
DESIRED = re.compile(r"desired config (cfg-\w+): ")
RUNS = re.compile(r"data plane 127\.0\.0\.1:(\d+): runs (cfg-\w+) \((\d+) ms after it changed\)")
CONNECTED = re.compile(r"data plane 127\.0\.0\.1:(\d+): connected; it runs ")
LEVEL = re.compile(r"^\S+ ((?:WARN|ERROR) .*)")  # after the timestamp


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


def percentile(values, q):
    """Nearest rank: the smallest value with at least q of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def fmt(v, spec):
    if v is None:
        return format("-", f">{re.match(r'[0-9]*', spec).group(0)}")
    return format(v, spec)


class Process:
    """A child whose stdout and stderr lines are read on a thread, each stamped with
    time.monotonic() when it arrives, and copied to a log file (seconds since t_base first)."""

    every = []  # every Process started, so cleanup can find what is left

    def __init__(self, name, args, log_path, t_base):
        self.name = name
        self.args = args
        self.lines = []  # (monotonic seconds, line without the newline)
        self.cond = threading.Condition()
        self.eof = False
        self.log = open(log_path, "w")
        self.t_base = t_base
        self.started = time.monotonic()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        Process.every.append(self)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            t = time.monotonic()
            line = line.rstrip("\n")
            self.log.write(f"{t - self.t_base:10.3f} {line}\n")
            with self.cond:
                self.lines.append((t, line))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()
        self.log.close()

    def wait_for(self, pattern, timeout, start=0):
        """The first line at index >= start matching pattern: (time, match, index); None on
        timeout or when the process ended first."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                for j in range(i, len(self.lines)):
                    m = pattern.search(self.lines[j][1])
                    if m:
                        return self.lines[j][0], m, j
                i = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return None
                self.cond.wait(left)

    def wait_exit(self, timeout):
        """Waits (bounded) for the exit; returns the CPU seconds the process used in all (read
        from its zombie before reaping it), None if unknown. Kills it when it does not exit."""
        deadline = time.monotonic() + timeout
        pid = self.proc.pid
        while self.proc.returncode is None:
            try:
                exited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
            except ChildProcessError:
                break
            if exited is not None:
                try:
                    cpu = cpu_seconds(pid)
                except OSError:
                    cpu = None
                self.proc.wait(timeout=5)
                return cpu
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait(timeout=5)
                return None
            time.sleep(0.005)
        return None

    def warnings(self, start=0):
        with self.cond:
            return [m.group(1) for _, line in self.lines[start:] for m in [LEVEL.match(line)]
                    if m]

    def mark(self):
        with self.cond:
            return len(self.lines)


def stop_all(timeout=10.0):
    """SIGTERM to everything still running, then SIGKILL what has not exited by the deadline.
    The sink goes last, so the data planes do not see their target go away."""
    for last in (False, True):
        running = [p for p in Process.every
                   if p.proc.poll() is None and (p.name == "lb-sink") == last]
        for p in running:
            try:
                p.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for p in running:
            try:
                p.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.proc.kill()
                p.proc.wait()
    for p in Process.every:  # their output ends with them; the logs are complete
        p.reader.join(timeout=2)


class Fleet:
    """Everything the scenarios start and stop; every wait is bounded."""

    def __init__(self, opts, tmpdir):
        self.opts = opts
        self.bin = {k: os.path.join(opts.build, v) for k, v in TOOLS.items()}
        self.logdir = os.path.join(tmpdir, "logs")
        # The config has a directory of its own: lb-controlplane watches the whole directory
        # (inotify), and the log files must not wake it.
        self.confdir = os.path.join(tmpdir, "config")
        os.makedirs(self.logdir)
        os.makedirs(self.confdir)
        self.config = os.path.join(self.confdir, "fleet.json")
        self.t_base = time.monotonic()
        self.sink = None
        self.sink_ports = []
        self.planes = []  # Process with .control_port and .data_port, index = data plane number
        self.cp = None  # the running lb-controlplane: Process with .metrics_port
        self.cp_runs = 0
        self.cp_cpu_done = 0.0  # CPU seconds of lb-controlplane processes that have exited
        self.cp_peak_rss_kb = 0

    def start_sink(self):
        args = [self.bin["sink"], "-listen", f"{HOST}:0", "-listen", f"{HOST}:0", "-no-verify",
                "-report-interval", "0"]
        self.sink = Process("lb-sink", args, os.path.join(self.logdir, "sink.log"), self.t_base)
        pattern = re.compile(r"^listening \S+:(\d+)$")
        start = 0
        for _ in range(2):
            got = self.sink.wait_for(pattern, 10, start)
            if not got:
                raise RuntimeError("lb-sink did not print its two listening lines")
            self.sink_ports.append(int(got[1].group(1)))
            start = got[2] + 1

    @staticmethod
    def ports_below_ephemeral_range(n):
        """n free loopback ports below the kernel's ephemeral range. Data planes restart on the
        same control port; a port in that range can meanwhile be taken as the source port of an
        outgoing connection (even the control plane's own reconnect, which then connects to
        itself), and the restarted data plane could not listen on it."""
        try:
            with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
                low = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            low = 32768
        ports = []
        for port in range(max(1024, low - 12000), low):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    continue
            ports.append(port)
            if len(ports) == n:
                return ports
        raise RuntimeError(f"fewer than {n} free ports below {low}")

    def start_planes(self, control_ports=None, generation=1):
        """N json-tcp-lb processes, all started before any is waited for; with control_ports,
        on those control ports (a restart). Returns (first start, last start, last ready)."""
        n = self.opts.planes
        if not control_ports:
            control_ports = self.ports_below_ephemeral_range(n)
        planes = []
        t_first = time.monotonic()
        for i in range(n):
            control = f"{HOST}:{control_ports[i]}"
            args = [self.bin["dp"], "-addr", HOST, "-port", "0", "-control-addr", control,
                    "-metrics-addr", "off", "-connections", "1",
                    "-target", f"{HOST}:{self.sink_ports[0]}"]
            log = os.path.join(self.logdir, f"dp{i:03}.{generation}.log")
            planes.append(Process(f"json-tcp-lb #{i}", args, log, self.t_base))
        t_last = time.monotonic()
        control_re = re.compile(r"control API listening on 127\.0\.0\.1:(\d+)")
        data_re = re.compile(r"json-tcp-lb listening on 127\.0\.0\.1:(\d+)")
        deadline = time.monotonic() + 30
        ready = t_last
        for p in planes:
            c = p.wait_for(control_re, max(0.1, deadline - time.monotonic()))
            d = p.wait_for(data_re, max(0.1, deadline - time.monotonic()))
            if not c or not d:
                tail = "; ".join(line for _, line in p.lines[-3:])
                raise RuntimeError(f"{p.name} did not log its ports in time: {tail or 'no output'}")
            p.control_port, p.data_port = int(c[1].group(1)), int(d[1].group(1))
            p.ready_at = max(c[0], d[0])
            ready = max(ready, p.ready_at)
        self.planes = planes
        return t_first, t_last, ready

    def kill_planes(self):
        for p in self.planes:
            p.proc.kill()
        for p in self.planes:
            p.proc.wait(timeout=10)

    def write_config(self, target_ports, rename=True):
        """Writes the config next to the file and renames it over it; returns the rename as a
        callable when rename is False, so the caller can take t0 just before it."""
        text = json.dumps({
            "targets": [{"address": f"{HOST}:{port}"} for port in target_ports],
            "dataPlanes": [{"address": f"{HOST}:{p.control_port}"} for p in self.planes],
        }, indent=1)
        temp = self.config + ".new"
        with open(temp, "w") as f:
            f.write(text + "\n")
        do_rename = lambda: os.rename(temp, self.config)  # noqa: E731
        if rename:
            do_rename()
            return None
        return do_rename

    def start_cp(self):
        self.cp_runs += 1
        args = [self.bin["cp"], "-config", self.config, "-control-addr", f"{HOST}:0",
                "-metrics-addr", f"{HOST}:0"]
        self.cp = Process("lb-controlplane", args,
                          os.path.join(self.logdir, f"controlplane.{self.cp_runs}.log"),
                          self.t_base)
        got = self.cp.wait_for(re.compile(r"metrics listening on 127\.0\.0\.1:(\d+)"), 10)
        self.cp.metrics_port = int(got[1].group(1)) if got else None
        return self.cp

    def stop_cp(self):
        """SIGTERM and wait for the exit; returns (seconds to exit, CPU seconds it used)."""
        self.note_rss()
        cp = self.cp
        t = time.monotonic()
        cp.proc.send_signal(signal.SIGTERM)
        cpu = cp.wait_exit(timeout=15)
        took = time.monotonic() - t
        if cpu is not None:
            self.cp_cpu_done += cpu
        return took, cpu

    def cp_cpu(self):
        return cpu_seconds(self.cp.proc.pid)

    def note_rss(self):
        try:
            self.cp_peak_rss_kb = max(self.cp_peak_rss_kb, vm_hwm_kb(self.cp.proc.pid))
        except OSError:
            pass

    def metrics(self):
        """lb-controlplane's push counters and data-plane states, {} when unavailable."""
        if not self.cp or not self.cp.metrics_port:
            return {}
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.cp.metrics_port}/metrics",
                                        timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out = {}
        for m in re.finditer(r'^jsontcplb_controlplane_(pushes_total|data_planes)'
                             r'\{(?:result|state)="(\w+)"\} (\S+)$', text, re.M):
            out.setdefault(m.group(1), {})[m.group(2)] = int(float(m.group(3)))
        return out


def converge(fleet, start, t0, version, timeout):
    """Waits (bounded) until every data plane's "runs VERSION" line arrived at index >= start of
    the running control plane's log. Returns per data plane {address, ms, ...}."""
    cp = fleet.cp
    want = {p.control_port: p for p in fleet.planes}
    runs, connected = {}, {}
    deadline = time.monotonic() + timeout
    i = start
    with cp.cond:
        while True:
            for t, line in cp.lines[i:]:
                m = RUNS.search(line)
                if m and m.group(2) == version and int(m.group(1)) in want:
                    runs.setdefault(int(m.group(1)), (t, int(m.group(3))))
                m = CONNECTED.search(line)
                if m:
                    connected.setdefault(int(m.group(1)), t)
            i = len(cp.lines)
            left = deadline - time.monotonic()
            if len(runs) == len(want) or left <= 0 or cp.eof:
                break
            cp.cond.wait(left)
    planes = []
    for port, p in want.items():
        row = {"address": f"{HOST}:{port}", "ms": None, "cp_reported_ms": None,
               "connected_ms": None}
        if port in runs:
            row["ms"] = (runs[port][0] - t0) * 1000
            row["cp_reported_ms"] = runs[port][1]
        if port in connected:
            row["connected_ms"] = (connected[port] - t0) * 1000
        if getattr(p, "ready_at", None) and p.started >= t0:  # started in this scenario
            row["started_ms"] = (p.started - t0) * 1000
            row["ready_ms"] = (p.ready_at - t0) * 1000
        planes.append(row)
    return planes


def summarize(result, planes, n):
    done = [r["ms"] for r in planes if r["ms"] is not None]
    result.update({
        "planes": planes, "converged": len(done), "ok": len(done) == n,
        "p50_ms": percentile(done, 0.50), "p99_ms": percentile(done, 0.99),
        "max_ms": max(done, default=None),
        "slowest": sorted((r for r in planes if r["ms"] is not None),
                          key=lambda r: -r["ms"])[:3],
    })
    connects = [r["connected_ms"] for r in planes if r["connected_ms"] is not None]
    if connects:
        result["connected_p50_ms"] = percentile(connects, 0.50)
        result["connected_max_ms"] = max(connects)
    return result


def push_delta(before, after):
    b, a = before.get("pushes_total", {}), after.get("pushes_total", {})
    return {k: a[k] - b.get(k, 0) for k in a if a[k] - b.get(k, 0)}


def scenario_initial(fleet, opts):
    fleet.write_config([fleet.sink_ports[0]])
    t0 = time.monotonic()
    cp = fleet.start_cp()
    result = {"event": "lb-controlplane started (t0 just before the start)"}
    got = cp.wait_for(DESIRED, 10)
    if not got:
        raise RuntimeError("lb-controlplane logged no desired config: "
                           + "; ".join(line for _, line in cp.lines[-5:]))
    version = got[1].group(1)
    planes = converge(fleet, 0, t0, version, opts.timeout)
    result["cp_cpu_s"] = fleet.cp_cpu()
    result.update(version=version, pushes=push_delta({}, fleet.metrics()))
    listening = cp.wait_for(re.compile(r"fleet API listening on "), 0)
    if listening:
        result["cp_listening_ms"] = (listening[0] - t0) * 1000
    result["desired_logged_ms"] = (got[0] - t0) * 1000
    result["warnings"] = cp.warnings()
    return summarize(result, planes, opts.planes)


def scenario_file_change(fleet, opts):
    rename = fleet.write_config([fleet.sink_ports[1]], rename=False)
    before = fleet.metrics()
    start = fleet.cp.mark()
    cpu0 = fleet.cp_cpu()
    t0 = time.monotonic()
    rename()
    result = {"event": "config file renamed over (target: the other sink port)"}
    got = fleet.cp.wait_for(DESIRED, 10, start)
    if not got:
        result["error"] = "no new desired config logged"
        return summarize(result, converge(fleet, start, t0, "-", 0), opts.planes)
    version = got[1].group(1)
    planes = converge(fleet, start, t0, version, opts.timeout)
    result["cp_cpu_s"] = fleet.cp_cpu() - cpu0
    result.update(version=version, pushes=push_delta(before, fleet.metrics()),
                  desired_logged_ms=(got[0] - t0) * 1000, warnings=fleet.cp.warnings(start))
    return summarize(result, planes, opts.planes)


def scenario_cp_restart(fleet, opts):
    old = fleet.cp
    start_old = old.mark()
    cpu_old0 = fleet.cp_cpu()
    took, cpu_old = fleet.stop_cp()
    result = {"event": "lb-controlplane SIGTERM, file changed (both sink ports), started again "
                       "(t0 just before the start)",
              "old_cp_exit_s": took, "old_cp_exit_code": old.proc.returncode,
              "old_cp_warnings": old.warnings(start_old)}
    fleet.write_config(fleet.sink_ports)
    t0 = time.monotonic()
    cp = fleet.start_cp()
    got = cp.wait_for(DESIRED, 10)
    if not got:
        raise RuntimeError("the restarted lb-controlplane logged no desired config")
    version = got[1].group(1)
    planes = converge(fleet, 0, t0, version, opts.timeout)
    result["cp_cpu_s"] = fleet.cp_cpu() + ((cpu_old - cpu_old0) if cpu_old is not None else 0)
    result["old_cp_cpu_s"] = cpu_old - cpu_old0 if cpu_old is not None else None
    result.update(version=version, pushes=push_delta({}, fleet.metrics()),
                  desired_logged_ms=(got[0] - t0) * 1000, warnings=cp.warnings())
    return summarize(result, planes, opts.planes)


def scenario_dp_restart(fleet, opts, version):
    before = fleet.metrics()
    start = fleet.cp.mark()
    cpu0 = fleet.cp_cpu()
    ports = [p.control_port for p in fleet.planes]
    t_kill = time.monotonic()
    fleet.kill_planes()
    t0 = time.monotonic()
    t_first, t_last, ready = fleet.start_planes(control_ports=ports, generation=2)
    result = {"event": "SIGKILL every json-tcp-lb, start them again on the same control ports "
                       "(t0 just before the first start)",
              "kill_and_wait_ms": (t0 - t_kill) * 1000,
              "starting_ms": (t_last - t_first) * 1000, "all_ready_ms": (ready - t0) * 1000}
    planes = converge(fleet, start, t0, version, opts.timeout)
    result["cp_cpu_s"] = fleet.cp_cpu() - cpu0
    result.update(version=version, pushes=push_delta(before, fleet.metrics()),
                  warnings=fleet.cp.warnings(start))
    summarize(result, planes, opts.planes)
    # Since each data plane's own start, which leaves out the time spent starting the others.
    own = [r["ms"] - r["started_ms"] for r in planes if r["ms"] is not None and "started_ms" in r]
    result["since_own_start_p50_ms"] = percentile(own, 0.5)
    result["since_own_start_max_ms"] = max(own, default=None)
    # From the data plane listening again to lb-controlplane's "connected": its reconnect backoff.
    gap = [r["connected_ms"] - r["ready_ms"] for r in planes
           if r["connected_ms"] is not None and "ready_ms" in r]
    result["reconnect_after_ready_p50_ms"] = percentile(gap, 0.5)
    result["reconnect_after_ready_max_ms"] = max(gap, default=None)
    return result


def idle_cpu(fleet, opts):
    time.sleep(1)  # let the last pushes' replies and status reports settle
    cpu0, t0 = fleet.cp_cpu(), time.monotonic()
    time.sleep(opts.idle_seconds)
    cpu1, t1 = fleet.cp_cpu(), time.monotonic()
    states = fleet.metrics().get("data_planes", {})
    return {"seconds": t1 - t0, "cpu_s": cpu1 - cpu0,
            "percent_of_core": 100 * (cpu1 - cpu0) / (t1 - t0), "states_after": states}


def print_table(n, scenarios, idle, fleet, total_cpu):
    print()
    print(f"Fleet of {n} data planes on loopback; convergence = control plane's \"runs cfg\" "
          f"log line minus the event, ms")
    print(f"{'scenario':26} {'p50':>7} {'p99':>7} {'max':>7} {'converged':>11} {'cp CPU s':>10}")
    for key, title in SCENARIOS:
        r = scenarios.get(key)
        if r is None:
            print(f"{title:26} {'not run':>7}")
            continue
        converged = f"{r['converged']}/{n}" if r["ok"] else f"FAILED {r['converged']}/{n}"
        print(f"{title:26} {fmt(r['p50_ms'], '7.0f')} {fmt(r['p99_ms'], '7.0f')} "
              f"{fmt(r['max_ms'], '7.0f')} {converged:>11} {fmt(r.get('cp_cpu_s'), '10.2f')}")
    idle_text = f"{idle['percent_of_core']:.1f}%" if idle else "-"
    print(f"lb-controlplane: peak RSS {fleet.cp_peak_rss_kb / 1024:.1f} MB, idle with {n} status "
          f"streams: {idle_text} of one core; CPU over the whole run {fmt(total_cpu, '.2f')} s "
          f"({fleet.cp_runs} processes)")


def print_notes(scenarios):
    """What is worth a look: slow data planes, warnings and errors, extra pushes."""
    for key, title in SCENARIOS:
        r = scenarios.get(key)
        if not r:
            continue
        notes = []
        if r.get("error"):
            notes.append(r["error"])
        if r.get("slowest"):
            notes.append("slowest " + ", ".join(f"{s['address']} {s['ms']:.0f}"
                                                for s in r["slowest"]))
        if "connected_p50_ms" in r:
            notes.append(f"\"connected\" lines p50 {r['connected_p50_ms']:.0f} max "
                         f"{r['connected_max_ms']:.0f}")
        if "desired_logged_ms" in r:
            notes.append(f"\"desired config\" logged at {r['desired_logged_ms']:.0f}")
        if "starting_ms" in r:
            notes.append(f"kill+wait {r['kill_and_wait_ms']:.0f}, starting {r['starting_ms']:.0f}, "
                         f"all listening {r['all_ready_ms']:.0f}, since own start p50 "
                         f"{fmt(r['since_own_start_p50_ms'], '.0f')} max "
                         f"{fmt(r['since_own_start_max_ms'], '.0f')}")
            notes.append(f"listening again -> \"connected\" p50 "
                         f"{fmt(r['reconnect_after_ready_p50_ms'], '.0f')} max "
                         f"{fmt(r['reconnect_after_ready_max_ms'], '.0f')} (reconnect backoff)")
        if "old_cp_exit_s" in r:
            notes.append(f"old lb-controlplane exited {r['old_cp_exit_s'] * 1000:.0f} ms after "
                         f"SIGTERM (status {r['old_cp_exit_code']})")
        if r.get("pushes"):
            notes.append("pushes " + ", ".join(f"{k} {v}" for k, v in sorted(r["pushes"].items())))
        warnings = r.get("old_cp_warnings", []) + r.get("warnings", [])
        if warnings:
            kinds = {}
            for w in warnings:
                k = re.sub(r"127\.0\.0\.1:\d+", "ADDR", w)
                kinds[k] = kinds.get(k, 0) + 1
            notes += [f"{c} x {k}" for k, c in sorted(kinds.items(), key=lambda kv: -kv[1])[:4]]
        print(f"  {title}: " + "\n      ".join(notes) if notes else f"  {title}: -")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--planes", type=int, default=50, help="number of data planes (50)")
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--timeout", type=float, default=60,
                    help="seconds to wait for every data plane to converge, per scenario (60)")
    ap.add_argument("--idle-seconds", type=float, default=5,
                    help="length of the idle CPU measurement (5)")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep the temp dir with every process's log and print where it is")
    ap.add_argument("--out", default=None, help="default: BUILD/bench/fleet.json")
    opts = ap.parse_args()
    if opts.planes < 1:
        sys.exit("bench-fleet: --planes must be at least 1")
    missing = [t for t in TOOLS.values() if not os.access(os.path.join(opts.build, t), os.X_OK)]
    if missing:
        sys.exit(f"bench-fleet: missing in {opts.build}: {', '.join(missing)}; run make build")
    # SIGTERM to the bench ends it like Ctrl-C: through the except and finally below.
    def on_sigterm(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_sigterm)

    machine = {"nproc": os.cpu_count(), "kernel": os.uname().release,
               "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                            if l.startswith("model name")), "unknown")}
    print(f"bench-fleet: {opts.planes} data planes; {machine}", flush=True)
    started = time.monotonic()
    tmpdir = tempfile.mkdtemp(prefix="lb-fleet-bench-")
    scenarios, idle, total_cpu, setup, error = {}, None, None, {}, None
    fleet = Fleet(opts, tmpdir)
    try:
        fleet.start_sink()
        t = time.monotonic()
        fleet.start_planes()
        setup["start_planes_s"] = time.monotonic() - t
        print(f"  started lb-sink {fleet.sink_ports} and {opts.planes} data planes in "
              f"{setup['start_planes_s']:.2f} s", flush=True)
        steps = [("initial", lambda: scenario_initial(fleet, opts)),
                 ("file_change", lambda: scenario_file_change(fleet, opts)),
                 ("cp_restart", lambda: scenario_cp_restart(fleet, opts)),
                 ("dp_restart", lambda: scenario_dp_restart(
                     fleet, opts, scenarios["cp_restart"]["version"]))]
        for key, run in steps:
            if fleet.cp is not None and fleet.cp.proc.poll() is not None:
                error = f"lb-controlplane exited (status {fleet.cp.proc.returncode})"
                break
            r = run()
            scenarios[key] = r
            fleet.note_rss()
            print(f"  {dict(SCENARIOS)[key]:26} {r['converged']}/{opts.planes} converged, "
                  f"max {fmt(r['max_ms'], '.0f')} ms ({r['version']})", flush=True)
            if key == "cp_restart" and not r.get("version"):
                break
        if fleet.cp is not None and fleet.cp.proc.poll() is None:
            idle = idle_cpu(fleet, opts)
            took, cpu = fleet.stop_cp()
            setup["final_cp_exit_s"] = took
            total_cpu = fleet.cp_cpu_done if cpu is not None else None
    except KeyboardInterrupt:
        error = "interrupted"
    except Exception as e:  # reported with what was measured; cleanup below
        error = f"{type(e).__name__}: {e}"
    finally:
        stop_all()
    logs = {"dir": tmpdir if opts.keep_logs else None}
    dp_warnings = [f"{p.name}: {w}" for p in Process.every if p.name.startswith("json-tcp-lb")
                   for w in p.warnings()]
    results = {"machine": machine, "planes": opts.planes, "sink_ports": fleet.sink_ports,
               "scenarios": scenarios, "idle": idle, "cp_peak_rss_kb": fleet.cp_peak_rss_kb,
               "cp_cpu_total_s": total_cpu, "cp_processes": fleet.cp_runs, "setup": setup,
               "data_plane_warnings": dp_warnings, "error": error, "logs": logs,
               "method": "convergence of a data plane = arrival (time.monotonic() on the bench's "
                         "reader thread) of lb-controlplane's log line 'data plane ADDR: runs "
                         "cfg-X' for the scenario's desired version, minus t0 taken just before "
                         "the event; p50/p99 nearest rank over the data planes; CPU = utime + "
                         "stime of lb-controlplane over the scenario (both processes for the "
                         "restart)",
               "seconds": time.monotonic() - started}
    out = opts.out or os.path.join(opts.build, "bench", "fleet.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print_table(opts.planes, scenarios, idle, fleet, total_cpu)
    print_notes(scenarios)
    if dp_warnings:
        print(f"  data planes logged {len(dp_warnings)} warning(s)/error(s), e.g. {dp_warnings[0]}")
    print(f"\nresults: {out} ({results['seconds']:.0f} s)")
    if opts.keep_logs:
        print(f"logs: {fleet.logdir}")
    else:
        shutil.rmtree(tmpdir, ignore_errors=True)
    if error:
        print(f"bench-fleet: {error}" + ("" if opts.keep_logs else " (--keep-logs keeps the logs)"))
        return 1
    failed = [dict(SCENARIOS)[k] for k, r in scenarios.items() if not r["ok"]]
    if failed or len(scenarios) < len(SCENARIOS):
        print(f"bench-fleet: not every data plane converged in: {', '.join(failed) or '-'}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
