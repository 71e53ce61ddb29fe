"""The local stand-in for API Gateway HTTP APIs: requests on 127.0.0.1 to the real handler.

moto's CloudFormation skips AWS::ApiGatewayV2::* (see workarounds.cloudformation.LocalHttpApi), so each
deployed API's OpenAPI Body is registered here. :class:`LocalApiGateway` serves mounted
APIs at ``http://127.0.0.1:<port>/<mount>/<path>``: a request becomes the payload format
2.0 event API Gateway sends to a Lambda proxy integration, the integration's function is
invoked through the Lambda API, and its ``statusCode``/``headers``/``body`` answer become
the HTTP response.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HTTP_APIS: dict[str, dict[tuple[str, str], str]] = {}  # api id -> {(METHOD, path): function ARN}
_INTEGRATION_ARN = re.compile(r"functions/(arn:[^/]+)/invocations")


def register_http_api(api_id: str, body: dict[str, Any]) -> None:
    routes: dict[tuple[str, str], str] = {}
    for path, operations in (body.get("paths") or {}).items():
        for method, operation in operations.items():
            uri = str((operation.get("x-amazon-apigateway-integration") or {}).get("uri", ""))
            found = _INTEGRATION_ARN.search(uri)
            if found:
                routes[(method.upper(), path)] = found.group(1)
    HTTP_APIS[api_id] = routes


class LocalApiGateway:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.mounts: dict[str, str] = {}  # mount name -> api id
        self._client: Any = None
        self._client_lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gateway.handle(self)

            def do_POST(self) -> None:
                gateway.handle(self)

            def do_HEAD(self) -> None:
                gateway.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # request lines carry signed ids; keep them out of the terminal

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-api-gateway", daemon=True)
        self._thread.start()

    def _lambda(self) -> Any:
        """One Lambda client for every request (made on the first: the engine is still starting
        when the gateway is)."""
        with self._client_lock:
            if self._client is None:
                self._client = self.engine.client("lambda")
            return self._client

    def base_url(self, mount: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mount}"

    def mount(self, mount: str, api_id: str) -> None:
        if api_id not in HTTP_APIS:
            raise KeyError(f"no HTTP API {api_id} was deployed")
        self.mounts[mount] = api_id

    def stop(self) -> None:
        self._server.shutdown()

    def _event(
        self, request: BaseHTTPRequestHandler, method: str, path: str, query: str, body: bytes
    ) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        text_body = body.decode("utf-8", "replace") if body else None
        return {
            "version": "2.0",
            "routeKey": f"{method} {path}",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "queryStringParameters": dict(parse_qsl(query, keep_blank_values=True)) or None,
            "requestContext": {
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.client_address[0],
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": f"{method} {path}",
                "stage": "$default",
                "timeEpoch": int(time.time() * 1000),
            },
            "body": text_body,
            "isBase64Encoded": False,
        }

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        method = request.command.upper()
        parts = urlsplit(request.path)
        mount, _, rest = parts.path.lstrip("/").partition("/")
        path = "/" + rest
        api_id = self.mounts.get(mount)
        lookup = "GET" if method == "HEAD" else method
        function_arn = HTTP_APIS.get(api_id or "", {}).get((lookup, path))
        if function_arn is None:
            self._send(request, 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}', method)
            return
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        event = self._event(request, lookup, path, parts.query, body)
        response = self._lambda().invoke(FunctionName=function_arn, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError") or not isinstance(payload, dict):
            self._send(
                request, 500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}', method
            )
            return
        content = payload.get("body") or ""
        data = base64.b64decode(content) if payload.get("isBase64Encoded") else str(content).encode()
        self._send(request, int(payload.get("statusCode", 200)), payload.get("headers") or {}, data, method)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes, method: str) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, str(value))
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if method != "HEAD":
            request.wfile.write(data)
