#!/usr/bin/env python3
"""Stand-in for aops-manager's /manage/host/add: answers like the manager and records what it got.

usage: manager.py PORT RECORD_FILE TOKEN
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT, RECORD, TOKEN = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(RECORD, "w") as f:
            json.dump({"path": self.path,
                       "content_type": self.headers.get("Content-Type"),
                       "body": body.decode("utf-8", "replace")}, f)
        if self.path != "/manage/host/add":
            reply = {"code": 404, "msg": "not found"}
        else:
            reply = {"code": 200, "msg": "operate success", "token": TOKEN}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("stand-in manager: " + fmt % args + "\n")


HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
