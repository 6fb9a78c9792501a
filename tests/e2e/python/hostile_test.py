#!/usr/bin/python3
"""Hostile input on json-tcp-lb's control API and metrics endpoint.

The real json-tcp-lb on free loopback ports, attacked the way a broken or malicious client on
the network would: random bytes and random protobufs on the control port, oversized requests,
changes beyond the limits, many clients racing compare-and-set changes, more watch streams than
it serves, and on the metrics port slow clients (half a request, then nothing), hundreds of
idle connections, oversized and malformed requests. Each case asserts what the process does
(the refusal and its code, the generation, a scrape answered within a second), not only that
it survived. Run by ctest with Debian's /usr/bin/python3; every wait is bounded.
"""

import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import testkit  # noqa: E402
import control_client_test  # noqa: E402  (stub generation)

ARGS = None  # set in main()
CALL_TIMEOUT = 10  # seconds, for every RPC
CHANGE_METHODS = ["SetTargets", "AddTarget", "RemoveTarget", "SetConnections"]


def start_lb(extra):
    lb = testkit.Process([ARGS.lb_binary, "-addr", "127.0.0.1", "-port", "0"] + extra)
    return lb


class ControlApiHostility(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lb-hostile-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        control_client_test.ARGS = ARGS
        control_client_test.generate_stubs(cls.tmp)
        sys.path.insert(0, cls.tmp)
        global grpc, config_pb2, control_pb2, control_pb2_grpc
        import grpc
        from jsontcplb.v1 import config_pb2, control_pb2, control_pb2_grpc

        cls.sink_a = testkit.TcpSink()
        cls.addClassCleanup(cls.sink_a.close)
        cls.sink_b = testkit.TcpSink()
        cls.addClassCleanup(cls.sink_b.close)
        cls.lb = start_lb(["-control-addr", "127.0.0.1:0", "-metrics-addr", "off",
                           "-target", cls.sink_a.address, "-connections", "2"])
        cls.addClassCleanup(cls.lb.stop)
        cls.control_port = cls.lb.port(r"control API listening on 127\.0\.0\.1:(\d+)")
        cls.channel = grpc.insecure_channel(
            "127.0.0.1:%d" % cls.control_port,
            options=[("grpc.max_send_message_length", 8 << 20)])
        cls.addClassCleanup(cls.channel.close)
        grpc.channel_ready_future(cls.channel).result(timeout=CALL_TIMEOUT)
        cls.stub = control_pb2_grpc.DataPlaneControlStub(cls.channel)

    def status(self):
        return self.stub.GetStatus(control_pb2.GetStatusRequest(), timeout=CALL_TIMEOUT)

    def set_targets(self, addresses, connections=0, **kwargs):
        config = config_pb2.DataPlaneConfig(
            targets=[config_pb2.Target(address=a, connections=connections) for a in addresses],
            config_version=kwargs.pop("config_version", ""))
        return self.stub.SetTargets(
            control_pb2.SetTargetsRequest(config=config, **kwargs), timeout=CALL_TIMEOUT)

    def refused(self, call):
        with self.assertRaises(grpc.RpcError) as caught:
            call()
        return caught.exception

    def test_random_bytes_on_the_control_port(self):
        rng = random.Random(1)
        for _ in range(50):
            with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
                try:
                    s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))))
                    s.recv(1024)  # the server answers with a GOAWAY or closes
                except OSError:
                    pass  # reset by the server: fine
        self.assertTrue(self.status().version)

    def test_random_protobufs_change_nothing_unless_accepted(self):
        rng = random.Random(2)
        before = self.status()
        accepted = 0
        codes = {}
        for i in range(400):
            method = (CHANGE_METHODS + ["GetStatus", "TriggerFailback"])[i % 6]
            call = self.channel.unary_unary("/jsontcplb.v1.DataPlaneControl/" + method)
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
            try:
                call(body, timeout=CALL_TIMEOUT)
                if method in CHANGE_METHODS:
                    accepted += 1
            except grpc.RpcError as e:
                codes[e.code()] = codes.get(e.code(), 0) + 1
                self.assertIn(e.code(), (grpc.StatusCode.INVALID_ARGUMENT,
                                         # gRPC 1.51's callback server answers a request
                                         # that does not parse with UNIMPLEMENTED
                                         grpc.StatusCode.UNIMPLEMENTED,
                                         grpc.StatusCode.FAILED_PRECONDITION,
                                         grpc.StatusCode.RESOURCE_EXHAUSTED), e.details())
        after = self.status()
        self.assertEqual(after.generation, before.generation + accepted, str(codes))
        self.assertTrue(after.targets, "the target list can never become empty")

    def test_an_oversized_request_is_refused_before_it_is_parsed(self):
        generation = self.status().generation
        error = self.refused(lambda: self.set_targets([self.sink_a.address],
                                                      config_version="x" * (2 << 20)))
        self.assertEqual(error.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, error.details())
        self.assertEqual(self.status().generation, generation)

    def test_changes_beyond_the_limits_are_refused_whole(self):
        before = self.status()
        # The change that once wedged the data plane: 2,000 targets x 1,024 connections.
        many = ["10.255.%d.%d:5000" % (i // 250, i % 250 + 1) for i in range(2000)]
        error = self.refused(lambda: self.set_targets(many, connections=1024))
        self.assertEqual(error.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("-max-targets", error.details())
        error = self.refused(lambda: self.set_targets(many[:500], connections=1024))
        self.assertEqual(error.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("-max-total-connections", error.details())
        self.assertIn("512000 connections", error.details())
        after = self.status()
        self.assertEqual(after.generation, before.generation)
        self.assertEqual([t.address for t in after.targets], [t.address for t in before.targets])
        # Three targets at 1,024 connections each: one default change too many.
        three = [self.sink_a.address, self.sink_b.address, "127.0.0.1:1"]
        generation = self.set_targets(three).generation
        connections = self.status().default_connections
        error = self.refused(lambda: self.stub.SetConnections(
            control_pb2.SetConnectionsRequest(connections=1024), timeout=CALL_TIMEOUT))
        self.assertEqual(error.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("3072 connections", error.details())
        self.assertEqual(self.status().generation, generation)
        self.assertEqual(self.status().default_connections, connections)
        self.set_targets([t.address for t in before.targets])

    def test_racing_compare_and_set_changes_apply_whole_or_not_at_all(self):
        start = self.status().generation
        results = []  # (generation, config_version) of every accepted change
        lock = threading.Lock()
        errors = []

        def client(n):
            channel = grpc.insecure_channel("127.0.0.1:%d" % self.control_port)
            stub = control_pb2_grpc.DataPlaneControlStub(channel)
            try:
                for j in range(15):
                    seen = stub.GetStatus(control_pb2.GetStatusRequest(), timeout=CALL_TIMEOUT)
                    version = "c%d-%d" % (n, j)
                    target = [self.sink_a.address, self.sink_b.address][(n + j) % 2]
                    config = config_pb2.DataPlaneConfig(
                        targets=[config_pb2.Target(address=target)], config_version=version)
                    try:
                        r = stub.SetTargets(control_pb2.SetTargetsRequest(
                            config=config, expected_generation=seen.generation),
                            timeout=CALL_TIMEOUT)
                        with lock:
                            results.append((r.generation, version, target))
                    except grpc.RpcError as e:
                        if e.code() != grpc.StatusCode.FAILED_PRECONDITION:
                            errors.append("%s: %s" % (e.code(), e.details()))
            finally:
                channel.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])
        generations = sorted(g for g, _, _ in results)
        # Every accepted change got its own generation, one after the other, none lost.
        self.assertEqual(generations, list(range(start + 1, start + 1 + len(results))))
        final = self.status()
        self.assertEqual(final.generation, start + len(results))
        last = max(results)
        self.assertEqual(final.config_version, last[1])
        self.assertEqual([t.address for t in final.targets], [last[2]])

    def test_watch_streams_are_bounded(self):
        request = control_pb2.WatchStatusRequest()
        streams = [self.stub.WatchStatus(request, timeout=30) for _ in range(80)]
        served, refused = 0, 0
        for s in streams:
            try:
                next(s)
                served += 1
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, e.details())
                self.assertIn("watch streams", e.details())
                refused += 1
        self.assertEqual(served, 64)
        self.assertEqual(refused, 16)
        self.assertTrue(self.status().version)  # unary calls still answered
        for s in streams:
            s.cancel()

        last_error = []

        def one_more():
            try:
                next(self.stub.WatchStatus(request, timeout=5))
                return True
            except grpc.RpcError as e:
                last_error[:] = [e.code(), e.details()]
                return False
        # A data plane that died (say, a sanitizer report) refuses connections: the log says why.
        self.assertTrue(testkit.wait_until(one_more, 30),
                        f"closed streams were not uncounted: {last_error}\n{self.lb.log()[-4000:]}")


def http_get(port, path="/metrics", timeout=1.0):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.status, r.read().decode()


def raw_request(port, data, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return s.recv(65536).decode(errors="replace")


class MetricsHostility(unittest.TestCase):
    def setUp(self):
        self.sink = testkit.TcpSink()
        self.addCleanup(self.sink.close)
        self.lb = start_lb(["-control-addr", "off", "-metrics-addr", "127.0.0.1:0",
                            "-target", self.sink.address])
        self.addCleanup(self.lb.stop)
        self.port = self.lb.port(r"metrics listening on 127\.0\.0\.1:(\d+)")
        self.slow = []
        self.addCleanup(lambda: [s.close() for s in self.slow])

    def hang(self, count):
        """`count` clients that send the start of a request and then nothing."""
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            self.slow.append(s)

    def timed_scrape(self):
        started = time.monotonic()
        code, body = http_get(self.port, timeout=5)
        return code, body, time.monotonic() - started

    def test_scrapes_are_answered_while_slow_clients_hang(self):
        self.hang(3)
        code, body, took = self.timed_scrape()
        self.assertEqual(code, 200)
        self.assertIn("jsontcplb_received_lines_total", body)
        self.assertLess(took, 1.0, "a scrape waited for the slow clients")
        # Far more slow clients than the connection cap: the longest-waiting ones make room.
        self.hang(300)
        for _ in range(3):
            code, body, took = self.timed_scrape()
            self.assertEqual(code, 200)
            self.assertLess(took, 1.0)
        self.assertRegex(body, r'jsontcplb_metrics_http_dropped_connections_total'
                               r'\{reason="evicted"\} [1-9]')

    def test_a_slow_client_is_closed_after_the_request_timeout(self):
        self.hang(1)
        s = self.slow[0]
        s.settimeout(15)
        started = time.monotonic()
        self.assertEqual(s.recv(1024), b"", "the server never closed a half-sent request")
        self.assertGreater(time.monotonic() - started, 2.0)  # not at once: it had 5 s
        _, body = http_get(self.port)
        self.assertRegex(body, r'dropped_connections_total\{reason="timeout"\} [1-9]')

    def test_bad_requests_get_an_answer_not_a_hang(self):
        self.assertIn(" 400 ", raw_request(self.port, bytes(range(1, 200)) + b"\r\n\r\n"))
        self.assertIn(" 400 ", raw_request(self.port, b"\0\0\0\0\n\n"))
        self.assertIn(" 405 ", raw_request(self.port, b"POST /metrics HTTP/1.1\r\n\r\n"))
        self.assertIn(" 404 ", raw_request(self.port, b"GET /nope HTTP/1.1\r\n\r\n"))
        self.assertIn(" 431 ", raw_request(
            self.port, b"GET /metrics HTTP/1.1\r\n" + b"X-Junk: " + b"a" * 20000 + b"\r\n"))
        # Keep-alive: two requests on one connection.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\nConnection: close"
                      b"\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 2)
        code, _ = http_get(self.port)
        self.assertEqual(code, 200)

    def test_ipv6_loopback(self):
        lb = start_lb(["-control-addr", "off", "-metrics-addr", "[::1]:0",
                       "-target", self.sink.address])
        self.addCleanup(lb.stop)
        port = lb.port(r"metrics listening on \[::1\]:(\d+)")
        with urllib.request.urlopen("http://[::1]:%d/metrics" % port, timeout=5) as r:
            self.assertIn("jsontcplb_build_info", r.read().decode())

    def test_sigterm_exits_at_once_after_scrapes(self):
        self.hang(5)
        http_get(self.port)
        self.lb.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.lb.proc.wait(timeout=10), 0, self.lb.log())


def main():
    global ARGS
    ARGS, rest = control_client_test.parse_args(__doc__.splitlines()[0])
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
