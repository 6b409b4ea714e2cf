"""Backward-compatibility check between two JSON Schemas of the same event version.

Within a major version, events flow both ways in time: new consumers replay old events, and
old consumers read new ones. So, within one version, a change is breaking when it
- removes a property, or renames it (a removal plus an addition);
- makes a property required that was not (old events lack it);
- makes a required property optional (old consumers rely on it);
- changes a property's type or the model it refers to;
- changes the set of allowed values (``enum``/``const``/``Literal``).
Adding an optional property is the one safe change. Anything else needs ``version = 2``.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _resolve(schema: Schema, root: Schema) -> Schema:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Schema = root.get("$defs", {}).get(ref.split("/")[-1], {})
        return resolved
    return schema


def _shape(schema: Schema, root: Schema) -> Any:
    """What a value must look like, ignoring descriptions, titles and defaults."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return ("anyOf", sorted(repr(_shape(s, root)) for s in schema["anyOf"]))
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return ("enum", sorted(map(repr, values)))
    kind = schema.get("type")
    if kind == "array":
        return ("array", _shape(schema.get("items", {}), root))
    if kind == "object" and "properties" in schema:
        return ("object", sorted(schema["properties"]))
    if kind == "object":
        return ("map", _shape(schema.get("additionalProperties", {}), root))
    return (kind, schema.get("format"))


def breaking_changes(old: Schema, new: Schema, path: str = "") -> list[str]:
    return _compare(old, new, old, new, path or "(payload)")


def _compare(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> list[str]:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    problems: list[str] = []
    if "properties" in old or "properties" in new:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name in old_props:
            where = f"{path}.{name}"
            if name not in new_props:
                problems.append(f"{where}: removed")
                continue
            if name in old_required and name not in new_required:
                problems.append(f"{where}: no longer required")
            problems += _compare(old_props[name], new_props[name], old_root, new_root, where)
        for name in new_required - old_required - set(old_props) | (
            new_required & set(old_props) - old_required
        ):
            problems.append(f"{path}.{name}: newly required")
        return problems
    if _shape(old, old_root) != _shape(new, new_root):
        problems.append(f"{path}: type changed")
        return problems
    if old.get("type") == "array":
        problems += _compare(
            old.get("items", {}), new.get("items", {}), old_root, new_root, f"{path}[]"
        )
    if "anyOf" in old:
        # Same alternatives by shape; compare object alternatives structurally too.
        for old_alt, new_alt in zip(old["anyOf"], new["anyOf"], strict=False):
            problems += _compare(old_alt, new_alt, old_root, new_root, path)
    return problems
