#!/usr/bin/env python3
"""Send a MongoDB `hello` (OP_MSG) and exit 0 if the server answers ok:1.

Stdlib only; used by scripts/test-servers.sh to check that FerretDB is ready.

    mongo_ping.py [HOST [PORT]]     (default 127.0.0.1 27017)

Prints the reply document (as a dict) on success.
"""

import socket
import struct
import sys

OP_MSG = 2013


def bson_encode(doc):
    out = b""
    for k, v in doc.items():
        name = k.encode() + b"\x00"
        if isinstance(v, bool):
            out += b"\x08" + name + (b"\x01" if v else b"\x00")
        elif isinstance(v, int):
            out += b"\x10" + name + struct.pack("<i", v)
        elif isinstance(v, str):
            s = v.encode() + b"\x00"
            out += b"\x02" + name + struct.pack("<i", len(s)) + s
        else:
            raise TypeError(type(v))
    return struct.pack("<i", len(out) + 5) + out + b"\x00"


def bson_decode(buf, pos=0):
    """Decode one document at buf[pos:]; nested values are kept only for
    simple types (enough to read `ok` and a few fields)."""
    (size,) = struct.unpack_from("<i", buf, pos)
    end = pos + size - 1
    pos += 4
    doc = {}
    while pos < end:
        t = buf[pos]
        pos += 1
        nul = buf.index(b"\x00", pos)
        name = buf[pos:nul].decode()
        pos = nul + 1
        if t == 0x01:
            (doc[name],) = struct.unpack_from("<d", buf, pos)
            pos += 8
        elif t in (0x02, 0x0D, 0x0E):
            (n,) = struct.unpack_from("<i", buf, pos)
            doc[name] = buf[pos + 4 : pos + 4 + n - 1].decode("utf-8", "replace")
            pos += 4 + n
        elif t in (0x03, 0x04):
            (n,) = struct.unpack_from("<i", buf, pos)
            doc[name] = bson_decode(buf, pos)
            pos += n
        elif t == 0x05:
            (n,) = struct.unpack_from("<i", buf, pos)
            doc[name] = buf[pos + 5 : pos + 5 + n]
            pos += 5 + n
        elif t == 0x07:
            doc[name] = buf[pos : pos + 12].hex()
            pos += 12
        elif t == 0x08:
            doc[name] = buf[pos] != 0
            pos += 1
        elif t in (0x09, 0x11, 0x12):
            (doc[name],) = struct.unpack_from("<q", buf, pos)
            pos += 8
        elif t in (0x0A, 0x06, 0xFF, 0x7F):
            doc[name] = None
        elif t == 0x10:
            (doc[name],) = struct.unpack_from("<i", buf, pos)
            pos += 4
        elif t == 0x13:
            doc[name] = buf[pos : pos + 16]
            pos += 16
        else:
            raise ValueError("unsupported BSON type 0x%02x" % t)
    return doc


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def hello(host, port, timeout=5.0):
    body = struct.pack("<I", 0) + b"\x00" + bson_encode({"hello": 1, "$db": "admin"})
    msg = struct.pack("<iiii", 16 + len(body), 1, 0, OP_MSG) + body
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(msg)
        length, _req, _resp_to, opcode = struct.unpack("<iiii", recv_exact(s, 16))
        payload = recv_exact(s, length - 16)
    if opcode != OP_MSG:
        raise ValueError("unexpected reply opcode %d" % opcode)
    if payload[4] != 0:
        raise ValueError("unexpected section kind %d" % payload[4])
    return bson_decode(payload, 5)


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 27017
    try:
        reply = hello(host, port)
    except (OSError, ValueError, struct.error) as e:
        print("hello to %s:%d failed: %s" % (host, port, e), file=sys.stderr)
        return 1
    if reply.get("ok") != 1:
        print("hello to %s:%d: not ok: %r" % (host, port, reply), file=sys.stderr)
        return 1
    print(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
