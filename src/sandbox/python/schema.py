# Derives a Letta-style JSON schema for a tool from its Python source.
#
# Protocol: one JSON object on stdin {"source": str, "args_json_schema": obj|null,
# "name": str|null}; one JSON object on stdout, either {"ok": <schema>} or
# {"error": {"kind": str, "message": str, "line": int|null}}.
#
# The source is only parsed with `ast`, never executed: annotations are resolved
# statically against the names the original's execution environment knows (builtins,
# typing, pydantic models defined in the same source). The output mirrors Letta 0.8.12's
# generate_schema / docstring_parser behaviour for the supported forms.
import ast
import inspect
import json
import re
import sys


class SchemaFail(Exception):
    def __init__(self, kind, message, line=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line


# --- Google-style docstring parsing (the subset of docstring_parser the original uses) ---

SECTIONS = {
    "Arguments": "param", "Args": "param", "Parameters": "param", "Params": "param",
    "Raises": "multi", "Exceptions": "multi", "Except": "multi",
    "Attributes": "param",
    "Example": "single", "Examples": "single",
    "Returns": "single_or_multi", "Yields": "single_or_multi",
}
TITLES_RE = re.compile(
    "^(" + "|".join("(%s)" % t for t in SECTIONS) + "):[ \t\r\f\v]*$", flags=re.M
)
TYPED_ARG_RE = re.compile(r"\s*(.+?)\s*\(\s*(.*[^\s]+)\s*\)")
MULTIPLE_RE = re.compile(r"(\s*[^:\s]+:)|([^:]*\]:.*)")


class ParseError(Exception):
    pass


def split_description(desc_chunk):
    parts = desc_chunk.split("\n", 1)
    short = parts[0] or None
    long = None
    if len(parts) > 1:
        long = (parts[1] or "").strip() or None
    return short, long


def parse_google(text):
    """Returns (short, long, params, meta_count); params are (name, description) pairs."""
    text = inspect.cleandoc(text)
    match = TITLES_RE.search(text)
    if match:
        desc_chunk, meta_chunk = text[: match.start()], text[match.start():]
    else:
        desc_chunk, meta_chunk = text, ""
    short, long = split_description(desc_chunk)
    params = []
    count = 0
    matches = list(TITLES_RE.finditer(meta_chunk))
    if not matches:
        return short, long, params, count
    chunks = []
    for j, m in enumerate(matches):
        end = matches[j + 1].start() if j + 1 < len(matches) else len(meta_chunk)
        details = meta_chunk[m.end():end]
        unknown = re.search(r"\n\S", details)
        if unknown is not None:
            details = details[: unknown.start()]
        chunks.append((m.group(1), details.strip("\n")))
    # Later sections with the same title replace earlier ones (an ordered dict in the original).
    merged = {}
    for title, chunk in chunks:
        merged[title] = chunk
    for title, chunk in merged.items():
        kind = SECTIONS[title]
        indent = re.search(r"^\s*", chunk).group()
        if kind == "single":
            count += 1
            continue
        c_matches = list(re.finditer("^" + indent + r"(?=\S)", chunk, flags=re.M))
        if not c_matches:
            raise ParseError('No specification for "%s": "%s"' % (title, chunk))
        for j, cm in enumerate(c_matches):
            end = c_matches[j + 1].start() if j + 1 < len(c_matches) else len(chunk)
            part = chunk[cm.end():end].strip("\n")
            count += 1
            if kind == "single_or_multi" and not MULTIPLE_RE.match(part):
                continue
            if ":" not in part:
                raise ParseError("Expected a colon in %r." % part)
            before, desc = part.split(":", 1)
            if desc:
                desc = desc[1:] if desc[0] == " " else desc
                if "\n" in desc:
                    first, rest = desc.split("\n", 1)
                    desc = first + "\n" + inspect.cleandoc(rest)
                desc = desc.strip("\n")
            if kind == "param":
                typed = TYPED_ARG_RE.match(before)
                name = typed.group(1) if typed else before
                params.append((name, desc))
    return short, long, params, count


REST_PARAM_KEYS = {"param", "parameter", "arg", "argument", "attribute", "key", "keyword"}


def parse_rest(text):
    """The ReST reading (`:param x: ...`), same return shape as parse_google."""
    text = inspect.cleandoc(text)
    m = re.search("^:", text, flags=re.M)
    desc_chunk = text[: m.start()] if m else text
    meta_chunk = text[m.start():] if m else ""
    short, long = split_description(desc_chunk)
    params = []
    count = 0
    for match in re.finditer(r"(^:.*?)(?=^:|\Z)", meta_chunk, flags=re.S | re.M):
        chunk = match.group(0)
        if not chunk:
            continue
        try:
            args_chunk, desc = chunk.lstrip(":").split(":", 1)
        except ValueError:
            raise ParseError('Error parsing meta information near "%s".' % chunk)
        args = args_chunk.split()
        desc = desc.strip()
        if "\n" in desc:
            first, rest = desc.split("\n", 1)
            desc = first + "\n" + inspect.cleandoc(rest)
        count += 1
        if args and args[0] in REST_PARAM_KEYS:
            if len(args) == 3:
                params.append((args[2], desc))
            elif len(args) == 2:
                params.append((args[1], desc))
            else:
                raise ParseError("Expected one or two arguments for a %s keyword." % args[0])
    return short, long, params, count


def parse_docstring(text):
    # As docstring_parser's automatic style: every style that parses competes, the one with
    # the most sections wins, ReST first on ties (NumPy and Epydoc styles are not read).
    results = []
    for style in (parse_rest, parse_google):
        try:
            results.append(style(text))
        except ParseError:
            pass
    if not results:
        return split_description(inspect.cleandoc(text)) + ([],)
    best = max(results, key=lambda r: r[3])
    return best[0], best[1], best[2]


def extract_examples_section(doc):
    if not doc or "Examples:" not in doc:
        return None
    lines = doc.strip().splitlines()
    in_examples = False
    out = []
    for line in lines:
        stripped = line.strip()
        if not in_examples and stripped.startswith("Examples:"):
            in_examples = True
            out.append(line)
            continue
        if in_examples:
            if stripped and not line.startswith(" ") and stripped.endswith(":"):
                break
            out.append(line)
    return "\n".join(out).strip() if out else None


# --- static type resolution ---------------------------------------------------------

# A resolved type is a tuple: ("cls", name) for a builtin class, ("typing", name) for an
# unsubscripted typing alias, ("generic", origin_repr, origin_kind, args) for a
# subscription, ("none",), ("model", name), ("literal", values), ("unknown", repr).
BUILTIN_CLASSES = {"str", "int", "float", "bool", "list", "dict", "tuple", "set", "bytes", "object", "frozenset", "complex"}
TYPING_NAMES = {"List", "Dict", "Tuple", "Optional", "Union", "Literal", "Any", "Set", "FrozenSet", "Sequence", "Mapping", "Iterable", "Callable", "Type"}
TYPING_ORIGIN = {"List": "list", "Dict": "dict", "Tuple": "tuple", "Set": "set", "FrozenSet": "frozenset"}
TYPE_MAP_REPR = "{<class 'int'>: 'integer', <class 'str'>: 'string', <class 'bool'>: 'boolean', <class 'float'>: 'number', None: 'null'}"


class Ctx:
    def __init__(self, models):
        self.models = models  # name -> ClassDef of pydantic models in the source


def type_repr(t, inner=False):
    k = t[0]
    if k == "cls":
        return t[1] if inner else "<class '%s'>" % t[1]
    if k == "none":
        return "NoneType" if inner else "None"
    if k == "typing":
        return "typing." + t[1]
    if k == "model":
        return t[1] if inner else "<class '%s'>" % t[1]
    if k == "literal":
        return "typing.Literal[%s]" % ", ".join(repr(v) for v in t[1])
    if k == "union":
        args = t[1]
        if len(args) == 2 and ("none",) in args:
            other = args[0] if args[1] == ("none",) else args[1]
            return "typing.Optional[%s]" % type_repr(other, True)
        return "typing.Union[%s]" % ", ".join(type_repr(a, True) for a in args)
    if k == "generic":
        _, origin_repr, _, args = t
        if args == "ellipsis_tuple":
            return origin_repr
        return "%s[%s]" % (origin_repr, ", ".join("..." if a == ("ellipsis",) else type_repr(a, True) for a in args))
    if k == "ellipsis":
        return "Ellipsis"
    return t[1]


def unsupported(t):
    return SchemaFail("value", "Python type %s has no corresponding JSON schema type - full map: %s" % (type_repr(t), TYPE_MAP_REPR))


def typing_name(node):
    if isinstance(node, ast.Name) and node.id in TYPING_NAMES:
        return node.id
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ("typing", "typing_extensions", "t")
        and node.attr in TYPING_NAMES
    ):
        return node.attr
    return None


def resolve(node, ctx):
    if isinstance(node, ast.Constant):
        if node.value is None:
            return ("none",)
        if node.value is Ellipsis:
            return ("ellipsis",)
        # A string annotation stays a string for inspect.signature.
        return ("unknown", str(node.value))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        # PEP 604 unions are types.UnionType, which the original neither treats as Optional
        # nor as a Union: it falls through to the type map.
        def side(n):
            t = resolve(n, ctx)
            return "None" if t == ("none",) else type_repr(t, True)

        return ("unknown", "%s | %s" % (side(node.left), side(node.right)))
    tn = typing_name(node)
    if tn is not None:
        return ("typing", tn)
    if isinstance(node, ast.Name):
        if node.id in BUILTIN_CLASSES:
            return ("cls", node.id)
        if node.id in ctx.models:
            return ("model", node.id)
        raise SchemaFail("name", "name '%s' is not defined" % node.id, getattr(node, "lineno", None))
    if isinstance(node, ast.Subscript):
        base = resolve(node.value, ctx)
        sl = node.slice
        elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
        if base == ("typing", "Literal"):
            vals = []
            for e in elts:
                if not isinstance(e, ast.Constant):
                    raise SchemaFail("unsupported", "unsupported Literal value: %s" % ast.unparse(e), e.lineno)
                vals.append(e.value)
            return ("literal", vals)
        args = [resolve(e, ctx) for e in elts]
        if base == ("typing", "Optional"):
            return normalize_union([args[0], ("none",)])
        if base == ("typing", "Union"):
            return normalize_union(args)
        if base[0] == "typing" and base[1] in TYPING_ORIGIN:
            return ("generic", "typing." + base[1], TYPING_ORIGIN[base[1]], args)
        if base[0] == "cls" and base[1] in ("list", "dict", "tuple", "set", "frozenset"):
            return ("generic", base[1], base[1], args)
        return ("generic", type_repr(base, True), None, args)
    if isinstance(node, ast.Attribute):
        return ("unknown", ast.unparse(node))
    return ("unknown", ast.unparse(node))


def normalize_union(args):
    flat = []
    for a in args:
        for b in (a[1] if a[0] == "union" else [a]):
            if b not in flat:
                flat.append(b)
    if len(flat) == 1:
        return flat[0]
    return ("union", flat)


def is_optional(t):
    return t[0] == "union" and ("none",) in t[1]


def origin_of(t):
    if t[0] == "generic":
        return t[2]
    if t[0] == "typing" and t[1] in TYPING_ORIGIN:
        return TYPING_ORIGIN[t[1]]
    if t[0] == "union":
        return "union"
    return None


def to_json_type(t, ctx):
    if is_optional(t):
        inner = [a for a in t[1] if a != ("none",)]
        if len(inner) != 1:
            raise SchemaFail("unexpected", "Optional type must have exactly one type argument, but got %s" % type_repr(t))
        return to_json_type(inner[0], ctx)
    if t[0] == "union":
        raise SchemaFail("unexpected", "General Union types are not yet supported")
    origin = origin_of(t)
    if t == ("cls", "list") or origin == "list":
        args = t[3] if t[0] == "generic" else []
        if not args:
            return {"type": "array", "items": {"type": "string"}}
        if args[0][0] == "model":
            return {"type": "array", "items": model_schema(args[0][1], ctx)}
        return {"type": "array", "items": to_json_type(args[0], ctx)}
    if t[0] == "literal":
        return {"type": "string", "enum": list(t[1])}
    if origin == "tuple":
        args = t[3] if t[0] == "generic" else []
        if not args:
            raise SchemaFail("value", "Tuple type must have at least one element")
        if len(args) == 2 and args[1] == ("ellipsis",):
            raise SchemaFail("unexpected", "Variable-length tuples (e.g., Tuple[int, ...]) are not supported")
        return {
            "type": "array",
            "prefixItems": [to_json_type(a, ctx) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if t == ("cls", "dict") or origin == "dict":
        args = t[3] if t[0] == "generic" else []
        if not args:
            return {"type": "object"}
        raise SchemaFail(
            "value",
            "Dictionary types %s with nested type arguments are not supported (consider using a Pydantic model instead)" % type_repr(t),
        )
    if t[0] == "model":
        return model_schema(t[1], ctx)
    simple = {"int": "integer", "str": "string", "bool": "boolean", "float": "number"}
    if t[0] == "cls" and t[1] in simple:
        return {"type": simple[t[1]]}
    if t[0] == "none":
        return {"type": "null"}
    raise unsupported(t)


# --- pydantic models declared in the source (a static reading of model_json_schema) ---


def is_pydantic_class(node):
    for b in node.bases:
        name = b.id if isinstance(b, ast.Name) else (b.attr if isinstance(b, ast.Attribute) else None)
        if name == "BaseModel":
            return True
    return False


def field_info(value):
    """(has_default, description) of a class-body assignment value."""
    if value is None:
        return False, None
    if isinstance(value, ast.Call):
        fname = value.func.id if isinstance(value.func, ast.Name) else getattr(value.func, "attr", None)
        if fname == "Field":
            desc = None
            has_default = False
            if value.args:
                first = value.args[0]
                has_default = not (isinstance(first, ast.Constant) and first.value is Ellipsis)
            for kw in value.keywords:
                if kw.arg == "description" and isinstance(kw.value, ast.Constant):
                    desc = kw.value.value
                if kw.arg in ("default", "default_factory"):
                    has_default = not (isinstance(kw.value, ast.Constant) and kw.value.value is Ellipsis)
            return has_default, desc
    return True, None


def field_title(name):
    return name.title().replace("_", " ")


def model_schema(name, ctx, seen=()):
    """Mirrors pydantic_model_to_json_schema(clean_schema(model_json_schema()))."""
    if name in seen:
        raise SchemaFail("unsupported", "recursive model %s is not supported" % name)
    cls = ctx.models[name]
    properties = {}
    required = []
    for stmt in cls.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        fname = stmt.target.id
        ftype = resolve(stmt.annotation, ctx)
        has_default, desc = field_info(stmt.value)
        if not has_default:
            required.append(fname)
        prop_repr = {"title": field_title(fname)}
        simple = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
        if ftype[0] == "cls" and ftype[1] in simple:
            prop_repr["type"] = simple[ftype[1]]
        if desc is None:
            raise SchemaFail("value", "Property %r lacks a 'description' key" % prop_repr)
        if ftype[0] == "model":
            properties[fname] = dict(model_schema(ftype[1], ctx, seen + (name,)))
            properties[fname]["description"] = desc
        elif origin_of(ftype) == "list" or ftype == ("cls", "list"):
            args = ftype[3] if ftype[0] == "generic" else []
            if args and args[0][0] == "model":
                items = model_schema(args[0][1], ctx, seen + (name,))
            else:
                # The original calls clean_property without its second argument here.
                raise SchemaFail("type", "pydantic_model_to_json_schema.<locals>.clean_property() missing 1 required positional argument: 'full_schema'")
            properties[fname] = {"type": "array", "items": items, "description": desc}
        else:
            inner = ftype
            if is_optional(ftype):
                rest = [a for a in ftype[1] if a != ("none",)]
                if len(rest) != 1:
                    raise SchemaFail("value", "Complex anyOf patterns are not supported: %s" % prop_repr)
                inner = rest[0]
            js = to_json_type(inner, ctx)
            properties[fname] = {"type": js["type"], "description": desc}
    out = {"type": "object", "properties": properties, "required": required}
    doc = ast.get_docstring(cls, clean=True)
    if doc:
        out["description"] = doc
    return out


# --- function selection and the schema itself ----------------------------------------


def params_of(fn):
    a = fn.args
    pos = a.posonlyargs + a.args
    defaults = [None] * (len(pos) - len(a.defaults)) + list(a.defaults)
    out = [(p, d is not None) for p, d in zip(pos, defaults)]
    if a.vararg:
        out.append((a.vararg, False))
    out += [(p, d is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        out.append((a.kwarg, False))
    return out


def generate(source, name):
    try:
        tree = ast.parse(source, filename="<string>")
    except SyntaxError as e:
        raise SchemaFail("syntax", "Schema generation failed: %s" % e, e.lineno)
    models = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef) and is_pydantic_class(n)}
    ctx = Ctx(models)
    funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not funcs:
        raise SchemaFail("no_function", "Schema generation failed: No callable functions found in source code")
    fn = funcs[-1]
    raw_doc = ast.get_docstring(fn, clean=False)
    if not raw_doc:
        raise SchemaFail("missing_docstring", "Schema generation failed: Function %s missing docstring" % fn.name, fn.lineno)
    try:
        return build(fn, raw_doc, name, ctx)
    except SchemaFail as e:
        prefix = {
            "type": "Type error in schema generation: ",
            "missing_annotation": "Type error in schema generation: ",
            "value": "Value error in schema generation: ",
            "missing_description": "Value error in schema generation: ",
        }.get(e.kind, "Unexpected error in schema generation: ")
        if e.kind == "name":
            prefix = ""
        kind = "unsupported_type" if e.kind in ("value", "type", "unexpected", "unsupported", "name") else e.kind
        raise SchemaFail(kind, "Schema generation failed: " + prefix + e.message, e.line or fn.lineno)


def build(fn, raw_doc, name, ctx):
    short, long, doc_params = parse_docstring(raw_doc)
    if short and long:
        description = "%s\n\n%s" % (short, long)
    else:
        description = short or long or "No description available"
    examples = extract_examples_section(raw_doc)
    if examples and "Examples:" not in description:
        description = "%s\n\n%s" % (description, examples)
    schema = {
        "name": fn.name if name is None else name,
        "description": description,
        "parameters": {"type": "object", "properties": {}, "required": []},
    }
    for arg, has_default in params_of(fn):
        pname = arg.arg
        if pname in ("self", "agent_state"):
            continue
        if arg.annotation is None:
            raise SchemaFail("missing_annotation", "Parameter '%s' in function '%s' lacks a type annotation" % (pname, fn.name), arg.lineno)
        doc = next((d for n, d in doc_params if n == pname), None)
        if not doc:
            raise SchemaFail(
                "missing_description",
                "Parameter '%s' in function '%s' lacks a description in the docstring" % (pname, fn.name),
                arg.lineno,
            )
        t = resolve(arg.annotation, ctx)
        if t[0] == "model":
            prop = model_schema(t[1], ctx)
        else:
            prop = to_json_type(t, ctx)
        prop["description"] = doc
        schema["parameters"]["properties"][pname] = prop
        if not has_default and not is_optional(t):
            schema["parameters"]["required"].append(pname)
        if origin_of(t) == "list":
            args = t[3] if t[0] == "generic" else []
            if not args:
                raise SchemaFail("unexpected", "tuple index out of range", arg.lineno)
            if args[0] == ("cls", "str"):
                prop["items"] = {"type": "string"}
    return schema


# --- the args_json_schema path (§5.2 step 1) -----------------------------------------


def args_schema_type(fs, defs):
    if "$ref" in fs and fs.get("type") in (None, "object"):
        ref = fs["$ref"].split("/")[-1]
        if ref not in defs:
            raise SchemaFail("args_schema", "Reference %s not found in nested models" % ref)
        return args_object(defs[ref], defs)
    t = fs.get("type")
    if t in ("string", "integer", "number", "boolean"):
        return {"type": t}
    if t == "array":
        return {"type": "array", "items": args_schema_type(fs.get("items", {}), defs)}
    if t == "object":
        return {"type": "object"}
    if "anyOf" in fs:
        non_null = [x for x in fs["anyOf"] if x.get("type") != "null"]
        if len(non_null) == 1:
            return args_schema_type(non_null[0], defs)
        raise SchemaFail("args_schema", "General Union types are not yet supported")
    raise SchemaFail("args_schema", "Unsupported args_json_schema property: %s" % json.dumps(fs))


def args_object(model, defs):
    props = {}
    for fname, fs in (model.get("properties") or {}).items():
        p = args_schema_type(fs, defs)
        p["description"] = fs.get("description", "")
        props[fname] = p
    return {"type": "object", "properties": props, "required": [f for f in props if f in model.get("required", [])]}


def from_args_schema(source, args_schema, name):
    try:
        tree = ast.parse(source, filename="<string>")
    except SyntaxError as e:
        raise SchemaFail("syntax", "Failed to parse function name and docstring: %s" % e, e.lineno)
    fn = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            fn = node
    if fn is None:
        raise SchemaFail("no_function", "Failed to parse function name and docstring: No function definition found in source code")
    doc = ast.get_docstring(fn)
    if not doc:
        raise SchemaFail("missing_docstring", "Failed to parse function name and docstring: Docstring is missing", fn.lineno)
    if not isinstance(args_schema, dict) or not isinstance(args_schema.get("properties"), dict):
        raise SchemaFail("args_schema", "args_json_schema must be an object schema with properties")
    params = args_object(args_schema, args_schema.get("$defs") or {})
    return {
        "name": name if name is not None else fn.name,
        "description": doc,
        "parameters": {"type": "object", "properties": params["properties"], "required": params["required"]},
    }


def main():
    req = json.loads(sys.stdin.buffer.read())
    try:
        if req.get("args_json_schema") is not None:
            out = {"ok": from_args_schema(req["source"], req["args_json_schema"], req.get("name"))}
        else:
            out = {"ok": generate(req["source"], req.get("name"))}
    except SchemaFail as e:
        out = {"error": {"kind": e.kind, "message": e.message, "line": e.line}}
    except RecursionError:
        out = {"error": {"kind": "unsupported_type", "message": "Schema generation failed: source nested too deeply", "line": None}}
    sys.stdout.write(json.dumps(out, ensure_ascii=False))


main()
