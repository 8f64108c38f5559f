#!/usr/bin/env python3
"""Prints the public API of a crate from its rustdoc JSON, one item a line:
every public path with its kind, struct fields, enum variants, trait items,
and inherent methods with their parameter and return types. Trait impls
are left out (derives would drown the list), so are private items.

Usage: public_api.py CRATE.json > public-api/CRATE.txt
"""
import json
import signal
import sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def render(t):
    """A type as Rust-like text (enough to notice a changed signature)."""
    if t is None:
        return "()"
    (kind, v), = t.items()
    if kind == "primitive" or kind == "generic":
        return v
    if kind == "resolved_path":
        return v["path"] + render_args(v.get("args"))
    if kind == "borrowed_ref":
        life = (v["lifetime"] + " ") if v.get("lifetime") else ""
        mut = "mut " if v.get("is_mutable") else ""
        return f"&{life}{mut}{render(v['type'])}"
    if kind == "raw_pointer":
        return ("*mut " if v.get("is_mutable") else "*const ") + render(v["type"])
    if kind == "tuple":
        return "(" + ", ".join(render(x) for x in v) + ")"
    if kind == "slice":
        return "[" + render(v) + "]"
    if kind == "array":
        return f"[{render(v['type'])}; {v['len']}]"
    if kind == "impl_trait":
        return "impl " + " + ".join(render_bound(b) for b in v)
    if kind == "dyn_trait":
        return "dyn " + " + ".join(p["trait"]["path"] for p in v["traits"])
    if kind == "qualified_path":
        return f"<{render(v['self_type'])}>::{v['name']}"
    return kind


def render_args(args):
    if not args or "angle_bracketed" not in args:
        return ""
    out = []
    for a in args["angle_bracketed"]["args"]:
        (k, v), = a.items()
        out.append(render(v) if k == "type" else str(v) if k == "lifetime" else k)
    return "<" + ", ".join(out) + ">" if out else ""


def render_bound(b):
    if "trait_bound" in b:
        return b["trait_bound"]["trait"]["path"]
    return str(b.get("outlives", "?"))


def function(item):
    sig = item["inner"]["function"]["sig"]
    inputs = ", ".join(f"{n}: {render(t)}" for n, t in sig["inputs"])
    out = sig.get("output")
    return f"fn {item['name']}({inputs})" + (f" -> {render(out)}" if out else "")


def main(path):
    doc = json.load(open(path))
    if doc.get("format_version") != 57:
        print(f"note: written for rustdoc JSON format 57, got {doc.get('format_version')}", file=sys.stderr)
    index = doc["index"]
    lines = set()

    def item(id_):
        return index.get(str(id_))

    def walk(id_, prefix):
        it = item(id_)
        if it is None or it.get("visibility") not in ("public", None):
            return
        (kind, inner), = it["inner"].items()
        name = it.get("name")
        here = f"{prefix}::{name}" if name else prefix
        if kind == "module":
            lines.add(f"mod {here}")
            for child in inner["items"]:
                walk(child, here)
        elif kind == "use":
            lines.add(f"use {prefix}::{inner['name']} = {inner['source']}")
        elif kind == "function":
            lines.add(f"{prefix}::{function(it)}")
        elif kind in ("struct", "enum", "union", "trait"):
            lines.add(f"{kind} {here}")
            members(it, kind, inner, here)
        else:
            lines.add(f"{kind} {here}")

    def members(it, kind, inner, here):
        if kind == "struct":
            body = inner["kind"]
            fields = body.get("plain", {}).get("fields", []) if isinstance(body, dict) else []
            for f in fields:
                fi = item(f)
                if fi and fi.get("visibility") == "public":
                    lines.add(f"field {here}.{fi['name']}: {render(fi['inner']['struct_field'])}")
            if isinstance(body, dict) and body.get("plain", {}).get("has_stripped_fields"):
                lines.add(f"field {here}.. (private fields)")
        if kind == "enum":
            for v in inner["variants"]:
                lines.add(f"variant {here}::{item(v)['name']}")
        if kind == "trait":
            for m in inner["items"]:
                mi = item(m)
                (mk, _), = mi["inner"].items()
                lines.add(f"{here}::{function(mi) if mk == 'function' else mk + ' ' + mi['name']}")
        for imp in inner.get("impls", []):
            ii = item(imp)["inner"]["impl"]
            if ii.get("trait") is not None:
                continue
            for m in ii["items"]:
                mi = item(m)
                if mi.get("visibility") != "public":
                    continue
                (mk, _), = mi["inner"].items()
                text = function(mi) if mk == "function" else f"{mk} {mi['name']}"
                lines.add(f"{here}::{text}")

    walk(doc["root"], "")
    cleaned = {l.replace(" ::", " ").lstrip(":") for l in lines}
    # Ties (`mod x` and `macro x`) are broken by the whole line: set order
    # changes with Python's hash seed from run to run.
    for line in sorted(cleaned, key=lambda l: (l.split(" ", 1)[-1] if l.split(" ", 1)[0] in KINDS else l, l)):
        print(line)


KINDS = {
    "mod", "use", "struct", "enum", "union", "trait", "field", "variant", "constant",
    "macro", "proc_macro", "type_alias", "static", "assoc_const", "assoc_type", "primitive",
}


if __name__ == "__main__":
    main(sys.argv[1])
