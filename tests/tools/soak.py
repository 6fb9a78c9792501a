#!/usr/bin/python3
"""make soak: json-tcp-lb under mixed traffic and faults for a while, checking it stays sound.

For --minutes (default 10) on loopback: waves of lb-loadgen clients (many connections, paced,
some without a final newline), three lb-sink targets that are restarted gracefully and
SIGKILLed in turn, the target list and connection counts changed through the control API,
and slow clients on every port (data: silent connections; control: random bytes; metrics:
half-sent requests). Every line any sink receives is checked against what was sent.

It samples the proxy's RSS and open file descriptors every few seconds and prints them; at the
end it fails (exit 1) if:
  - a line was lost beyond what a stopped or killed target held: lines its process had read
    from its socket but not yet printed (no sender can see those; its read bytes, /proc/PID/io
    rchar, against what it printed), and lines its kernel held unread (json-tcp-lb sends those
    again by its estimate from the receive window, which can fall short for a target whose
    window was still growing). Both are measured while it is frozen just before it ends. Also
    fails for a line split, merged or corrupted;
  - RSS grew: the last third of the run above the first third by more than --rss-growth-mib
    (default 16);
  - descriptors leaked: once every client is gone and the connection count is back where it
    started, more open than at the start by more than --fd-growth (default 8);
  - the proxy exited, or did not drain and exit 0 on SIGTERM at the end.
With SOAK_DEBUG=1 in the environment it prints which lines of each stream went missing.
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testkit  # noqa: E402

LINE = re.compile(rb'^\{"run":"([A-Za-z0-9._-]+)","stream":(\d+),"seq":(\d+),"ts":\d+,"pad":"x*"\}$')
LINE_SIZE = 200


class Ledger:
    """Every line received, by run and stream: counts of each seq, and anything malformed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}  # (run, stream) -> bytearray of counts per seq
        self.malformed = []
        self.total = 0

    def add(self, line):
        m = LINE.match(line)
        with self.lock:
            self.total += 1
            if not m:
                if len(self.malformed) < 1000:
                    self.malformed.append(line[:120])
                return
            key = (m.group(1).decode(), int(m.group(2)))
            seq = int(m.group(3))
            counts = self.seen.setdefault(key, bytearray())
            if seq >= len(counts):
                counts.extend(bytes(seq + 1 - len(counts)))
            counts[seq] = min(counts[seq] + 1, 255)

    def check(self, run, streams, lines):
        """(missing, duplicates) of one load generator run."""
        missing = duplicates = 0
        if os.environ.get("SOAK_DEBUG"):
            with self.lock:
                for st in range(streams):
                    counts = self.seen.get((run, st), bytearray())
                    gone = [q for q in range(lines) if q >= len(counts) or counts[q] == 0]
                    if gone:
                        print("missing", run, st, gone[:3], len(gone))
        with self.lock:
            for s in range(streams):
                counts = self.seen.get((run, s), bytearray())
                for seq in range(lines):
                    n = counts[seq] if seq < len(counts) else 0
                    missing += n == 0
                    duplicates += max(n - 1, 0)
        return missing, duplicates


class Target:
    """An lb-sink process on a fixed port that prints every line; restartable and killable."""

    def __init__(self, binary, port, ledger, log_dir, name):
        self.binary, self.port, self.ledger, self.name = binary, port, ledger, name
        self.log_path = os.path.join(log_dir, name + ".log")
        self.proc = None
        self.reader = None
        self.printed_bytes = 0  # by the current process, as it had them: line and '\n'
        self.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [self.binary, "-listen", self.address, "-print-lines", "-no-verify",
             "-report-interval", "0"],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        first = self.proc.stdout.readline().split()
        if first[:1] != [b"listening"]:
            raise RuntimeError("%s did not start: %r" % (self.name, first))
        self.printed_bytes = 0
        self.reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self.reader.start()

    def _read(self, proc):
        prefix = b"[%d] " % self.port
        for raw in proc.stdout:
            if raw.startswith(prefix):
                line = raw[len(prefix):].rstrip(b"\n")
                self.printed_bytes += len(line) + 1
                self.ledger.add(line)

    def _wait(self):
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)
        self.proc.stdout.close()

    def restart(self):
        """SIGTERM (lb-sink exits at once, like a receiver restarted), start again. Returns the
        lines its process held read and unprinted, and the lines its kernel held unread."""
        return self._end(signal.SIGTERM)

    def kill(self):
        """SIGKILL, start again; returns the same."""
        return self._end(signal.SIGKILL)

    def _end(self, sig):
        self.proc.send_signal(signal.SIGSTOP)
        # Frozen: the proxy fills the receive windows, then the queues stand still.
        last, unread = None, 0
        for _ in range(50):
            unread = receive_queue_bytes(self.port)
            if unread == last:
                break
            last = unread
            time.sleep(0.1)
        connections = max(1, connections_to(self.port))
        read = read_bytes(self.proc.pid)
        self.proc.send_signal(sig)
        self.proc.send_signal(signal.SIGCONT)
        self._wait()  # every line it printed is counted now
        held = max(0, read - self.printed_bytes)
        time.sleep(0.5)  # the outage
        self.start()
        # What its process had read and not printed is beyond any sender; what its kernel held
        # unread the proxy should send again. Lines, plus one partly read per connection each.
        return (-(-held // LINE_SIZE) + connections, -(-unread // LINE_SIZE) + connections)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self._wait()


def proc_net_tcp():
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as f:
            next(f)
            for row in f:
                yield row.split()


def receive_queue_bytes(local_port):
    """Bytes received by the kernel and not read, over sockets on `local_port`."""
    total = 0
    for cols in proc_net_tcp():
        if int(cols[1].rsplit(":", 1)[1], 16) == local_port and cols[3] == "01":
            total += int(cols[4].split(":")[1], 16)
    return total


def connections_to(local_port):
    return sum(1 for cols in proc_net_tcp()
               if int(cols[1].rsplit(":", 1)[1], 16) == local_port and cols[3] == "01")


def read_bytes(pid):
    """Bytes the process has read with read(2) and friends (/proc/PID/io rchar)."""
    with open("/proc/%d/io" % pid) as f:
        for row in f:
            if row.startswith("rchar:"):
                return int(row.split()[1])
    return 0


def free_port():
    # Below the ephemeral range, so a restarted sink's port cannot be taken by a client.
    for _ in range(200):
        port = random.randint(20000, 30000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def lbctl(args, server):
    return subprocess.run([ARGS.lbctl, "--server", server] + args, capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for row in f:
            if row.startswith("VmRSS:"):
                return int(row.split()[1]) / 1024
    return 0


def settled_fd_count(pid, good_enough, timeout=30):
    """The proxy's open descriptors once the count held still for a second (or good_enough(n)),
    within `timeout`."""
    deadline = time.monotonic() + timeout
    last, since = fd_count(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        n = fd_count(pid)
        if good_enough(n):
            return n
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= 1:
            return n
    return last


class SlowClients:
    """Connections that hang on every port: silent data clients, half-sent metrics requests,
    random bytes on the control port. Replaced with fresh ones every round."""

    def __init__(self):
        self.sockets = []

    def round(self, data_port, control_port, metrics_port, rng):
        for s in self.sockets:
            s.close()
        self.sockets = []
        for _ in range(20):
            self.sockets.append(socket.create_connection(("127.0.0.1", data_port), timeout=5))
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", metrics_port), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            self.sockets.append(s)
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", control_port), timeout=5)
            try:
                s.sendall(bytes(rng.getrandbits(8) for _ in range(512)))
            except OSError:
                pass
            self.sockets.append(s)

    def close(self):
        for s in self.sockets:
            s.close()


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=50, help="load generator connections")
    parser.add_argument("--rate", type=int, default=5000, help="lines per second in all")
    parser.add_argument("--rss-growth-mib", type=float, default=16)
    parser.add_argument("--fd-growth", type=int, default=8)
    parser.add_argument("--lb-args", default="", help="more json-tcp-lb flags, space-separated")
    ARGS = parser.parse_args()
    build = os.path.abspath(ARGS.build)
    ARGS.lb = os.path.join(build, "dataplane/json-tcp-lb")
    ARGS.lbctl = os.path.join(build, "cli/lbctl")
    sink_binary = os.path.join(build, "tests/tools/lb-sink")
    loadgen = os.path.join(build, "tests/tools/lb-loadgen")
    work = testkit.work_dir(build, "soak")
    rng = random.Random(7)
    ledger = Ledger()
    targets = [Target(sink_binary, free_port(), ledger, work, "target%d" % i) for i in range(3)]
    lb_log = open(os.path.join(work, "json-tcp-lb.log"), "w")
    lb = subprocess.Popen(
        [ARGS.lb, "-addr", "127.0.0.1", "-port", "0", "-control-addr", "127.0.0.1:0",
         "-metrics-addr", "127.0.0.1:0", "-target", ",".join(t.address for t in targets),
         "-connections", "4", "-failback-interval", "2s", "-write-timeout", "5s"]
        + ARGS.lb_args.split(),
        stdout=lb_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def logged_port(pattern):
        regex = re.compile(pattern)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open(lb_log.name) as f:
                m = regex.search(f.read())
            if m:
                return int(m.group(1))
            time.sleep(0.05)
        raise RuntimeError("json-tcp-lb did not log /%s/" % pattern)

    data_port = logged_port(r"json-tcp-lb listening on 127\.0\.0\.1:(\d+)")
    control_port = logged_port(r"control API listening on 127\.0\.0\.1:(\d+)")
    metrics_port = logged_port(r"metrics listening on 127\.0\.0\.1:(\d+)")
    control = "127.0.0.1:%d" % control_port
    # Descriptors at rest: every worker connected, no client. Compared with the same state at
    # the end.
    baseline_fds = settled_fd_count(lb.pid, lambda n: False)
    print("soak: %.1f min, %d clients at %d lines/s, targets %s; logs in %s" % (
        ARGS.minutes, ARGS.clients, ARGS.rate, ", ".join(t.address for t in targets), work),
        flush=True)

    runs = []  # (run id, streams, lines, process)
    samples = []  # (seconds, rss MiB, fds)
    allowed_loss = 0
    kernel_held = 0  # of allowed_loss, lines killed targets' kernels held unread
    events = {"restarts": 0, "kills": 0, "changes": 0, "refused": 0}
    slow = SlowClients()
    problems = []
    started = time.monotonic()
    end = started + ARGS.minutes * 60
    wave = 0
    next_event = started + 5
    next_sample = started
    step = 0
    while time.monotonic() < end:
        now = time.monotonic()
        if lb.poll() is not None:
            problems.append("json-tcp-lb exited with %s" % lb.returncode)
            break
        # A new wave of clients whenever the last one is done: 20 s of paced lines each.
        if not runs or runs[-1][3].poll() is not None:
            wave += 1
            run = "soak%d" % wave
            lines = max(1, ARGS.rate * 20 // ARGS.clients)
            args = [loadgen, "-target", "127.0.0.1:%d" % data_port, "-connections",
                    str(ARGS.clients), "-lines", str(lines), "-size", str(LINE_SIZE),
                    "-rate", str(ARGS.rate), "-run-id", run]
            if wave % 3 == 0:
                args.append("-no-final-newline")
            runs.append((run, ARGS.clients, lines, subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL)))
        if now >= next_sample:
            samples.append((now - started, rss_mib(lb.pid), fd_count(lb.pid)))
            print("soak: t=%4.0fs rss=%.1fMiB fds=%d received=%d %s" % (
                samples[-1] + (ledger.total, events)), flush=True)
            next_sample = now + 10
        if now >= next_event:
            step += 1
            target = targets[step % len(targets)]
            kind = step % 4
            if kind in (0, 1):
                process, kernel = target.restart() if kind == 0 else target.kill()
                allowed_loss += process + kernel
                kernel_held += kernel
                events["restarts" if kind == 0 else "kills"] += 1
            elif kind == 2:
                # Drop one target, change connections, bring it back; and one refused change.
                keep = [t.address for t in targets if t is not target]
                for args in (["targets", "set"] + [",".join(keep)],
                             ["connections", "set", str(rng.choice([1, 2, 4, 8]))],
                             ["targets", "set", ",".join(t.address for t in targets)]):
                    r = lbctl(args, control)
                    if r.returncode != 0:
                        problems.append("lbctl %s: %s" % (" ".join(args), r.stderr.strip()))
                    events["changes"] += 1
                r = lbctl(["connections", "set", "1024"], control)  # 3 x 1024 > 2048
                if r.returncode == 0:
                    problems.append("3 targets x 1024 connections was accepted")
                events["refused"] += 1
            else:
                slow.round(data_port, control_port, metrics_port, rng)
                try:
                    urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port,
                                           timeout=2).read()
                except OSError as e:
                    problems.append("metrics scrape with slow clients: %s" % e)
            next_event = time.monotonic() + 5
        time.sleep(0.05)

    # The end: every wave finishes, the proxy drains on SIGTERM and exits 0.
    for _, _, _, proc in runs:
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            problems.append("a load generator did not finish")
    slow.close()
    final_fds = None
    if lb.poll() is None:
        r = lbctl(["connections", "set", "4"], control)
        if r.returncode != 0:
            problems.append("lbctl connections set 4: %s" % r.stderr.strip())
        final_fds = settled_fd_count(lb.pid, lambda n: n <= baseline_fds + ARGS.fd_growth)
    if lb.poll() is None:
        lb.send_signal(signal.SIGTERM)
        try:
            if lb.wait(timeout=90) != 0:
                problems.append("json-tcp-lb exited %d after SIGTERM" % lb.returncode)
        except subprocess.TimeoutExpired:
            lb.kill()
            problems.append("json-tcp-lb did not exit within 90 s of SIGTERM")
    for t in targets:
        t.stop()
    sent = missing = duplicates = 0
    for run, streams, lines, proc in runs:
        m, d = ledger.check(run, streams, lines)
        sent += streams * lines
        missing += m
        duplicates += d
    third = max(1, len(samples) // 3)
    first, last = samples[:third], samples[-third:]
    rss_growth = max(s[1] for s in last) - max(s[1] for s in first)
    report = {
        "minutes": ARGS.minutes, "sent": sent, "received": ledger.total, "missing": missing,
        "allowed_loss": allowed_loss, "of_which_kernel_held": kernel_held,
        "duplicates": duplicates,
        "malformed": len(ledger.malformed), "events": events,
        "rss_mib": {"first_third_max": max(s[1] for s in first),
                    "last_third_max": max(s[1] for s in last)},
        "fds": {"at_rest_start": baseline_fds, "at_rest_end": final_fds,
                "max": max(s[2] for s in samples)},
    }
    if missing > allowed_loss:
        problems.append("%d lines missing, more than the %d stopped and killed targets held"
                        % (missing, allowed_loss))
    if ledger.malformed:
        problems.append("%d malformed lines, e.g. %r" % (len(ledger.malformed),
                                                         ledger.malformed[0]))
    if rss_growth > ARGS.rss_growth_mib:
        problems.append("RSS grew by %.1f MiB" % rss_growth)
    if final_fds is not None and final_fds > baseline_fds + ARGS.fd_growth:
        problems.append("open descriptors at rest grew from %d to %d" % (baseline_fds, final_fds))
    report["problems"] = problems
    print(json.dumps(report, indent=2))
    with open(os.path.join(work, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print("soak: %s" % ("FAILED" if problems else "passed"), flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
