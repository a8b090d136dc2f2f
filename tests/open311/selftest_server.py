#!/usr/bin/env python3
"""A tiny, in-memory Open311 GeoReport v2 server, only to test client_check.py.

    python3 tests/open311/selftest_server.py --port 8311 [--fault NAME]

Serves http://127.0.0.1:PORT/open311/v2/ with api_key "test-key" and three
services: POTHOLE (realtime, metadata: an "urgency" singlevaluelist),
GRAFFITI (realtime, no metadata) and BULKY (batch: POST returns a token).
Discovery is at /open311/discovery.{json,xml}. Stdlib only; loopback only.

--fault breaks one spec rule so that the checker can be seen to fail:
  leak-email      GET requests give back the poster's email
  naive-datetime  datetimes without a timezone
  error-object    error bodies as a JSON object instead of an array
  accept-no-key   POST without api_key succeeds
  no-xml-decl     XML without the <?xml ... encoding="UTF-8"?> declaration
"""

import argparse
import datetime as dt
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

API_KEY = "test-key"
PREFIX = "/open311/v2/"
SERVICES = [
    {"service_code": "POTHOLE", "service_name": "Pothole", "description": "A hole in the road",
     "metadata": True, "type": "realtime", "keywords": "road, hole", "group": "street"},
    {"service_code": "GRAFFITI", "service_name": "Graffiti", "description": None,
     "metadata": False, "type": "realtime", "keywords": None, "group": "cleaning"},
    {"service_code": "BULKY", "service_name": "Bulky item", "description": None,
     "metadata": False, "type": "batch", "keywords": None, "group": "cleaning"},
]
DEFINITIONS = {
    "POTHOLE": {"service_code": "POTHOLE", "attributes": [
        {"variable": True, "code": "urgency", "datatype": "singlevaluelist", "required": False,
         "datatype_description": None, "order": 1, "description": "How urgent is it?",
         "values": [{"key": "high", "name": "High"}, {"key": "low", "name": "Low"}]},
    ]},
}
PUBLIC = ["service_request_id", "status", "status_notes", "service_name", "service_code",
          "description", "agency_responsible", "service_notice", "requested_datetime",
          "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
          "lat", "long", "media_url"]

FAULT = None
LOCK = threading.Lock()
REQUESTS = []   # dicts, newest last
TOKENS = {}     # token -> service_request_id


def w3(t):
    if FAULT == "naive-datetime":
        return t.strftime("%Y-%m-%dT%H:%M:%S")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_w3(s):
    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$", s or "")
    if not m:
        return None
    base = m.group(1) if len(m.group(1)) == 19 else m.group(1) + ":00"
    return dt.datetime.fromisoformat(base + ("+00:00" if m.group(2) == "Z" else m.group(2)))


def to_xml(root, item, items):
    """Spark mapping the other way: root container of `item` elements."""
    def val(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return escape(str(v))

    def elem(name, v):
        if isinstance(v, dict):
            return "<%s>%s</%s>" % (name, "".join(elem(k, x) for k, x in v.items()), name)
        if isinstance(v, list):
            child = {"attributes": "attribute", "values": "value", "endpoints": "endpoint",
                     "formats": "format"}[name]
            return "<%s>%s</%s>" % (name, "".join(elem(child, x) for x in v), name)
        return "<%s>%s</%s>" % (name, val(v), name)

    body = "".join(elem(item, x) for x in items) if item else "".join(
        elem(k, v) for k, v in items.items())
    decl = "" if FAULT == "no-xml-decl" else '<?xml version="1.0" encoding="UTF-8"?>\n'
    return (decl + "<%s>%s</%s>" % (root, body, root)).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, status, fmt, payload, root=None, item=None):
        if fmt == "xml":
            body = to_xml(root, item, payload)
            ctype = "text/xml; charset=utf-8"
        else:
            body = json.dumps(payload).encode("utf-8")
            ctype = "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, fmt, description):
        errs = [{"code": status, "description": description}]
        if FAULT == "error-object" and fmt == "json":
            return self.send(status, fmt, {"error": description})
        self.send(status, fmt, errs, "errors", "error")

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path in ("/open311/discovery.json", "/open311/discovery.xml"):
            return "discovery", u.path.rsplit(".", 1)[1], urllib.parse.parse_qs(u.query)
        if not u.path.startswith(PREFIX):
            return None, "json", {}
        rest = u.path[len(PREFIX):]
        m = re.match(r"^(.*)\.(json|xml)$", rest)
        if not m:
            return None, "json", {}
        return urllib.parse.unquote(m.group(1)), m.group(2), urllib.parse.parse_qs(u.query)

    def do_GET(self):
        path, fmt, q = self.route()
        if path is None:
            return self.error(404, fmt, "no such resource")
        if path == "discovery":
            d = {"changeset": "2024-01-01 00:00", "contact": "nobody", "key_service": "ask",
                 "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2",
                                "url": "http://%s%s" % (self.headers["Host"], PREFIX.rstrip("/")),
                                "changeset": "2024-01-01 00:00", "type": "test",
                                "formats": ["text/xml", "application/json"]}]}
            return self.send(200, fmt, d, "discovery")
        if path == "services":
            return self.send(200, fmt, SERVICES, "services", "service")
        m = re.match(r"^services/([^/]+)$", path)
        if m:
            d = DEFINITIONS.get(m.group(1))
            if not d:
                return self.error(404, fmt, "service_code %s not found" % m.group(1))
            return self.send(200, fmt, d, "service_definition")
        m = re.match(r"^tokens/([^/]+)$", path)
        if m:
            if m.group(1) not in TOKENS:
                return self.error(404, fmt, "token not found")
            return self.send(200, fmt, [{"service_request_id": TOKENS[m.group(1)], "token": m.group(1)}],
                             "service_requests", "request")
        m = re.match(r"^requests/([^/]+)$", path)
        if m:
            with LOCK:
                r = next((x for x in REQUESTS if x["service_request_id"] == m.group(1)), None)
            if not r:
                return self.error(404, fmt, "service_request_id %s not found" % m.group(1))
            return self.send(200, fmt, [self.public(r)], "service_requests", "request")
        if path == "requests":
            return self.list_requests(fmt, q)
        return self.error(404, fmt, "no such resource")

    def public(self, r):
        out = {k: r.get(k) for k in PUBLIC}
        out["requested_datetime"] = w3(r["requested"])
        out["updated_datetime"] = w3(r["requested"])
        if FAULT == "leak-email":
            out["email"] = r.get("email")
        return out

    def list_requests(self, fmt, q):
        def one(name):
            v = ",".join(q.get(name, []))
            return [x for x in v.split(",") if x] if v else None
        with LOCK:
            rows = list(REQUESTS)
        ids = one("service_request_id")
        if ids:
            rows = [r for r in rows if r["service_request_id"] in ids]
        else:
            now = dt.datetime.now(dt.timezone.utc)
            start = parse_w3((q.get("start_date") or [""])[0])
            end = parse_w3((q.get("end_date") or [""])[0])
            if q.get("start_date", [""])[0] and not start or q.get("end_date", [""])[0] and not end:
                return self.error(400, fmt, "start_date/end_date must be w3 date-times")
            if start and end and end - start > dt.timedelta(days=90):
                return self.error(400, fmt, "start_date to end_date may not span more than 90 days")
            end = end or (start + dt.timedelta(days=90) if start else now)
            start = start or end - dt.timedelta(days=90)
            rows = [r for r in rows if start <= r["requested"] <= end]
            codes, statuses = one("service_code"), one("status")
            if codes:
                rows = [r for r in rows if r["service_code"] in codes]
            if statuses:
                rows = [r for r in rows if r["status"] in statuses]
            rows = sorted(rows, key=lambda r: r["requested"], reverse=True)[:1000]
        return self.send(200, fmt, [self.public(r) for r in rows], "service_requests", "request")

    def do_POST(self):
        path, fmt, q = self.route()
        if path != "requests":
            return self.error(404, fmt, "no such resource")
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode("utf-8"), keep_blank_values=True)
        for k, v in q.items():
            form.setdefault(k, v)
        f = {k: v[0] for k, v in form.items()}
        key = f.get("api_key", "")
        if key != API_KEY and not (FAULT == "accept-no-key" and not key):
            return self.error(403, fmt, "missing or invalid api_key")
        code = f.get("service_code")
        if not code:
            return self.error(400, fmt, "service_code was not provided")
        service = next((s for s in SERVICES if s["service_code"] == code), None)
        if not service:
            return self.error(404, fmt, "service_code %s not found" % code)
        has_ll = f.get("lat") and f.get("long")
        if not (has_ll or f.get("address_string") or f.get("address_id")):
            return self.error(400, fmt, "a location (lat & long, address_string or address_id) is required")
        try:
            lat = float(f["lat"]) if has_ll else None
            lon = float(f["long"]) if has_ll else None
        except ValueError:
            return self.error(400, fmt, "lat/long must be numbers")
        if len(f.get("description", "")) > 4000:
            return self.error(400, fmt, "description over 4,000 characters")
        with LOCK:
            srid = str(1000 + len(REQUESTS))
            REQUESTS.append({
                "service_request_id": srid, "status": "open", "service_code": code,
                "service_name": service["service_name"], "description": f.get("description"),
                "address": f.get("address_string"), "lat": lat, "long": lon,
                "requested": dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
                "email": f.get("email"), "first_name": f.get("first_name"),
                "attributes": {k: v for k, v in form.items() if k.startswith("attribute[")},
            })
            if service["type"] == "batch":
                token = "t" + srid
                TOKENS[token] = srid
                out = [{"token": token, "service_notice": None, "account_id": None}]
            else:
                out = [{"service_request_id": srid, "service_notice": None, "account_id": None}]
        self.send(200, fmt, out, "service_requests", "request")


def main():
    global FAULT
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8311)
    ap.add_argument("--fault", default=None,
                    choices=["leak-email", "naive-datetime", "error-object", "accept-no-key", "no-xml-decl"])
    a = ap.parse_args()
    FAULT = a.fault
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print("listening on http://127.0.0.1:%d%s" % (a.port, PREFIX), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
