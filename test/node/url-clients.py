"""Python's urllib as a URL's second reader (test/node/url-clients.test.ts).

Reads one JSON job per line ({"id", "url"}) and opens the URL with urllib.request, no proxy.
Every connection goes to the test's recording server instead of the host urllib asked for; what
it asked for is printed back, the host as the system's resolver reads a numeric one (inet_aton's
`0x7f.1` is 127.0.0.1), so the test sees where Python would have connected and, from the
recorder, what it sent there.
"""
import json
import socket
import sys
import urllib.request

recorder = ("127.0.0.1", int(sys.argv[1]))
connect = socket.create_connection
asked = {}


def numeric(host):
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)[0][4][0]
    except socket.gaierror:
        return None


def to_recorder(address, *args, **kwargs):
    host, port = address[0], address[1]
    asked.update(host=numeric(host) or host, port=port)
    return connect(recorder, *args, **kwargs)


socket.create_connection = to_recorder
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for line in sys.stdin:
    job = json.loads(line)
    asked.clear()
    try:
        opener.open(urllib.request.Request(job["url"], headers={"x-probe-id": job["id"]}), timeout=5).read()
    except Exception:
        # Refused by urllib, or the recorder closed a TLS handshake: what it asked for is what counts.
        pass
    print(json.dumps({"id": job["id"], **asked}), flush=True)
