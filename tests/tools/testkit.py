"""The Python tests' kit: bounded waits, child processes with their logs, a counting TCP sink,
the C++ kit's verifying sink (lb-sink), and commands that say why they failed.

Imported by tests/e2e/python/*_test.py and tests/deploy/*_test.py (each puts this folder on
sys.path). Every wait is bounded; every process and socket is stopped by its owner.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

SKIP = 77  # ctest's SKIP_RETURN_CODE for the tests that can skip


def skip(why):
    print(f"SKIPPED: {why}", flush=True)
    sys.exit(SKIP)


def wait_until(predicate, timeout, interval=0.1):
    """Polls predicate() until it is truthy or `timeout` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def run(cmd, timeout=120, check=True, **kwargs):
    """Runs cmd, returning the CompletedProcess (text). With check, a non-zero exit raises with
    the command's whole output, so a failing test says why."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


def need_command(name, hint):
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed ({hint})")
    return path


def work_dir(base, name):
    """A fresh folder `name` under `base` (the build tree) for one test's files and logs."""
    path = os.path.abspath(os.path.join(base, name))
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


class Process:
    """A child process whose output (stdout and stderr together: the log) is read on a thread."""

    def __init__(self, argv, **kwargs):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, **kwargs)
        self._lines = []
        self._ended = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self._changed:
                self._lines.append(raw.decode(errors="replace"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _search(self, regex):
        for line in self._lines:
            m = regex.search(line)
            if m:
                return m
        return None

    def wait_for(self, pattern, timeout=20):
        """The match of the first log line matching `pattern` (a regex), waiting up to
        `timeout` seconds for it; raises with the whole log if it does not come."""
        regex = re.compile(pattern)
        with self._changed:
            self._changed.wait_for(lambda: self._ended or self._search(regex), timeout)
            m = self._search(regex)
        if m is None:
            raise AssertionError(f"no /{pattern}/ in the output of {self.proc.args[0]}:\n"
                                 f"{self.log()}")
        return m

    def port(self, pattern, timeout=20):
        """The port (the regex's first group) a log line announces."""
        return int(self.wait_for(pattern, timeout).group(1))

    def log(self):
        with self._changed:
            return "".join(self._lines)

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL if it has not exited in time. Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        code = self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        self.proc.stdout.close()
        return code


class TcpSink:
    """Accepts connections on 127.0.0.1:0 and counts the lines it reads and the open
    connections (a target for json-tcp-lb)."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self._lock = threading.Lock()
        self._lines = 0
        self._open = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._open += 1
            t = threading.Thread(target=self._read, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _read(self, conn):
        conn.settimeout(0.2)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                with self._lock:
                    self._lines += data.count(b"\n")
        with self._lock:
            self._open -= 1

    def connections(self):
        with self._lock:
            return self._open

    def lines(self):
        with self._lock:
            return self._lines

    def close(self):
        self._stop.set()
        self._listener.close()
        for t in self._threads:
            t.join(timeout=5)


class VerifyingSink:
    """The C++ kit's lb-sink on 127.0.0.1 port 0, expecting one lb-loadgen run."""

    def __init__(self, binary, run_id, streams, lines, log_path):
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "-listen", "127.0.0.1:0", "-report-interval", "0",
             "-expect-run", run_id, "-expect-streams", str(streams),
             "-expect-lines", str(lines)],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, text=True)
        first = self.proc.stdout.readline().split()
        if len(first) != 2 or first[0] != "listening":
            self.stop()
            raise AssertionError(f"lb-sink did not say where it listens: {first}")
        self.address = first[1]

    def report(self):
        """Stops the sink and returns its JSON report."""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        self._log.close()
        return json.loads(out)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
        if not self._log.closed:
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def exactly_once(report, lines):
    """Asserts that a VerifyingSink report saw every one of `lines` lines exactly once."""
    verify = report.get("verify", {})
    if verify.get("ok") != lines or not all(
            verify.get(k) == 0 for k in ("duplicate", "malformed", "missing", "unexpected")):
        raise AssertionError(f"sink saw {verify}, expected {lines} lines exactly once")
