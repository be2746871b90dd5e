"""A stand-in for a model provider on loopback: answers Chat Completions
(and streams them) with a canned completion, so that real clients make real
calls without any real provider. Usage: upstream.py PORT"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Upstream(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        request = json.loads(self.rfile.read(length) or b"{}")
        n = int(request.get("n") or 1)
        answer = "A canned answer from the loopback upstream."
        completion = {
            "id": f"chatcmpl-interop-{time.time_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_interop",
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop",
                 "logprobs": None}
                for i in range(n)
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
        }
        if request.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            chunk = {**completion, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": answer}, "finish_reason": None}]}
            last = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": completion["usage"]}
            for part in (chunk, last):
                self.wfile.write(f"data: {json.dumps(part)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        body = json.dumps(completion).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Upstream).serve_forever()
