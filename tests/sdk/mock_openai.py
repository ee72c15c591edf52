#!/usr/bin/env python3
"""A tiny stand-in for an OpenAI-compatible API, enough for letta-rs to resolve model handles
without the network: GET /v1/models (and /v1/models/{id}) and POST /v1/embeddings.

Standard library only, so scripts/bench.sh can run it with any python3.

    python3 tests/sdk/mock_openai.py --port 0 --port-file /tmp/mock.port

prints the address it listens on and, with --port-file, writes the port to that file once the
socket is bound (the scripts wait for the file). Use http://127.0.0.1:PORT/v1 as OPENAI_API_BASE.
Paths are accepted with or without the /v1 prefix.
"""

import argparse
import base64
import hashlib
import json
import os
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CREATED = 1_700_000_000

CHAT_MODELS = {
    "gpt-4o-mini": 128000,
    "gpt-4o": 128000,
}
EMBEDDING_MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-ada-002": 1536,
}


def model_entry(model_id):
    entry = {"id": model_id, "object": "model", "created": CREATED, "owned_by": "system"}
    if model_id in CHAT_MODELS:
        # Some OpenAI-compatible servers report their context size; harmless for the others.
        entry["context_length"] = CHAT_MODELS[model_id]
    return entry


def fake_embedding(text, dim):
    """A deterministic unit vector derived from the text (same text, same vector)."""
    values = []
    counter = 0
    while len(values) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dim]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def last_user_text(req):
    """The text of the newest user message of a chat request."""
    for message in reversed(req.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content or ""
    return ""


def chat_reply(req):
    """Answers every chat request with a send_message call echoing the user (a summary request,
    which has no tools, gets plain text)."""
    text = last_user_text(req)
    message = {"role": "assistant", "content": None}
    if req.get("tools"):
        arguments = {"inner_thoughts": "The user wrote to me.", "message": f"Echo: {text}"}
        message["tool_calls"] = [{
            "id": "call_" + format(abs(hash(text)) % (1 << 40), "x"),
            "type": "function",
            "function": {"name": "send_message", "arguments": json.dumps(arguments)},
        }]
        finish = "tool_calls"
    else:
        message["content"] = "A short summary."
        finish = "stop"
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 0,
        "model": req.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "mock-openai/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if os.environ.get("MOCK_OPENAI_VERBOSE"):
            sys.stderr.write("mock-openai: " + (fmt % args) + "\n")

    def _path(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") or path == "/v1" else path

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, message, kind="invalid_request_error"):
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def do_GET(self):
        path = self._path()
        if path == "/models":
            ids = list(CHAT_MODELS) + list(EMBEDDING_MODELS)
            self._send(200, {"object": "list", "data": [model_entry(i) for i in ids]})
        elif path.startswith("/models/"):
            model_id = path[len("/models/"):]
            if model_id in CHAT_MODELS or model_id in EMBEDDING_MODELS:
                self._send(200, model_entry(model_id))
            else:
                self._error(404, f"The model '{model_id}' does not exist")
        else:
            self._error(404, f"no route for GET {self.path}")

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self._path()
        if path not in ("/embeddings", "/chat/completions"):
            self._error(404, f"no route for POST {self.path}")
            return
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "body is not JSON")
            return
        if path == "/chat/completions":
            self._send(200, chat_reply(req))
            return
        model = req.get("model")
        if model not in EMBEDDING_MODELS:
            self._error(404, f"The model '{model}' does not exist")
            return
        inputs = req.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            self._error(400, "'input' must be a string or a non-empty list")
            return
        dim = int(req.get("dimensions") or EMBEDDING_MODELS[model])
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else json.dumps(item)
            tokens += max(1, len(text) // 4)
            vector = fake_embedding(text, dim)
            if req.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        self._send(200, {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    args = parser.parse_args()

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"mock-openai listening on http://{args.host}:{port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
