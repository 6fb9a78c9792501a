"""Small helpers shared by the deploy tests (container, systemd, Helm).

Every wait is bounded; every process started here is stopped by its owner's `with` block.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests


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


class Sink:
    """The test kit's verifying sink (lb-sink) on 127.0.0.1 port 0, expecting one load run."""

    def __init__(self, binary, run_id, streams, lines, log_path):
        self.log_path = log_path
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
        if not self._log.closed:
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def exactly_once(report, lines):
    """Asserts that the sink saw every one of `lines` lines exactly once."""
    verify = report.get("verify", {})
    if verify.get("ok") != lines or not all(
            verify.get(k) == 0 for k in ("duplicate", "malformed", "missing", "unexpected")):
        raise AssertionError(f"sink saw {verify}, expected {lines} lines exactly once")


def work_dir(base, name):
    """A fresh folder under the build tree for one test's files and logs."""
    path = os.path.abspath(os.path.join(base, name))
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path
