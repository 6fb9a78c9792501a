#!/usr/bin/python3
"""The container image, really built and run: deploy/docker/Dockerfile with podman.

There is no Docker engine and no image registry on the test machines, so this test
1. seeds the local image store with a Debian bookworm root made by `debootstrap
   --variant=minbase` and `podman import`, tagged docker.io/library/debian:bookworm-slim
   (only when that image is not there yet);
2. builds the Dockerfile unchanged (`podman build`, runc, host network: a few minutes the
   first time, the build stage's packages are cached after that);
3. runs the image with host networking in front of the test kit's verifying sink, sends lines
   through it and checks every line arrived exactly once, that the process runs as a non-root
   user, that lbctl from the image reaches the control API, and that SIGTERM (podman stop)
   drains and exits 0;
4. checks the image's defaults are the Go original's (-check prints 0.0.0.0:9000) and that
   lb-controlplane is in it too.
Skips (exit 77) only where podman cannot run at all.
"""

import argparse
import json
import os
import re
import shutil
import sys
import subprocess
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import testkit  # noqa: E402
from testkit import run, wait_until  # noqa: E402

ARGS = None
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGE = "localhost/json-tcp-lb:ctest"
PROBE_IMAGE = "localhost/json-tcp-lb-probe:ctest"
# What this machine's podman needs (DESIGN.md): crun refuses the hybrid cgroups, and raising
# the limits above the caller's is not permitted.
RUN_OPTS = ["--runtime", "runc", "--network=host",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
BUILD_TIMEOUT = 1800  # seconds: a cold build downloads the compilers and libraries
LINES_PER_CONNECTION = 2000
CONNECTIONS = 4


def podman(*args, timeout=120, check=True):
    return run([ARGS.podman, *args], timeout=timeout, check=check)


def ensure_base_image():
    if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return
    print(f"seeding {BASE_IMAGE} with debootstrap --variant=minbase bookworm", flush=True)
    debootstrap = testkit.need_command("debootstrap", "make deps installs it")
    root = tempfile.mkdtemp(prefix="lb-bookworm-", dir=ARGS.work)
    try:
        run([debootstrap, "--variant=minbase", "bookworm", root], timeout=900)
        # With the configuration Docker Hub's image has: PATH set, bash as the command.
        tar = run(["sh", "-c", f"tar -C '{root}' -c . | '{ARGS.podman}' import "
                   f"--change 'ENV PATH={BASE_PATH}' --change 'CMD [\"bash\"]' - {BASE_IMAGE}"],
                  timeout=300)
        print(tar.stdout.strip(), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def build_image():
    log_path = os.path.join(ARGS.work, "podman-build.log")
    print(f"podman build -f deploy/docker/Dockerfile (log: {log_path})", flush=True)
    with open(log_path, "w") as log:
        proc = subprocess.run(
            [ARGS.podman, "build", *RUN_OPTS, "-f", "deploy/docker/Dockerfile", "-t", IMAGE, "."],
            cwd=ARGS.source, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, timeout=BUILD_TIMEOUT)
    if proc.returncode != 0:
        with open(log_path) as log:
            tail = log.read()[-6000:]
        raise AssertionError(f"podman build exited {proc.returncode}:\n{tail}")


def lbctl(*args):
    """lbctl from the image, in a container of its own on the host network (`docker exec
    CONTAINER lbctl` does the same from inside; exec misbehaves when the tests run in a chroot)."""
    return podman("run", "--rm", *RUN_OPTS, "--entrypoint", "lbctl", IMAGE, *args)


class Container:
    """`podman run -d` of IMAGE; removed (with its logs kept in the work folder) on exit."""

    def __init__(self, name, args):
        self.name = name
        podman("rm", "-f", "--ignore", name)
        podman("run", "-d", "--name", name, *RUN_OPTS, IMAGE, *args)

    def logs(self):
        logs = podman("logs", self.name, check=False)  # the process's stderr is its log
        return logs.stderr + logs.stdout

    def wait_for_log(self, pattern, timeout=60):
        found = wait_until(lambda: re.search(pattern, self.logs()), timeout, interval=0.2)
        if not found:
            raise AssertionError(f"{self.name} never logged /{pattern}/:\n{self.logs()}")
        return found


    def __enter__(self):
        return self

    def __exit__(self, *exc):
        with open(os.path.join(ARGS.work, f"{self.name}.log"), "w") as f:
            f.write(self.logs())
        podman("rm", "-f", "--time", "5", self.name, check=False)


class ContainerTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        ensure_base_image()
        build_image()

    def test_lines_flow_through_the_image_exactly_once_as_a_non_root_user(self):
        run_id = "container"
        sink_log = os.path.join(ARGS.work, "sink.log")
        with testkit.VerifyingSink(ARGS.sink, run_id, CONNECTIONS, LINES_PER_CONNECTION,
                             sink_log) as sink:
            name = f"lb-ctest-{os.getpid()}"
            with Container(name, ["-addr", "127.0.0.1", "-port", "0", "-target", sink.address,
                                  "-connections", "2", "-control-addr", "127.0.0.1:0",
                                  "-metrics-addr", "127.0.0.1:0"]) as lb:
                data = lb.wait_for_log(r"json-tcp-lb listening on 127\.0\.0\.1:(\d+)").group(1)
                control = lb.wait_for_log(r"control API listening on (127\.0\.0\.1:\d+)").group(1)

                # The running process, as the kernel sees it.
                pid = podman("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
                with open(f"/proc/{pid}/status") as f:
                    status = dict(line.split(":", 1) for line in f if ":" in line)
                self.assertEqual(status["Name"].strip(), "json-tcp-lb")
                uids = status["Uid"].split()  # real, effective, saved, filesystem
                self.assertEqual(uids, ["65532"] * 4, "the image must not run as root")

                sent = run([ARGS.loadgen, "-target", f"127.0.0.1:{data}", "-connections",
                            str(CONNECTIONS), "-lines", str(LINES_PER_CONNECTION),
                            "-run-id", run_id], timeout=120)
                self.assertEqual(json.loads(sent.stdout)["failed_connections"], 0, sent.stdout)

                # lbctl in the image, against the control API of the process next to it. Its
                # totals' sentLines counts lines the target's TCP acknowledged.
                total = CONNECTIONS * LINES_PER_CONNECTION

                def delivered():
                    out = lbctl("-server", control, "-o", "json", "status").stdout
                    totals = json.loads(out.splitlines()[0]).get("totals", {})
                    return totals.get("sentLines") == str(total) and out

                status = wait_until(delivered, 60, interval=0.5)
                self.assertTrue(status, lbctl("-server", control, "status").stdout)
                self.assertIn(sink.address, status)

                # SIGTERM drains and exits 0.
                podman("stop", "--time", "60", name, timeout=90)
                code = podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
                self.assertEqual(code, "0", lb.logs())
                self.assertIn(f"delivered {total}", lb.logs())
            testkit.exactly_once(sink.report(), CONNECTIONS * LINES_PER_CONNECTION)

    def test_defaults_are_the_go_originals(self):
        # `docker run -p 9000:9000 IMAGE -target host:port`: the image's entry point takes the
        # Go original's flags and listens on 0.0.0.0:9000 by default.
        out = podman("run", "--rm", *RUN_OPTS, IMAGE, "-check", "-target",
                     "logstash.example:5000").stdout
        self.assertIn("clients: 0.0.0.0:9000", out)
        self.assertIn("targets: 1 x 4 connections: logstash.example:5000", out)
        bad = podman("run", "--rm", *RUN_OPTS, IMAGE, "-connections", "zero", check=False)
        self.assertEqual(bad.returncode, 2, bad.stdout + bad.stderr)
        self.assertIn("-connections", bad.stderr)

    def test_the_other_two_binaries_are_in_the_image(self):
        for binary in ("lb-controlplane", "lbctl"):
            out = podman("run", "--rm", *RUN_OPTS, "--entrypoint", binary, IMAGE, "--help")
            self.assertIn(f"Usage of {binary}", out.stdout + out.stderr)
        user = podman("image", "inspect", "-f", "{{.Config.User}}", IMAGE).stdout.strip()
        self.assertEqual(user, "65532:65532")


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="the project's source folder")
    parser.add_argument("--sink", required=True, help="lb-sink")
    parser.add_argument("--loadgen", required=True, help="lb-loadgen")
    parser.add_argument("--work", required=True, help="folder for logs and the base image root")
    parser.add_argument("--podman", default=shutil.which("podman") or "podman")
    ARGS, rest = parser.parse_known_args()
    ARGS.work = testkit.work_dir(ARGS.work, "container")
    if shutil.which(ARGS.podman) is None:
        testkit.skip("podman is not installed (make deps installs podman, runc, debootstrap)")
    info = run([ARGS.podman, "info"], check=False)
    if info.returncode != 0:
        testkit.skip(f"podman cannot run here: {info.stderr.strip()[-500:]}")
    # Storing an image needs mounts (a chroot whose / is not a mount point cannot).
    probe = run(["sh", "-c", f"tar -c --files-from /dev/null | '{ARGS.podman}' import - "
                 f"{PROBE_IMAGE} && '{ARGS.podman}' rmi {PROBE_IMAGE}"], check=False)
    if probe.returncode != 0:
        testkit.skip(f"podman cannot store an image here: {probe.stderr.strip()[-500:]}")
    if os.geteuid() != 0 and run([ARGS.podman, "image", "exists", BASE_IMAGE],
                                 check=False).returncode != 0:
        testkit.skip(f"{BASE_IMAGE} is missing and debootstrap needs root to make it")
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
