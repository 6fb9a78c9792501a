#!/usr/bin/python3
"""A third-party client of json-tcp-lb's control API.

Generates Python stubs from proto/ with protoc and grpc_python_plugin at test time, starts the
real json-tcp-lb on free ports in front of a small Python TCP sink, and calls it the way any
gRPC client would: GetStatus, SetTargets (with compare-and-set and a refused input),
WatchStatus, grpc.health.v1 and server reflection. Run by ctest with Debian's /usr/bin/python3
(python3-grpcio, python3-protobuf); every wait is bounded.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import testkit  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = None  # set in main()
CALL_TIMEOUT = 10  # seconds, for every RPC
WAIT_TIMEOUT = 20  # seconds, for anything converging


def wait_until(predicate, timeout=WAIT_TIMEOUT):
    return testkit.wait_until(predicate, timeout, interval=0.05)


def lb_process(args):
    return testkit.Process([ARGS.lb_binary] + args)


def generate_stubs(out_dir):
    """protoc --python_out --grpc_python_out for the API and the health/reflection copies."""
    common = [
        ARGS.protoc,
        "--python_out=" + out_dir,
        "--grpc_python_out=" + out_dir,
        "--plugin=protoc-gen-grpc_python=" + ARGS.grpc_python_plugin,
    ]
    subprocess.run(
        common + ["-I", ARGS.proto_dir, "-I", ARGS.proto_include,
                  "jsontcplb/v1/config.proto", "jsontcplb/v1/control.proto"],
        check=True, timeout=60)
    subprocess.run(common + ["-I", HERE, "health.proto", "reflection.proto"],
                   check=True, timeout=60)


class ControlClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails half way: no process or folder leaks.
        cls.tmp = tempfile.mkdtemp(prefix="lb-pyclient-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        generate_stubs(cls.tmp)
        sys.path.insert(0, cls.tmp)
        global grpc, config_pb2, control_pb2, control_pb2_grpc, health_pb2, health_pb2_grpc
        global reflection_pb2, reflection_pb2_grpc, duration_pb2, descriptor_pb2
        import grpc
        from google.protobuf import descriptor_pb2, duration_pb2
        from jsontcplb.v1 import config_pb2, control_pb2, control_pb2_grpc
        import health_pb2
        import health_pb2_grpc
        import reflection_pb2
        import reflection_pb2_grpc

        cls.sink_a = testkit.TcpSink()
        cls.addClassCleanup(cls.sink_a.close)
        cls.sink_b = testkit.TcpSink()
        cls.addClassCleanup(cls.sink_b.close)
        cls.lb = lb_process(["-addr", "127.0.0.1", "-port", "0", "-control-addr", "127.0.0.1:0",
                            "-metrics-addr", "off",
                            "-target", cls.sink_a.address, "-connections", "2"])
        cls.addClassCleanup(cls.lb.stop)
        cls.control_port = cls.lb.port(r"control API listening on 127\.0\.0\.1:(\d+)")
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.control_port)
        cls.addClassCleanup(cls.channel.close)
        grpc.channel_ready_future(cls.channel).result(timeout=CALL_TIMEOUT)
        cls.stub = control_pb2_grpc.DataPlaneControlStub(cls.channel)

    def status(self):
        return self.stub.GetStatus(control_pb2.GetStatusRequest(), timeout=CALL_TIMEOUT)

    def set_targets(self, addresses, **kwargs):
        config = config_pb2.DataPlaneConfig(
            targets=[config_pb2.Target(address=a) for a in addresses],
            config_version=kwargs.pop("config_version", ""))
        return self.stub.SetTargets(
            control_pb2.SetTargetsRequest(config=config, **kwargs), timeout=CALL_TIMEOUT)

    def test_get_status(self):
        status = self.status()
        self.assertTrue(status.version)
        self.assertIn(self.sink_a.address, [t.address for t in status.targets])
        self.assertEqual(status.default_connections, 2)
        connected = wait_until(lambda: all(
            t.connections_connected == t.connections_wanted == 2 for t in self.status().targets))
        self.assertTrue(connected, str(self.status()))

    def test_set_targets_with_compare_and_set(self):
        generation = self.status().generation
        response = self.set_targets([self.sink_b.address], expected_generation=generation,
                                    config_version="python-1")
        self.assertEqual(response.generation, generation + 1)
        status = self.status()
        self.assertEqual([t.address for t in status.targets], [self.sink_b.address])
        self.assertEqual(status.config_version, "python-1")
        self.assertEqual(status.default_connections, 2, "connections 0 keeps the current value")
        self.assertTrue(wait_until(lambda: self.sink_b.connections() == 2),
                        "sink B connections: %d" % self.sink_b.connections())
        self.assertTrue(wait_until(lambda: self.sink_a.connections() == 0),
                        "sink A connections: %d" % self.sink_a.connections())

        # A stale generation and a bad address are refused and change nothing.
        with self.assertRaises(grpc.RpcError) as stale:
            self.set_targets([self.sink_a.address], expected_generation=generation)
        self.assertEqual(stale.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        with self.assertRaises(grpc.RpcError) as bad:
            self.set_targets(["nohost"])
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("nohost", bad.exception.details())
        self.assertEqual(self.status().generation, generation + 1)

        # Back to A, without compare-and-set.
        response = self.set_targets([self.sink_a.address])
        self.assertEqual(response.generation, generation + 2)
        self.assertTrue(wait_until(lambda: self.sink_a.connections() == 2))

    def test_watch_status_streams_updates(self):
        request = control_pb2.WatchStatusRequest(
            interval=duration_pb2.Duration(nanos=100 * 1000 * 1000))
        stream = self.stub.WatchStatus(request, timeout=CALL_TIMEOUT)
        updates = []
        for status in stream:
            updates.append(status)
            if len(updates) == 3:
                break
        stream.cancel()
        self.assertEqual(len(updates), 3)
        self.assertTrue(all(u.version for u in updates))

    def test_health_reports_serving(self):
        health = health_pb2_grpc.HealthStub(self.channel)
        response = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT)
        self.assertEqual(response.status, health_pb2.HealthCheckResponse.SERVING)

    def test_reflection_lists_and_describes_the_service(self):
        reflection = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="jsontcplb.v1.DataPlaneControl"),
        ]
        responses = list(reflection.ServerReflectionInfo(iter(requests), timeout=CALL_TIMEOUT))
        self.assertEqual(len(responses), 2)
        services = [s.name for s in responses[0].list_services_response.service]
        self.assertIn("jsontcplb.v1.DataPlaneControl", services)
        self.assertIn("grpc.health.v1.Health", services)
        files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                 for b in responses[1].file_descriptor_response.file_descriptor_proto]
        described = [s.name for f in files if f.package == "jsontcplb.v1" for s in f.service]
        self.assertIn("DataPlaneControl", described, str(responses[1]))

    def test_health_turns_not_serving_when_draining(self):
        # Its own data plane: a drain ends it. One idle client keeps it draining (not exited)
        # while the health is checked; a readiness probe sees NOT_SERVING, not a refused call.
        sink = testkit.TcpSink()
        self.addCleanup(sink.close)
        lb = lb_process(["-addr", "127.0.0.1", "-port", "0", "-control-addr", "127.0.0.1:0",
                        "-metrics-addr", "off", "-target", sink.address, "-drain-timeout", "60s"])
        self.addCleanup(lb.stop)
        data_port = lb.port(r"json-tcp-lb listening on 127\.0\.0\.1:(\d+)")
        control_port = lb.port(r"control API listening on 127\.0\.0\.1:(\d+)")
        client = socket.create_connection(("127.0.0.1", data_port), timeout=CALL_TIMEOUT)
        self.addCleanup(client.close)
        channel = grpc.insecure_channel("127.0.0.1:%d" % control_port)
        self.addCleanup(channel.close)
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="")
        serving = health_pb2.HealthCheckResponse.SERVING
        self.assertEqual(health.Check(check, timeout=CALL_TIMEOUT).status, serving)
        control_pb2_grpc.DataPlaneControlStub(channel).Drain(
            control_pb2.DrainRequest(), timeout=CALL_TIMEOUT)
        self.assertEqual(health.Check(check, timeout=CALL_TIMEOUT).status,
                         health_pb2.HealthCheckResponse.NOT_SERVING)
        client.close()
        self.assertEqual(lb.proc.wait(timeout=30), 0, lb.log())


def parse_args(description):
    """The arguments every control-API Python test takes; unittest's own are returned apart."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lb-binary", required=True)
    parser.add_argument("--protoc", default=shutil.which("protoc"))
    parser.add_argument("--grpc-python-plugin", default=shutil.which("grpc_python_plugin"))
    parser.add_argument("--proto-dir", required=True, help="the project's proto/ folder")
    parser.add_argument("--proto-include", default="/usr/include",
                        help="where google/protobuf/*.proto are")
    return parser.parse_known_args()


def main():
    global ARGS
    ARGS, rest = parse_args(__doc__.splitlines()[0])
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
