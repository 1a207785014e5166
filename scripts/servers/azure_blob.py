#!/usr/bin/env python3
"""Tiny Azure Blob REST client (stdlib only) with SharedKey auth.

Used by scripts/test-servers.sh against Azurite:

    azure_blob.py --endpoint http://127.0.0.1:10000/devstoreaccount1 \
        --account devstoreaccount1 --key KEY create-container NAME
    azure_blob.py ... list-containers

create-container succeeds (exit 0) if the container already exists.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import sys
import urllib.parse
import xml.etree.ElementTree as ET
from email.utils import formatdate

API_VERSION = "2021-12-02"


def canonicalized_resource(account, path, query):
    # Path-style (emulator) URLs carry the account in the path too; the
    # resource is "/" + account + the URL path, as the Azure SDKs sign it.
    res = "/" + account + (path or "/")
    params = {}
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        params.setdefault(k.lower(), []).append(v)
    for k in sorted(params):
        res += "\n%s:%s" % (k, ",".join(sorted(params[k])))
    return res


def request(endpoint, account, key, method, subpath, query, body=b""):
    url = urllib.parse.urlsplit(endpoint.rstrip("/") + subpath)
    path = url.path
    headers = {
        "x-ms-date": formatdate(usegmt=True),
        "x-ms-version": API_VERSION,
        "Content-Length": str(len(body)),
    }
    canon_headers = "".join(
        "%s:%s\n" % (k.lower(), v.strip())
        for k, v in sorted(headers.items(), key=lambda kv: kv[0].lower())
        if k.lower().startswith("x-ms-")
    )
    content_length = str(len(body)) if body else ""
    string_to_sign = "\n".join(
        [
            method,
            "",  # Content-Encoding
            "",  # Content-Language
            content_length,
            "",  # Content-MD5
            "",  # Content-Type
            "",  # Date (x-ms-date is used instead)
            "",  # If-Modified-Since
            "",  # If-Match
            "",  # If-None-Match
            "",  # If-Unmodified-Since
            "",  # Range
        ]
    ) + "\n" + canon_headers + canonicalized_resource(account, path, query)
    sig = base64.b64encode(
        hmac.new(base64.b64decode(key), string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    ).decode()
    headers["Authorization"] = "SharedKey %s:%s" % (account, sig)

    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
    try:
        conn.request(method, path + ("?" + query if query else ""), body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def error_code(data):
    try:
        return ET.fromstring(data).findtext("Code") or ""
    except ET.ParseError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--account", required=True)
    ap.add_argument("--key", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    cc = sub.add_parser("create-container")
    cc.add_argument("name")
    sub.add_parser("list-containers")
    args = ap.parse_args()

    try:
        if args.cmd == "create-container":
            name = urllib.parse.quote(args.name, safe="")
            status, data = request(args.endpoint, args.account, args.key, "PUT", "/" + name, "restype=container")
            if status == 201:
                print("created container %s" % args.name, file=sys.stderr)
                return 0
            if status == 409 and error_code(data) == "ContainerAlreadyExists":
                print("container %s already exists" % args.name, file=sys.stderr)
                return 0
            print("create-container %s failed: HTTP %d\n%s" % (args.name, status, data.decode("utf-8", "replace")), file=sys.stderr)
            return 1

        # list-containers (follows continuation markers)
        marker = ""
        while True:
            q = "comp=list" + ("&marker=" + urllib.parse.quote(marker, safe="") if marker else "")
            status, data = request(args.endpoint, args.account, args.key, "GET", "/", q)
            if status != 200:
                print("list-containers failed: HTTP %d\n%s" % (status, data.decode("utf-8", "replace")), file=sys.stderr)
                return 1
            root = ET.fromstring(data)
            for c in root.iter("Container"):
                print(c.findtext("Name"))
            marker = root.findtext("NextMarker") or ""
            if not marker:
                return 0
    except OSError as e:
        print("%s: cannot reach %s: %s" % (args.cmd, args.endpoint, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
