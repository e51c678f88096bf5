#!/usr/bin/env python3
"""A loopback HTTP server for the live and recording fault tests: to every GET of any path it answers
with FILE, claiming its whole length (Content-Length), but sends at most BYTES bytes of it and then
closes the connection, as a server whose every transfer breaks part-way. With --ranges it honours
"Range: bytes=N-" (206 Partial Content, from byte N), as web servers and object stores do, so that a
client can resume where a transfer broke. (Python's http.server can do neither.) Prints "ready" once
it listens. Usage: cut_http_server.py [--ranges] PORT FILE BYTES."""
import re
import socket
import sys
import threading


def main() -> int:
    args = sys.argv[1:]
    ranges = args[0] == "--ranges"
    if ranges:
        args = args[1:]
    port, path, cut = int(args[0]), args[1], int(args[2])
    with open(path, "rb") as f:
        data = f.read()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("127.0.0.1", port))
    except OSError as e:
        print(f"cannot listen on {port}: {e}", flush=True)
        return 3
    server.listen(16)
    print("ready", flush=True)

    def answer(conn: socket.socket) -> None:
        with conn:
            try:
                request = conn.recv(65536).decode("latin-1")
                start = 0
                m = re.search(r"^Range: *bytes=(\d+)-", request, re.IGNORECASE | re.MULTILINE)
                if ranges and m and int(m.group(1)) < len(data):
                    start = int(m.group(1))
                    head = (f"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{len(data) - 1}/{len(data)}\r\n")
                else:
                    head = "HTTP/1.1 200 OK\r\n"
                head += (f"Content-Type: application/octet-stream\r\nContent-Length: {len(data) - start}\r\n"
                         f"{'Accept-Ranges: bytes' if ranges else 'Accept-Ranges: none'}\r\nConnection: close\r\n\r\n")
                conn.sendall(head.encode("latin-1") + data[start:start + cut])
            except OSError:
                pass

    while True:
        conn, _ = server.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
