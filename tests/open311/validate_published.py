#!/usr/bin/env python3
"""Validates an Open311 endpoint's JSON against the published GeoReport v2 JSON schemas.

The schemas are open311/schema-validation's schema/georeport-v2/*.json (not copied into this
repository: pass the folder of a checkout). Run against a server with at least one request:

    python3 tests/open311/validate_published.py http://127.0.0.1:8080/open311/v2/ SERVICE_CODE \
        /path/to/schema-validation/schema/georeport-v2

Prints "valid: <document>" for each, exits 1 on the first invalid one. Needs `jsonschema`.
"""
import json
import pathlib
import sys
import urllib.request

import jsonschema
from jsonschema import RefResolver


def main():
    base, code, folder = sys.argv[1].rstrip("/") + "/", sys.argv[2], pathlib.Path(sys.argv[3])
    store = {(folder / f).as_uri(): json.loads((folder / f).read_text()) for f in
             ["request.json", "requests.json", "service.json", "services.json", "service-definition.json"]}

    def get(path):
        with urllib.request.urlopen(base + path) as r:
            return json.loads(r.read().decode("utf-8"))

    for schema, path in [("services.json", "services.json"), ("service-definition.json", "services/%s.json" % code),
                         ("requests.json", "requests.json")]:
        doc = get(path)
        uri = (folder / schema).as_uri()
        resolver = RefResolver(base_uri=uri, referrer=store[uri], store=store)
        try:
            jsonschema.validate(doc, store[uri], resolver=resolver)
        except jsonschema.ValidationError as e:
            print("INVALID: %s against %s: %s at %s" % (path, schema, e.message, list(e.path)), file=sys.stderr)
            sys.exit(1)
        print("valid: %s (%s)" % (path, schema))


if __name__ == "__main__":
    main()
