#!/usr/bin/python3
"""json-tcp-lb's metrics, scraped by a real Prometheus server; the Grafana dashboard checked.

Starts the real json-tcp-lb on free loopback ports (-metrics-addr 127.0.0.1:0) in front of a
small Python TCP sink, and:
- PrometheusTest: a real Prometheus server (Debian's /usr/bin/prometheus) on 127.0.0.1 port 0
  with its data in a temporary folder and a 1 s scrape interval; sends a known number of lines
  and polls Prometheus's HTTP API until sum(jsontcplb_received_lines_total) equals it; runs
  `promtool check metrics` on the scraped text.
- DashboardTest: deploy/grafana/json-tcp-lb.json parses, and every expression in it names only
  metrics json-tcp-lb exports (read from its /metrics).
Run by ctest with /usr/bin/python3; every wait is bounded, every process is stopped.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import testkit  # noqa: E402

ARGS = None  # set in main()
WAIT_TIMEOUT = 60  # seconds, for anything converging
HTTP_TIMEOUT = 5  # seconds, per request

# Every metric DESIGN.md asks for (and a few more), as the exporter names them.
EXPECTED_METRICS = {
    "jsontcplb_client_connections": "gauge",
    "jsontcplb_client_connections_total": "counter",
    "jsontcplb_client_idle_closed_total": "counter",
    "jsontcplb_received_lines_total": "counter",
    "jsontcplb_received_bytes_total": "counter",
    "jsontcplb_sent_lines_total": "counter",
    "jsontcplb_sent_bytes_total": "counter",
    "jsontcplb_resent_lines_total": "counter",
    "jsontcplb_delivered_lines_total": "counter",
    "jsontcplb_delivered_bytes_total": "counter",
    "jsontcplb_requeued_lines_total": "counter",
    "jsontcplb_rejected_lines_total": "counter",
    "jsontcplb_failovers_total": "counter",
    "jsontcplb_failbacks_total": "counter",
    "jsontcplb_reconnects_total": "counter",
    "jsontcplb_discarded_target_bytes_total": "counter",
    "jsontcplb_worker_connections": "gauge",
    "jsontcplb_target_up": "gauge",
    "jsontcplb_queue_bytes": "gauge",
    "jsontcplb_queue_lines": "gauge",
    "jsontcplb_queue_capacity_bytes": "gauge",
    "jsontcplb_unacked_bytes": "gauge",
    "jsontcplb_retained_bytes": "gauge",
    "jsontcplb_retention_overflow_lines_total": "counter",
    "jsontcplb_batch_write_seconds": "histogram",
    "jsontcplb_config_generation": "gauge",
    "jsontcplb_build_info": "gauge",
    "jsontcplb_metrics_http_requests_total": "counter",
    "jsontcplb_metrics_http_dropped_connections_total": "counter",
}


def wait_until(predicate, timeout=WAIT_TIMEOUT):
    return testkit.wait_until(predicate, timeout)


def http_get(url):
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
        return response.read().decode()


def exported_types(text):
    """{name: type} from the # TYPE lines of a text exposition."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def sample_names(types):
    """Every name a sample of these families can have (histograms: _bucket, _sum, _count)."""
    names = set()
    for name, kind in types.items():
        names.add(name)
        if kind == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
        elif kind == "summary":
            names.update({name + "_sum", name + "_count"})
    return names


def send_lines(port, count, first):
    """One client connection: `count` JSON lines, then EOF; waits (bounded) for the close."""
    body = b"".join(b'{"seq":%d,"msg":"prometheus end-to-end test line"}\n' % (first + i)
                    for i in range(count))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(body)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(10)
        while conn.recv(4096):
            pass
    return len(body)


class LbFixture:
    """json-tcp-lb with metrics on a free port, in front of one sink."""

    def __init__(self, test_class):
        self.sink = testkit.TcpSink()
        test_class.addClassCleanup(self.sink.close)
        self.lb = testkit.Process([ARGS.lb_binary, "-addr", "127.0.0.1", "-port", "0",
                           "-control-addr", "off", "-metrics-addr", "127.0.0.1:0",
                           "-target", self.sink.address, "-connections", "2"])
        test_class.addClassCleanup(self.lb.stop)
        self.metrics_port = self.lb.port(r"metrics listening on 127\.0\.0\.1:(\d+)")
        self.data_port = self.lb.port(r"json-tcp-lb listening on 127\.0\.0\.1:(\d+)")
        self.metrics_url = "http://127.0.0.1:%d/metrics" % self.metrics_port


class PrometheusServer:
    """/usr/bin/prometheus on 127.0.0.1 port 0, scraping one target every second."""

    def __init__(self, folder, target):
        config = os.path.join(folder, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n"
                    "  scrape_interval: 1s\n"
                    "  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: json-tcp-lb\n"
                    "    static_configs:\n"
                    "      - targets: ['%s']\n" % target)
        self.process = testkit.Process([ARGS.prometheus, "--config.file=" + config,
                                        "--storage.tsdb.path=" + os.path.join(folder, "data"),
                                        "--web.listen-address=127.0.0.1:0"])
        port = self.process.port(r'msg="Listening on" address=127\.0\.0\.1:(\d+)')
        self.url = "http://127.0.0.1:%s" % port
        self.process.wait_for(r"(Server is ready to receive web requests)")

    def query(self, expr):
        """The instant vector of `expr` as [(labels, float)]."""
        reply = json.loads(http_get(self.url + "/api/v1/query?" +
                                    urllib.parse.urlencode({"query": expr})))
        if reply.get("status") != "success":
            raise AssertionError("query %r failed: %r" % (expr, reply))
        return [(r["metric"], float(r["value"][1])) for r in reply["data"]["result"]]

    def scalar(self, expr):
        """The single value of `expr`, or None while it has no result."""
        result = self.query(expr)
        return result[0][1] if len(result) == 1 else None


class PrometheusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lb-prometheus-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.fixture = LbFixture(cls)
        cls.prometheus = PrometheusServer(cls.tmp, "127.0.0.1:%d" % cls.fixture.metrics_port)
        cls.addClassCleanup(cls.prometheus.process.stop)

    def test_prometheus_counts_every_line_received(self):
        p = self.prometheus
        # Prometheus is scraping json-tcp-lb before any line is sent.
        self.assertEqual(wait_until(lambda: p.scalar('up{job="json-tcp-lb"}') == 1), True,
                         p.process.log())
        per_connection, connections = 25_000, 2
        n = per_connection * connections
        sent_bytes = 0
        for c in range(connections):
            sent_bytes += send_lines(self.fixture.data_port, per_connection, c * per_connection)
        sent_at = time.monotonic()
        self.assertTrue(wait_until(lambda: self.fixture.sink.lines() >= n),
                        "the sink got %d of %d lines" % (self.fixture.sink.lines(), n))

        received = wait_until(
            lambda: p.scalar("sum(jsontcplb_received_lines_total)") == n)
        seen_after = time.monotonic() - sent_at
        self.assertTrue(received, "Prometheus has sum(jsontcplb_received_lines_total) = %r, "
                        "expected %d" % (p.scalar("sum(jsontcplb_received_lines_total)"), n))
        self.assertTrue(wait_until(lambda: (p.scalar("sum(jsontcplb_sent_lines_total)") or 0) >= n))
        sent = p.scalar("sum(jsontcplb_sent_lines_total)")
        resent = p.scalar("sum(jsontcplb_resent_lines_total)")
        self.assertLessEqual(sent - n, resent, "duplicates only come from resent lines")
        self.assertEqual(p.scalar("sum(jsontcplb_received_bytes_total)"), sent_bytes)
        self.assertEqual(p.scalar("sum(jsontcplb_client_connections_total)"), connections)
        per_target = p.query("jsontcplb_sent_lines_total")
        self.assertEqual([labels["target"] for labels, _ in per_target],
                         [self.fixture.sink.address])
        # Gauges: published once a second, scraped once a second.
        self.assertTrue(wait_until(
            lambda: p.scalar('sum(jsontcplb_worker_connections{state="connected"})') == 2))
        self.assertTrue(wait_until(lambda: p.scalar("sum(jsontcplb_queue_bytes)") == 0))
        self.assertTrue(wait_until(lambda: p.scalar("sum(jsontcplb_unacked_bytes)") == 0))
        self.assertTrue(wait_until(
            lambda: (p.scalar("sum(jsontcplb_batch_write_seconds_count)") or 0) > 0))
        print("\n[ prometheus ] lines sent=%d received_total=%d sent_total=%d resent_total=%d "
              "received_bytes_total=%d; Prometheus showed every line %.2f s after the last "
              "was sent; batch writes=%d"
              % (n, p.scalar("sum(jsontcplb_received_lines_total)"), sent, resent,
                 p.scalar("sum(jsontcplb_received_bytes_total)"), seen_after,
                 p.scalar("sum(jsontcplb_batch_write_seconds_count)")), file=sys.stderr)

    def test_promtool_finds_no_problems_in_the_exposition(self):
        text = http_get(self.fixture.metrics_url)
        check = subprocess.run([ARGS.promtool, "check", "metrics"], input=text.encode(),
                               capture_output=True, timeout=30)
        output = (check.stdout + check.stderr).decode()
        self.assertEqual(check.returncode, 0, output)
        self.assertEqual(output.strip(), "", "promtool reported problems")

    def test_every_designed_metric_is_exported_with_its_type(self):
        types = exported_types(http_get(self.fixture.metrics_url))
        for name, kind in EXPECTED_METRICS.items():
            self.assertEqual(types.get(name), kind, name)
        ours = {n for n in types if n.startswith("jsontcplb_")}
        self.assertEqual(ours, set(EXPECTED_METRICS), "a metric was added: list it here and "
                         "in the README's Metrics table")


# --- the Grafana dashboard --------------------------------------------------------------

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                   "and", "or", "unless", "offset", "inf", "nan"}


def promql_metric_names(expr):
    """Metric names a PromQL expression refers to (functions, keywords, labels left out)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    e = re.sub(r"'(?:[^'\\]|\\.)*'", "''", e)
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # range selectors and subqueries
    e = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\$\{?\w+\}?", "", e)  # Grafana variables
    names = []
    for m in re.finditer(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*", e):
        if e[m.end():].lstrip().startswith("("):
            continue  # a function
        if m.group(0).lower() in PROMQL_KEYWORDS:
            continue
        names.append(m.group(0))
    return names


def panel_expressions(node):
    """Every `expr` under a node (panels, their targets, rows' panels)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(panel_expressions(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(panel_expressions(item))
    return found


def variable_queries(dashboard):
    """The queries of the dashboard's query variables (a datasource variable has none)."""
    found = []
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        found.append(query.get("query", "") if isinstance(query, dict) else query)
    return found


def names_in(expr):
    """Metric names of a panel expression or a Grafana variable query."""
    m = re.fullmatch(r"\s*label_values\(\s*(.*?)\s*,\s*\w+\s*\)\s*", expr)
    if m:
        return promql_metric_names(m.group(1))
    m = re.fullmatch(r"\s*(?:metrics|label_names)\((.*)\)\s*", expr)
    if m:
        return promql_metric_names(m.group(1)) if m.group(1) else []
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", expr)
    return promql_metric_names(m.group(1) if m else expr)


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(ARGS.dashboard) as f:
            cls.dashboard = json.load(f)
        cls.fixture = LbFixture(cls)
        cls.exported = sample_names(exported_types(http_get(cls.fixture.metrics_url)))

    def test_parser_sees_metrics_and_not_functions_or_labels(self):
        self.assertEqual(
            promql_metric_names('histogram_quantile(0.99, sum by (le) (rate('
                                'jsontcplb_batch_write_seconds_bucket{instance=~"$instance"}'
                                '[$__rate_interval])))'),
            ["jsontcplb_batch_write_seconds_bucket"])
        self.assertEqual(promql_metric_names("a_total / on(target) group_left b + 1e3"),
                         ["a_total", "b"])
        self.assertEqual(names_in("label_values(jsontcplb_build_info, instance)"),
                         ["jsontcplb_build_info"])

    def test_every_expression_names_only_exported_metrics(self):
        expressions = [e for e in panel_expressions(self.dashboard["panels"])
                       + variable_queries(self.dashboard) if e.strip()]
        self.assertGreater(len(expressions), 10)
        used = set()
        for expr in expressions:
            names = names_in(expr)
            self.assertTrue(names, "no metric in %r" % expr)
            for name in names:
                self.assertIn(name, self.exported, "%r in %r is not exported" % (name, expr))
            used.update(names)
        # What the dashboard is for: throughput in and out, the spread over targets, unacked
        # and queued bytes, failovers and rejected lines.
        for needed in ("jsontcplb_received_lines_total", "jsontcplb_sent_lines_total",
                       "jsontcplb_unacked_bytes", "jsontcplb_queue_bytes",
                       "jsontcplb_failovers_total", "jsontcplb_rejected_lines_total"):
            self.assertIn(needed, used)

    def test_panels_have_titles_and_unique_ids(self):
        panels = self.dashboard["panels"]
        ids = [p["id"] for p in panels]
        self.assertEqual(len(ids), len(set(ids)))
        for p in panels:
            self.assertTrue(p.get("title"), p)
        self.assertEqual(self.dashboard.get("uid"), "json-tcp-lb")


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lb-binary", required=True)
    parser.add_argument("--prometheus", default="/usr/bin/prometheus")
    parser.add_argument("--promtool", default="/usr/bin/promtool")
    parser.add_argument("--dashboard", required=True, help="deploy/grafana/json-tcp-lb.json")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
