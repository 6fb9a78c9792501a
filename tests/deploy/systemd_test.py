#!/usr/bin/python3
"""The systemd units in deploy/systemd/, checked by systemd's own tools.

Installs the units, the binaries and the unit library into a throwaway root the way the
units' install comments say, then:
- `systemd-analyze verify --root` loads both units with no message at all (systemd only warns
  about an unknown key or a missing binary, so any output is a failure), and a unit with a
  misspelt key is caught (the check itself can fail);
- `systemd-analyze security --offline` rates both at most MAX_EXPOSURE (lower is better);
- TimeoutStopSec of json-tcp-lb.service is longer than the drain timeout its flags give;
- the flags in the environment files are accepted: json-tcp-lb -check, and the example
  fleet.json by lb-controlplane -check-config.
"""

import argparse
import os
import re
import shlex
import shutil
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import testkit  # noqa: E402
from testkit import run  # noqa: E402

ARGS = None
UNITS = ("json-tcp-lb.service", "lb-controlplane.service")
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 is locked down, 10 is wide open


def unit_settings(path):
    """[Service] settings of a unit file as {key: [values]} (all assignments, in order)."""
    settings, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
            elif section == "Service":
                key, _, value = line.partition("=")
                settings.setdefault(key, []).append(value)
    return settings


def env_value(path, name):
    """NAME="..." from an EnvironmentFile, split the way systemd's $NAME expansion splits it."""
    with open(path) as f:
        for line in f:
            if line.startswith(name + "="):
                return shlex.split(shlex.split(line[len(name) + 1:])[0])
    raise AssertionError(f"{path} sets no {name}")


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|min)?", text)
    if not m:
        raise AssertionError(f"cannot read the duration {text!r}")
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "min": 60, None: 1}[m.group(2)]


def make_root(path, unit_dir):
    """A root with the binaries in /usr/local/bin, the units in /etc/systemd/system and the
    machine's unit library (network-online.target, ...) in /usr/lib/systemd/system."""
    os.makedirs(os.path.join(path, "usr/local/bin"))
    os.makedirs(os.path.join(path, "usr/lib/systemd"))
    os.makedirs(os.path.join(path, "etc/systemd/system"))
    for binary in (ARGS.lb_binary, ARGS.controlplane):
        shutil.copy(binary, os.path.join(path, "usr/local/bin"))
    # A copy, not a symlink: systemd resolves the library's own links inside the root.
    shutil.copytree("/usr/lib/systemd/system", os.path.join(path, "usr/lib/systemd/system"),
                    symlinks=True)
    for unit in UNITS:
        shutil.copy(os.path.join(unit_dir, unit), os.path.join(path, "etc/systemd/system"))
    return path


class SystemdTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.analyze = testkit.need_command("systemd-analyze", "make deps installs systemd")
        cls.work = testkit.work_dir(ARGS.work, "systemd")
        cls.root = make_root(os.path.join(cls.work, "root"), ARGS.units)

    def verify(self, root, units):
        return run([self.analyze, "verify", f"--root={root}", *units], check=False)

    def test_units_verify_without_a_single_warning(self):
        result = self.verify(self.root, UNITS)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout + result.stderr, "")

    def test_verify_catches_a_misspelt_key(self):
        root = make_root(os.path.join(self.work, "typo-root"), ARGS.units)
        unit = os.path.join(root, "etc/systemd/system", UNITS[0])
        with open(unit) as f:
            text = f.read()
        with open(unit, "w") as f:
            f.write(text.replace("NoNewPrivileges=", "NoNewPrivilege="))
        result = self.verify(root, UNITS[:1])
        self.assertIn("Unknown key 'NoNewPrivilege'", result.stderr)

    def test_sandboxing_exposure_is_low(self):
        for unit in UNITS:
            result = run([self.analyze, "security", "--offline=true", f"--root={self.root}",
                          unit], check=False)
            m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
            self.assertIsNotNone(m, result.stdout + result.stderr)
            print(f"{unit}: exposure {m.group(1)} {m.group(2)}")
            self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, result.stdout)

    def test_restart_user_and_stop_timeout(self):
        for unit in UNITS:
            s = unit_settings(os.path.join(ARGS.units, unit))
            self.assertEqual(s.get("Restart"), ["on-failure"], unit)
            self.assertEqual(s.get("KillSignal"), ["SIGTERM"], unit)
            self.assertEqual(s.get("DynamicUser"), ["yes"], unit)
            self.assertEqual(s.get("CapabilityBoundingSet"), [""], unit)
        s = unit_settings(os.path.join(ARGS.units, UNITS[0]))
        flags = env_value(os.path.join(ARGS.units, "json-tcp-lb.env"), "JSON_TCP_LB_FLAGS")
        drain = "30s"  # json-tcp-lb's default
        if "-drain-timeout" in flags:
            drain = flags[flags.index("-drain-timeout") + 1]
        self.assertGreater(seconds(s["TimeoutStopSec"][0]), seconds(drain))

    def test_the_environment_files_flags_are_accepted(self):
        flags = env_value(os.path.join(ARGS.units, "json-tcp-lb.env"), "JSON_TCP_LB_FLAGS")
        result = run([ARGS.lb_binary, "-check", *flags])
        self.assertIn("the flags are good", result.stdout)
        cp_flags = env_value(os.path.join(ARGS.units, "lb-controlplane.env"),
                             "LB_CONTROLPLANE_FLAGS")
        self.assertEqual(cp_flags[cp_flags.index("-config") + 1],
                         "/etc/lb-controlplane/fleet.json")
        result = run([ARGS.controlplane, "-check-config",
                      os.path.join(ARGS.units, "fleet.json")])
        self.assertIn("valid", result.stdout)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", required=True, help="deploy/systemd")
    parser.add_argument("--lb-binary", required=True)
    parser.add_argument("--controlplane", required=True)
    parser.add_argument("--work", required=True, help="folder for the throwaway roots")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
