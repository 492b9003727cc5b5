"""Validates OCSF events (one JSON object per line) against the real OCSF schema.

Usage: ocsf_validate.py VERSION FILE

The schema is the OCSF project's own export shipped by the PyPI package
`ocsf-json-schema`, turned into JSON Schema (draft 2020-12) for each event's class
with no profiles; `jsonschema` checks each event. Prints one line per class seen and
every violation; exits 1 if any event is invalid.
"""
import collections
import json
import sys

import jsonschema
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema


def main() -> int:
    version, path = sys.argv[1], sys.argv[2]
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
    validators = {}
    seen = collections.Counter()
    bad = 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            event = json.loads(line)
            uid = event["class_uid"]
            if uid not in validators:
                name = schema.lookup_class_name_from_uid(class_uid=uid)
                js = schema.get_class_schema(class_name=name, profiles=[])
                jsonschema.Draft202012Validator.check_schema(js)
                validators[uid] = jsonschema.Draft202012Validator(js)
            seen[uid] += 1
            for err in validators[uid].iter_errors(event):
                bad += 1
                where = "/".join(str(p) for p in err.absolute_path)
                print(f"line {n} class {uid} at /{where}: {err.message}")
    for uid, count in sorted(seen.items()):
        print(f"class {uid}: {count} events")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
