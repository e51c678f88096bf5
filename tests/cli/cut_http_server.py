#!/usr/bin/env python3
"""A loopback HTTP server for the live fault tests: to every GET it answers 200 with FILE's length
(Content-Length) but sends only its first BYTES bytes, then closes the connection, as a server that
fails every transfer part-way would. (Python's http.server cannot be made to do that.) Prints "ready"
once it listens. Usage: cut_http_server.py PORT FILE BYTES."""
import socket
import sys
import threading


def main() -> int:
    port, path, cut = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    with open(path, "rb") as f:
        data = f.read()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
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
                conn.recv(65536)
                conn.sendall(head % len(data) + data[:cut])
            except OSError:
                pass

    while True:
        conn, _ = server.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
