"""A minimal OTLP receiver for the telemetry tests (run as a separate process).

Accepts OTLP/HTTP ``POST /v1/traces`` and ``POST /v1/metrics`` (binary protobuf,
optionally gzip) and, with ``--grpc-port``, OTLP/gRPC ``TraceService/Export`` and
``MetricsService/Export``. Decodes the wire bytes with the OpenTelemetry protobuf
definitions and appends one JSON line per span / metric data point to ``--out``:

    {"signal": "span", "transport": "http", "name": ..., "trace_id": ..., "span_id": ...,
     "parent_span_id": ..., "kind": ..., "attributes": {...}, "resource": {...}}
    {"signal": "metric", "transport": "grpc", "name": ..., "unit": ..., "attributes": {...},
     "value": ..., "count": ..., "sum": ...}

Usage: python tests/otlp_receiver.py --http-port 4318 [--grpc-port 4317] --out received.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

_write_lock = threading.Lock()


def _any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in kvs}


def decode_traces(body: bytes, transport: str) -> list[dict[str, Any]]:
    req = trace_service_pb2.ExportTraceServiceRequest()
    req.ParseFromString(body)
    return traces_to_rows(req, transport)


def traces_to_rows(req: Any, transport: str) -> list[dict[str, Any]]:
    rows = []
    for rs in req.resource_spans:
        resource = _attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                rows.append(
                    {
                        "signal": "span",
                        "transport": transport,
                        "name": span.name,
                        "scope": ss.scope.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "kind": int(span.kind),
                        "status_code": int(span.status.code),
                        "attributes": _attrs(span.attributes),
                        "resource": resource,
                        "events": [{"name": e.name, "attributes": _attrs(e.attributes)} for e in span.events],
                    }
                )
    return rows


def metrics_to_rows(req: Any, transport: str) -> list[dict[str, Any]]:
    rows = []
    for rm in req.resource_metrics:
        resource = _attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                data = getattr(metric, kind)
                for p in data.data_points:
                    row: dict[str, Any] = {
                        "signal": "metric",
                        "transport": transport,
                        "name": metric.name,
                        "unit": metric.unit,
                        "type": kind,
                        "attributes": _attrs(p.attributes),
                        "resource": resource,
                    }
                    if kind == "histogram":
                        row.update(count=p.count, sum=p.sum, bounds=list(p.explicit_bounds))
                    else:
                        row["value"] = p.as_double if p.WhichOneof("value") == "as_double" else p.as_int
                    rows.append(row)
    return rows


def decode_metrics(body: bytes, transport: str) -> list[dict[str, Any]]:
    req = metrics_service_pb2.ExportMetricsServiceRequest()
    req.ParseFromString(body)
    return metrics_to_rows(req, transport)


class Sink:
    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, rows: list[dict[str, Any]]) -> None:
        with _write_lock, open(self.path, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, default=str) + "\n")


def make_http_handler(sink: Sink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                sink.write(decode_traces(body, "http"))
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            elif self.path == "/v1/metrics":
                sink.write(decode_metrics(body, "http"))
                reply = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    return Handler


def start_grpc(port: int, sink: Sink) -> Any:
    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            sink.write(traces_to_rows(request, "grpc"))
            return trace_service_pb2.ExportTraceServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            sink.write(metrics_to_rows(request, "grpc"))
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    sink = Sink(args.out)
    grpc_server = start_grpc(args.grpc_port, sink) if args.grpc_port else None
    httpd = ThreadingHTTPServer(("127.0.0.1", args.http_port), make_http_handler(sink))
    try:
        httpd.serve_forever()
    finally:
        if grpc_server is not None:
            grpc_server.stop(0)


if __name__ == "__main__":
    main()
