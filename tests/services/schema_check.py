"""Check a JSON value against an OpenAPI 3.0 schema (importable helper for the stand-in's tests).

Only the keywords the Cloudflare extract uses: $ref, allOf, anyOf, oneOf,
type, enum, nullable, properties, required, items, minimum, maximum. It
returns every mismatch with its JSON path, so a failing test says where the
stand-in left Cloudflare's published shape.
"""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA = Path(__file__).parent.parent / "fixtures" / "cloudflare" / "dns_records.schema.json"
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool,
         "integer": int, "number": (int, float)}


def load() -> dict:
    return json.loads(SCHEMA.read_text())


def problems(value, schema: dict, doc: dict, path: str = "$") -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return problems(value, doc["components"]["schemas"][name], doc, path)
    out: list[str] = []
    if value is None and schema.get("nullable"):
        return out
    for sub in schema.get("allOf", []):
        out += problems(value, sub, doc, path)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            found = [problems(value, s, doc, path) for s in schema[key]]
            fits = [f for f in found if not f]
            if not fits or (key == "oneOf" and len(fits) > 1):
                nearest = min(found, key=len) if not fits else []
                out.append(f"{path}: matches {len(fits)} of the {key} alternatives"
                           + (f" (nearest: {'; '.join(nearest)})" if nearest else ""))
    t = schema.get("type")
    if t and value is not None:
        ok = isinstance(value, TYPES[t]) and not (t in ("integer", "number")
                                                  and isinstance(value, bool))
        if not ok:
            out.append(f"{path}: {type(value).__name__} where the schema says {t}")
            return out
    if value is None and t and not schema.get("nullable") and "enum" not in schema:
        out.append(f"{path}: null where the schema says {t}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not one of {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: {value} below minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: {value} above maximum {schema['maximum']}")
    if isinstance(value, dict):
        out += [f"{path}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        for k, sub in schema.get("properties", {}).items():
            if k in value:
                out += problems(value[k], sub, doc, f"{path}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += problems(item, schema["items"], doc, f"{path}[{i}]")
    return out


def check(value, name: str) -> list[str]:
    """Mismatches of ``value`` against components/schemas/<name> of the extract."""
    doc = load()
    return problems(value, doc["components"]["schemas"][name], doc)
