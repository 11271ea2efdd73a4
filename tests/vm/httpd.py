#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
# The web server of tests/vm/fetch.sh: files of one folder on 127.0.0.1, with byte ranges.
#   /NAME          the file (a Range header gets 206 and the rest)
#   /cut/NAME      the first request: the headers of the whole file, half of it, then the
#                  connection closed; later ones as /NAME
#   /norange/NAME  the whole file whatever Range says (a server that cannot resume)
# Every request is logged to LOG as "PATH RANGE-OR-dash". Writes its port to PORTFILE.
#   httpd.py DIR PORTFILE LOG
import http.server
import os
import sys

ROOT, PORTFILE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
cut_done = set()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        rng = self.headers.get("Range")
        with open(LOG, "a") as f:
            f.write("%s %s\n" % (self.path, rng or "-"))
        parts = self.path.strip("/").split("/")
        mode = parts[0] if len(parts) == 2 else ""
        name = parts[-1]
        path = os.path.join(ROOT, name)
        if "/" in name or name.startswith(".") or not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = open(path, "rb").read()
        start = 0
        if rng and mode != "norange" and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if mode == "cut" and name not in cut_done:
            cut_done.add(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up (the cut transfers) is expected


srv = Server(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
