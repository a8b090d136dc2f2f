#!/usr/bin/env python3
"""Check an Open311 GeoReport v2 endpoint with a third-party client.

    python3 tests/open311/client_check.py BASE_URL API_KEY SERVICE_CODE \
        [--jurisdiction ID] [--lat 37.76 --long -122.42] [--discovery URL]

BASE_URL is the endpoint root, e.g. http://127.0.0.1:8080/open311/v2/ .
SERVICE_CODE must be a service the endpoint lists; the check posts two
service requests to it (one through requests.json, one through requests.xml)
with made-up personal data, so point it at a test server only.

Only what the GeoReport v2 spec says is checked (wiki.open311.org/GeoReport_v2,
the copy in open311/open311.github.io GeoReport/v2/index.md), nothing of any
particular server. Each check prints "ok: <what>" (or "skip: <what>" when
the spec makes it conditional); the first failure prints "FAIL: ..." to
stderr and exits 1 (2 for a usage or missing-package error).

The client is the PyPI package `georeport` (0.3.1, `pip install georeport`):
it covers GET services, GET a service definition, GET requests and GET a
request, always through the .json URLs. It has no POST of a service request
and no GET of a token, so those two go through urllib here, as does every
.xml URL (validated with lxml against tests/open311/schemas/*.xsd, which are
derived from the spec, not published: Open311 publishes no XSD) and every
error case (georeport only raises requests.HTTPError on them).

Needs: Python 3.9+, georeport (pulls in requests and xmltodict), and lxml
for the XSD checks (without lxml those are skipped and the XML is only
checked for being well-formed).
"""

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

try:
    import requests  # georeport's own dependency: only to catch its errors
    from georeport import GeoReport
except ImportError as e:  # pragma: no cover
    print("FAIL: the Open311 client is missing (%s): pip install georeport" % e, file=sys.stderr)
    sys.exit(2)

try:
    from lxml import etree as LXML
except ImportError:  # pragma: no cover
    LXML = None

SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")

# "All date/time fields must be formatted in a common subset of ISO 8601 as
# per the w3 note. Timezone information (either Z meaning UTC, or an HH:MM
# offset from UTC) must be included."
W3_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")

SERVICE_TYPES = {"realtime", "batch", "blackbox"}
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
STATUSES = {"open", "closed"}
# The fields of a request in GET Service Requests / GET Service Request.
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
    "lat", "long", "media_url",
}
REQUEST_REQUIRED = ("service_request_id", "status", "service_code", "requested_datetime")
# POST-only arguments about the person; a GET must never give them back.
PERSONAL_FIELDS = ("first_name", "last_name", "phone", "email")


class Failed(Exception):
    pass


def ok(what):
    print("ok: " + what, flush=True)


def skip(what):
    print("skip: " + what, flush=True)


def note(what):
    print("note: " + what, flush=True)


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def short(body, n=400):
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = body.strip()
    return body if len(body) <= n else body[:n] + "..."


def parse_w3(value, what):
    check(isinstance(value, str), "%s: %r is not a string" % (what, value))
    m = W3_DATETIME.match(value)
    check(m, "%s: %r is not a w3 date-time with a timezone "
             "(e.g. 2010-01-01T00:00:00Z or 2010-01-01T00:00:00-08:00)" % (what, value))
    y, mo, d, h, mi, sec, _frac, tz = m.groups()
    if tz == "Z":
        tzinfo = dt.timezone.utc
    else:
        sign = 1 if tz[0] == "+" else -1
        tzinfo = dt.timezone(sign * dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    try:
        return dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0), tzinfo=tzinfo)
    except ValueError:
        raise Failed("%s: %r is not a valid date-time" % (what, value))


def same_id(a, b):
    return a is not None and b is not None and str(a) == str(b)


# --------------------------------------------------------------------------
# raw HTTP (urllib) for what georeport does not do


class Http:
    def __init__(self, base, jurisdiction, timeout):
        self.base = base.rstrip("/")
        self.jurisdiction = jurisdiction
        self.timeout = timeout

    def url(self, path, params=None):
        params = list(params or [])
        if self.jurisdiction:
            params.append(("jurisdiction_id", self.jurisdiction))
        url = "%s/%s" % (self.base, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        return url

    def call(self, method, path, params=None, form=None):
        """Returns (status, content_type, body bytes, url); no raise on 4xx/5xx."""
        url = self.url(path, params)
        data = None
        headers = {"User-Agent": "open311-client-check"}
        if form is not None:
            # "POST Service Request: Content-Type: application/x-www-form-urlencoded; charset=utf-8"
            data = urllib.parse.urlencode(form).encode("utf-8")
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read(), url
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read(), url
        except (urllib.error.URLError, OSError) as e:
            raise Failed("%s %s: no answer (%s)" % (method, url, e))

    def json(self, method, path, params=None, form=None, expect=(200,), label=""):
        status, ctype, body, url = self.call(method, path, params, form)
        check(status in expect, "%s %s%s: HTTP %s, expected %s; body: %s"
              % (method, url, label, status, "/".join(map(str, expect)), short(body)))
        check_content_type(ctype, "application/json", "%s %s" % (method, url))
        try:
            return json.loads(body.decode("utf-8")), body
        except (UnicodeDecodeError, ValueError) as e:
            raise Failed("%s %s: body is not UTF-8 JSON (%s): %s" % (method, url, e, short(body)))

    def xml(self, method, path, params=None, form=None, expect=(200,), label=""):
        status, ctype, body, url = self.call(method, path, params, form)
        check(status in expect, "%s %s%s: HTTP %s, expected %s; body: %s"
              % (method, url, label, status, "/".join(map(str, expect)), short(body)))
        check_content_type(ctype, "text/xml", "%s %s" % (method, url))
        what = "%s %s" % (method, url)
        # "the root element must be preceded with the XML declaration
        # including the encoding="UTF-8" attribute"
        head = body.lstrip(b"\xef\xbb\xbf")[:200]
        check(re.match(rb"<\?xml\s[^>]*encoding\s*=\s*[\"']utf-8[\"']", head, re.I),
              "%s: the body does not start with an XML declaration with "
              "encoding=\"UTF-8\": %s" % (what, short(head, 120)))
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise Failed("%s: not well-formed XML (%s): %s" % (what, e, short(body)))
        # "The XML output currently defined is schemaless and without a
        # namespace declaration" (the spec's URL is tolerated if it must be).
        check(not root.tag.startswith("{") or
              root.tag.startswith("{http://wiki.open311.org/GeoReport_v2}"),
              "%s: root element %s has a foreign namespace" % (what, root.tag))
        return root, body, what


def check_content_type(ctype, expected, what):
    # "XML: Content-Type: text/xml; charset=utf-8",
    # "JSON: Content-Type: application/json; charset=utf-8"
    parts = [p.strip().lower() for p in (ctype or "").split(";")]
    check(parts[0] == expected, "%s: Content-Type %r, the spec's is %r"
          % (what, ctype, expected + "; charset=utf-8"))
    for p in parts[1:]:
        if p.startswith("charset="):
            check(p[8:].strip('"') in ("utf-8", "utf8"),
                  "%s: Content-Type %r: the spec requires UTF-8" % (what, ctype))


def validate_xsd(body, xsd, what):
    """Returns how the body was checked, for the "ok:" line."""
    if LXML is None:
        skip("%s: lxml is not installed, XSD %s not checked (pip install lxml)" % (what, xsd))
        return "well-formed (no lxml: schemas/%s not checked)" % xsd
    schema = LXML.XMLSchema(LXML.parse(os.path.join(SCHEMAS, xsd)))
    doc = LXML.fromstring(body)
    if not schema.validate(doc):
        errs = "; ".join("line %s: %s" % (e.line, e.message) for e in list(schema.error_log)[:5])
        raise Failed("%s: does not validate against schemas/%s: %s" % (what, xsd, errs))
    return "valid against schemas/%s" % xsd


def xml_children(elem):
    return {c.tag: (c.text or "") for c in elem}


# --------------------------------------------------------------------------
# georeport calls


def lib(what, fn, *args, **kw):
    """Call a georeport method; turn its errors into a clear failure."""
    try:
        return fn(*args, **kw)
    except requests.HTTPError as e:
        r = e.response
        raise Failed("%s: HTTP %s from %s; body: %s"
                     % (what, r.status_code, r.url, short(r.text)))
    except requests.RequestException as e:
        raise Failed("%s: no answer (%s)" % (what, e))
    except ValueError as e:  # JSON decoding
        raise Failed("%s: georeport could not decode the JSON (%s)" % (what, e))
    except (KeyError, IndexError, TypeError) as e:
        # e.g. get_service_request does response.json()[0]: the body must be
        # a JSON array, even for one request.
        raise Failed("%s: georeport could not read the response (%s: %s)"
                     % (what, type(e).__name__, e))


def check_request_obj(r, what):
    check(isinstance(r, dict), "%s: a request is not a JSON object: %r" % (what, r))
    for f in REQUEST_REQUIRED:
        check(r.get(f) not in (None, ""), "%s: request lacks %s: %s" % (what, f, short(json.dumps(r))))
    check(r["status"] in STATUSES, "%s: status %r is not open or closed" % (what, r["status"]))
    parse_w3(r["requested_datetime"], what + " requested_datetime")
    for f in ("updated_datetime", "expected_datetime"):
        if r.get(f) is not None:
            parse_w3(r[f], "%s %s" % (what, f))
    for f in ("lat", "long"):
        if r.get(f) is not None:
            check(isinstance(r[f], (int, float)) and not isinstance(r[f], bool),
                  "%s: %s %r is not a JSON number" % (what, f, r[f]))
    if r.get("description") is not None:
        check(len(r["description"]) <= 4000, "%s: description over 4,000 characters" % what)
    leaked = [f for f in PERSONAL_FIELDS if f in r]
    check(not leaked, "%s: personal data field(s) %s in a GET response (request %s)"
          % (what, ", ".join(leaked), r.get("service_request_id")))
    extra = sorted(set(r) - REQUEST_FIELDS)
    return extra


def check_error_body(data, what):
    check(isinstance(data, list) and data,
          "%s: the error body is not a non-empty JSON array of {code, description}: %s"
          % (what, short(json.dumps(data))))
    for e in data:
        check(isinstance(e, dict) and "code" in e and "description" in e,
              "%s: an error is not {code, description}: %r" % (what, e))
        check(isinstance(e["code"], (int, str)) and not isinstance(e["code"], bool)
              and str(e["code"]) != "",
              "%s: error code %r is not a number or string" % (what, e["code"]))
        check(isinstance(e["description"], str),
              "%s: error description %r is not a string" % (what, e["description"]))


def attribute_value(attr, now):
    dtype = attr.get("datatype")
    values = attr.get("values") or []
    if dtype in ("singlevaluelist", "multivaluelist"):
        check(values, "service definition: list attribute %r has no values" % attr.get("code"))
        return str(values[0]["key"])
    if dtype == "number":
        return "1"
    if dtype == "datetime":
        return now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return "client check"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base_url")
    ap.add_argument("api_key")
    ap.add_argument("service_code")
    ap.add_argument("--jurisdiction", default=None,
                    help="jurisdiction_id, only for an endpoint that serves several")
    ap.add_argument("--lat", type=float, default=37.76524078, help="WGS84 latitude to post")
    ap.add_argument("--long", type=float, default=-122.4212043, help="WGS84 longitude to post")
    ap.add_argument("--discovery", default=None,
                    help="URL of the discovery file (.../discovery.json); checked if given")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    code = args.service_code
    http = Http(args.base_url, args.jurisdiction, args.timeout)
    client = GeoReport(args.base_url, jurisdiction=args.jurisdiction, api_key=args.api_key)
    now = dt.datetime.now(dt.timezone.utc)
    stamp = now.strftime("%Y%m%d%H%M%S") + "-%d" % os.getpid()

    # ---------------------------------------------------------------- (a)
    services = lib("GET services.json", client.get_service_list)
    check(isinstance(services, list), "GET services.json: not a JSON array: %s" % short(json.dumps(services)))
    seen = set()
    for s in services:
        check(isinstance(s, dict), "GET services.json: a service is not an object: %r" % (s,))
        for f in ("service_code", "service_name", "metadata", "type"):
            check(f in s and s[f] is not None, "GET services.json: service lacks %s: %r" % (f, s))
        check(isinstance(s["metadata"], bool),
              "GET services.json: metadata of %s is %r, not JSON true/false" % (s["service_code"], s["metadata"]))
        check(s["type"] in SERVICE_TYPES,
              "GET services.json: type of %s is %r, not realtime/batch/blackbox" % (s["service_code"], s["type"]))
        check(str(s["service_code"]) not in seen, "GET services.json: service_code %s twice" % s["service_code"])
        seen.add(str(s["service_code"]))
    service = next((s for s in services if str(s["service_code"]) == code), None)
    check(service is not None, "GET services.json: service_code %r is not listed (listed: %s)"
          % (code, ", ".join(sorted(seen)) or "none"))
    ok("GET services.json (georeport get_service_list): %d services, %s listed (type %s, metadata %s)"
       % (len(services), code, service["type"], str(service["metadata"]).lower()))

    # ---------------------------------------------------------------- (b)
    definition = None
    if service["metadata"]:
        definition = lib("GET services/%s.json" % code, client.get_service_definition, code)
        what = "GET services/%s.json" % code
        check(isinstance(definition, dict), "%s: not a JSON object: %s" % (what, short(json.dumps(definition))))
        check(same_id(definition.get("service_code"), code),
              "%s: service_code %r, not the one asked for" % (what, definition.get("service_code")))
        attrs = definition.get("attributes")
        check(isinstance(attrs, list), "%s: attributes is not an array: %r" % (what, attrs))
        orders = []
        for a in attrs:
            check(isinstance(a, dict), "%s: an attribute is not an object: %r" % (what, a))
            for f in ("variable", "code", "datatype", "required"):
                check(f in a, "%s: attribute lacks %s: %r" % (what, f, a))
            for f in ("variable", "required"):
                check(isinstance(a[f], bool), "%s: attribute %s: %s is %r, not true/false" % (what, a["code"], f, a[f]))
            check(a["datatype"] in DATATYPES, "%s: attribute %s: datatype %r" % (what, a["code"], a["datatype"]))
            if a["datatype"] in ("singlevaluelist", "multivaluelist"):
                vals = a.get("values")
                check(isinstance(vals, list) and vals, "%s: list attribute %s has no values" % (what, a["code"]))
                for v in vals:
                    check(isinstance(v, dict) and "key" in v and "name" in v,
                          "%s: attribute %s: a value is not {key, name}: %r" % (what, a["code"], v))
            if a.get("order") is not None:
                check(isinstance(a["order"], int) and not isinstance(a["order"], bool) and a["order"] > 0,
                      "%s: attribute %s: order %r is not a positive integer" % (what, a["code"], a["order"]))
                orders.append(a["order"])
        check(len(orders) == len(set(orders)), "%s: two attributes share an order: %s" % (what, orders))
        ok("%s (georeport get_service_definition): %d attributes (%s)"
           % (what, len(attrs), ", ".join(str(a["code"]) for a in attrs) or "none"))
    else:
        skip("GET services/%s.json: metadata is false, so the spec needs no service definition" % code)

    # ---------------------------------------------------------------- (c)
    # georeport 0.3.1 cannot post ("does not currently support the creation
    # of new 311 service requests"): urllib, form-encoded as the spec says.
    description = "Open311 client check %s: a pothole by the kerb" % stamp
    personal = {
        "email": "client-check-%s@example.invalid" % stamp,
        "first_name": "Clientcheck%s" % stamp.replace("-", ""),
        "last_name": "Personaldata%s" % stamp.replace("-", ""),
        "phone": "+1555%s" % stamp[-10:].replace("-", ""),
    }
    base_form = [("api_key", args.api_key), ("service_code", code),
                 ("lat", repr(args.lat)), ("long", repr(args.long)),
                 ("address_string", "1 Client Check Street"),
                 ("description", description)]
    attr_form = []
    attrs_by_code = {str(a["code"]): a for a in (definition or {}).get("attributes", [])}
    urgency = attrs_by_code.get("urgency")
    # attribute[urgency]=...: a value the definition offers when it declares
    # urgency; otherwise sent anyway, as an attribute the service may ignore.
    attr_form.append(("attribute[urgency]",
                      attribute_value(urgency, now) if urgency else "high"))
    for acode, a in attrs_by_code.items():
        if acode == "urgency" or not a.get("variable", True) or not a.get("required"):
            continue
        if a["datatype"] == "multivaluelist":
            attr_form.append(("attribute[%s][]" % acode, attribute_value(a, now)))
        else:
            attr_form.append(("attribute[%s]" % acode, attribute_value(a, now)))
    form = (base_form + list(personal.items()) + attr_form)
    if args.jurisdiction:
        form.append(("jurisdiction_id", args.jurisdiction))
    # Http.url adds jurisdiction_id to the query too; harmless duplicate.
    posted, _ = http.json("POST", "requests.json", form=form, expect=(200, 201))
    what = "POST requests.json"
    check(isinstance(posted, list) and len(posted) >= 1 and isinstance(posted[0], dict),
          "%s: the body is not a JSON array of one object: %s" % (what, short(json.dumps(posted))))
    p = posted[0]
    srid, token = p.get("service_request_id"), p.get("token")
    check(not (srid not in (None, "") and token not in (None, "")),
          "%s: both service_request_id and token returned; the spec says one or the other" % what)
    if service["type"] == "realtime":
        check(srid not in (None, ""), "%s: a realtime service must return service_request_id: %s"
              % (what, short(json.dumps(posted))))
    elif service["type"] == "batch":
        check(token not in (None, ""), "%s: a batch service must return a token: %s"
              % (what, short(json.dumps(posted))))
    ok("%s with lat/long, address_string, description, %s: %s"
       % (what, ", ".join(k for k, _ in attr_form),
          "service_request_id %s" % srid if srid else "token %s" % token if token else "no id (blackbox)"))

    # ---------------------------------------------------------------- (d)
    if srid in (None, "") and token not in (None, ""):
        # georeport has no token call either: urllib.
        deadline = time.time() + 30
        while True:
            got, _ = http.json("GET", "tokens/%s.json" % urllib.parse.quote(str(token), safe=""))
            check(isinstance(got, list) and got and isinstance(got[0], dict),
                  "GET tokens/%s.json: not a JSON array of one object: %s" % (token, short(json.dumps(got))))
            check(same_id(got[0].get("token"), token),
                  "GET tokens/%s.json: token %r, not the one asked for" % (token, got[0].get("token")))
            srid = got[0].get("service_request_id")
            if srid not in (None, "") or time.time() > deadline:
                break
            time.sleep(1)
        check(srid not in (None, ""), "GET tokens/%s.json: no service_request_id after 30 s" % token)
        ok("GET tokens/%s.json: service_request_id %s" % (token, srid))

    if srid in (None, ""):
        skip("GET requests/[id].json: a blackbox service returns no service_request_id")
    else:
        what = "GET requests/%s.json" % srid
        r = lib(what, client.get_service_request, str(srid))
        extra = check_request_obj(r, what)
        check(same_id(r["service_request_id"], srid),
              "%s: service_request_id %r, not %r" % (what, r["service_request_id"], srid))
        check(same_id(r["service_code"], code), "%s: service_code %r, posted %r" % (what, r["service_code"], code))
        check(r.get("description") == description,
              "%s: description %r, posted %r" % (what, r.get("description"), description))
        ok("%s (georeport get_service_request): service_code %s, status %s, description as posted"
           % (what, code, r["status"]))
        # georeport takes element [0] of the array; the spec's body is an
        # array of exactly one, and no personal value may be anywhere in it.
        raw, body = http.json("GET", "requests/%s.json" % urllib.parse.quote(str(srid), safe=""))
        check(isinstance(raw, list) and len(raw) == 1,
              "%s: the body is not a JSON array of exactly one request" % what)
        text = body.decode("utf-8")
        for f, pv in personal.items():
            check(pv not in text, "%s: the posted %s (%s) is in the GET response" % (what, f, pv))
        ok("%s: no first_name, last_name, phone or email, by key or by value" % what)
        if extra:
            note("%s: fields beyond the spec's: %s" % (what, ", ".join(extra)))

        # GET Service Requests, default window: "most recent 90 days" or
        # "first 1000 requests", whichever is smallest.
        what = "GET requests.json"
        lst = lib(what, client.get_service_requests)
        check(isinstance(lst, list), "%s: not a JSON array" % what)
        check(len(lst) <= 1000, "%s: %d requests; the default limit is 1000" % (what, len(lst)))
        oldest = now - dt.timedelta(days=90, minutes=5)
        for x in lst:
            check_request_obj(x, what)
            when = parse_w3(x["requested_datetime"], what + " requested_datetime")
            check(when >= oldest, "%s: request %s requested %s, outside the default 90-day window"
                  % (what, x["service_request_id"], x["requested_datetime"]))
        ids = [str(x["service_request_id"]) for x in lst]
        if len(lst) < 1000:
            check(str(srid) in ids, "%s: the new request %s is not in the default list" % (what, srid))
        ok("%s (georeport get_service_requests): %d requests, all within 90 days, new one included"
           % (what, len(lst)))

        lst = lib(what + "?service_request_id=", client.get_service_requests, service_request_id=str(srid))
        check(isinstance(lst, list) and [str(x.get("service_request_id")) for x in lst] == [str(srid)],
              "GET requests.json?service_request_id=%s: did not return exactly that request: %s"
              % (srid, short(json.dumps(lst))))
        ok("GET requests.json?service_request_id=%s" % srid)

        lst = lib(what + "?service_code&status", client.get_service_requests,
                  service_code=code, status=r["status"])
        check(isinstance(lst, list), "%s?service_code&status: not a JSON array" % what)
        for x in lst:
            check(same_id(x.get("service_code"), code) and x.get("status") == r["status"],
                  "GET requests.json?service_code=%s&status=%s: returned %s/%s"
                  % (code, r["status"], x.get("service_code"), x.get("status")))
        if len(lst) < 1000:
            check(str(srid) in [str(x["service_request_id"]) for x in lst],
                  "GET requests.json?service_code=%s&status=%s: the new request is missing" % (code, r["status"]))
        ok("GET requests.json?service_code=%s&status=%s: %d requests, all matching" % (code, r["status"], len(lst)))

        fmt = "%Y-%m-%dT%H:%M:%SZ"
        start, end = (now - dt.timedelta(hours=1)).strftime(fmt), (now + dt.timedelta(hours=1)).strftime(fmt)
        lst = lib(what + "?start_date&end_date", client.get_service_requests, start_date=start, end_date=end)
        check(isinstance(lst, list), "%s?start_date&end_date: not a JSON array" % what)
        if len(lst) < 1000:
            check(str(srid) in [str(x["service_request_id"]) for x in lst],
                  "GET requests.json?start_date=%s&end_date=%s: the new request is missing" % (start, end))
        ok("GET requests.json?start_date=%s&end_date=%s: %d requests" % (start, end, len(lst)))

    # ---------------------------------------------------------------- (e)
    # XML forms, through urllib: georeport's XML mode (output_format='xml')
    # only hands back xmltodict output, not the document.
    for path in ("services.json", "requests.json"):
        http.json("GET", path)  # Content-Type check only
    ok("Content-Type application/json (UTF-8) on services.json and requests.json")

    root, body, what = http.xml("GET", "services.xml")
    how = validate_xsd(body, "services.xsd", what)
    xcodes = [c.findtext("service_code") for c in root.findall("service")]
    check(code in xcodes, "%s: service_code %s is not listed" % (what, code))
    check(sorted(xcodes) == sorted(seen), "%s: lists %s, services.json lists %s" % (what, sorted(xcodes), sorted(seen)))
    ok("%s: %s, same codes as services.json" % (what, how))

    if service["metadata"]:
        root, body, what = http.xml("GET", "services/%s.xml" % urllib.parse.quote(code, safe=""))
        how = validate_xsd(body, "service_definition.xsd", what)
        check(root.findtext("service_code") == code, "%s: service_code %r" % (what, root.findtext("service_code")))
        ok("%s: %s" % (what, how))

    root, body, what = http.xml("GET", "requests.xml")
    how = validate_xsd(body, "requests.xsd", what)
    for req in root.findall("request"):
        leaked = [f for f in PERSONAL_FIELDS if req.find(f) is not None]
        check(not leaked, "%s: personal data element(s) %s" % (what, ", ".join(leaked)))
    ok("%s: %s (%d requests), no personal data elements"
       % (what, how, len(root.findall("request"))))

    if srid not in (None, ""):
        root, body, what = http.xml("GET", "requests/%s.xml" % urllib.parse.quote(str(srid), safe=""))
        how = validate_xsd(body, "request.xsd", what)
        reqs = root.findall("request")
        check(len(reqs) == 1, "%s: %d request elements, expected 1" % (what, len(reqs)))
        kids = xml_children(reqs[0])
        check(kids.get("service_request_id") == str(srid) and kids.get("service_code") == code
              and kids.get("status") in STATUSES and kids.get("description") == description,
              "%s: does not match the request posted: %s" % (what, short(body)))
        leaked = [f for f in PERSONAL_FIELDS if f in kids]
        check(not leaked, "%s: personal data element(s) %s" % (what, ", ".join(leaked)))
        text = body.decode("utf-8")
        for f, pv in personal.items():
            check(pv not in text, "%s: the posted %s (%s) is in the GET response" % (what, f, pv))
        ok("%s: %s, matches the JSON, no personal data" % (what, how))

    if token not in (None, ""):
        root, body, what = http.xml("GET", "tokens/%s.xml" % urllib.parse.quote(str(token), safe=""))
        how = validate_xsd(body, "token.xsd", what)
        ok("%s: %s" % (what, how))

    # POST to requests.xml (a second request) and validate the reply.
    form_xml = [(k, v.replace("client check", "client check (xml)") if k == "description" else v)
                for k, v in form]
    root, body, what = http.xml("POST", "requests.xml", form=form_xml, expect=(200, 201))
    how = validate_xsd(body, "post_response.xsd", what)
    ok("%s: %s" % (what, how))

    # ---------------------------------------------------------------- (f)
    # "The HTTP error codes should always be 404 for resources that don't
    # exist, 403 for errors because of wrong or missing api_key and basically
    # 400 for any other error"; the body is an array of {code, description}.
    data, _ = http.json("GET", "requests/does-not-exist.json", expect=(404,))
    check_error_body(data, "GET requests/does-not-exist.json")
    ok("GET requests/does-not-exist.json: 404, [{code, description}]")

    data, _ = http.json("GET", "services/does-not-exist.json", expect=(404,))
    check_error_body(data, "GET services/does-not-exist.json")
    ok("GET services/does-not-exist.json: 404, [{code, description}]")

    root, body, what = http.xml("GET", "requests/does-not-exist.xml", expect=(404,))
    how = validate_xsd(body, "errors.xsd", what)
    check(root.tag == "errors" and root.findall("error"), "%s: not <errors><error>...: %s" % (what, short(body)))
    ok("%s: 404, %s" % (what, how))

    no_key = [(k, v) for k, v in form if k != "api_key"]
    data, _ = http.json("POST", "requests.json", form=no_key, expect=(400, 403), label=" without api_key")
    check_error_body(data, "POST requests.json without api_key")
    ok("POST requests.json without api_key: refused (400/403), [{code, description}]")

    bad_key = [(k, ("not-" + v) if k == "api_key" else v) for k, v in form]
    data, _ = http.json("POST", "requests.json", form=bad_key, expect=(400, 403), label=" with a wrong api_key")
    check_error_body(data, "POST requests.json with a wrong api_key")
    ok("POST requests.json with a wrong api_key: refused (400/403), [{code, description}]")

    no_loc = [(k, v) for k, v in form if k not in ("lat", "long", "address_string", "address_id")]
    data, _ = http.json("POST", "requests.json", form=no_loc, expect=(400,), label=" without a location")
    check_error_body(data, "POST requests.json without a location")
    ok("POST requests.json without lat/long, address_string or address_id: 400, [{code, description}]")

    bad_code = [(k, "does-not-exist" if k == "service_code" else v) for k, v in form]
    data, _ = http.json("POST", "requests.json", form=bad_code, expect=(404,), label=" with an unknown service_code")
    check_error_body(data, "POST requests.json with an unknown service_code")
    ok("POST requests.json with an unknown service_code: 404, [{code, description}]")

    # ------------------------------------------------- discovery (optional)
    if args.discovery:
        durl = args.discovery
        check(re.search(r"/discovery\.(json|xml)$", durl),
              "--discovery %s: the spec's URL must end in /discovery.<format>" % durl)
        jurl, xurl = re.sub(r"\.xml$", ".json", durl), re.sub(r"\.json$", ".xml", durl)
        dhttp = Http(jurl.rsplit("/", 1)[0], None, args.timeout)
        d, _ = dhttp.json("GET", "discovery.json")
        for f in ("changeset", "contact", "key_service", "endpoints"):
            check(f in d, "GET %s: lacks %s" % (jurl, f))
        specs = [e for e in d["endpoints"] if e.get("specification") == "http://wiki.open311.org/GeoReport_v2"]
        check(specs, "GET %s: no endpoint with specification http://wiki.open311.org/GeoReport_v2" % jurl)
        for e in d["endpoints"]:
            for f in ("specification", "url", "changeset", "type", "formats"):
                check(f in e, "GET %s: an endpoint lacks %s: %r" % (jurl, f, e))
            check(e["type"] in ("production", "test"), "GET %s: endpoint type %r" % (jurl, e["type"]))
            check(isinstance(e["formats"], list), "GET %s: formats is not an array" % jurl)
        ok("GET %s: all fields, a GeoReport_v2 endpoint" % jurl)
        root, body, what = dhttp.xml("GET", "discovery.xml")
        how = validate_xsd(body, "discovery.xsd", what)
        ok("GET %s: %s" % (xurl, how))
    else:
        skip("discovery: no --discovery URL given (the spec does not fix where it lives)")

    print("all Open311 GeoReport v2 client checks passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print("FAIL: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)
