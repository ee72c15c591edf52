# Single-use tool worker. Started (possibly ahead of time, in a warm pool) with a clean
# environment; blocks reading one job (JSON, to EOF) on stdin; runs it; writes one JSON
# result to file descriptor 3 and exits. The tool's own prints go to fds 1 and 2, which
# the server captures separately, so nothing a tool prints can pass for the result.
import json
import os
import sys

# Loaded before the job arrives, so a warm worker pays nothing for them (kept few: a cold
# start pays for each).
import builtins
import linecache
import resource
import traceback
import typing
import warnings

RESULT_FD = 3
MAX_ERROR_CHARS = 500


def read_job():
    chunks = []
    while True:
        b = os.read(0, 1 << 16)
        if not b:
            break
        chunks.append(b)
    return json.loads(b"".join(chunks))


def write_result(obj):
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    view = memoryview(data)
    while view:
        n = os.write(RESULT_FD, view)
        view = view[n:]
    os.close(RESULT_FD)


def error_text(function, exc_type, message):
    return ("Error executing function %s: %s: %s" % (function, exc_type, message))[:MAX_ERROR_CHARS]


def render(value):
    # As the original's validate_function_response.
    if value is None:
        return "None"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        import datetime

        def serial(obj):
            if isinstance(obj, datetime.datetime):
                return obj.isoformat()
            raise TypeError("Type %s not serializable" % type(obj))

        try:
            return json.dumps(value, indent=2, ensure_ascii=False, default=serial)
        except Exception:
            # The original gives up on such a dict with the dict itself as the error.
            raise ValueError(value)
    return str(value)


def apply_isolation(job):
    import resource

    drop = job.get("drop_to")
    if drop is not None:
        os.setgroups([])
        os.setgid(drop[1])
        os.setuid(drop[0])
    # After the switch: the directory belongs to the user the tool runs as.
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job.get("env") or {})
    limits = job.get("limits") or {}

    def lim(which, value, hard_extra=0):
        if value is None:
            return
        soft, hard = resource.getrlimit(which)
        want = value + hard_extra
        if hard != resource.RLIM_INFINITY and want > hard:
            want = hard
        resource.setrlimit(which, (min(value, want), want))

    # CPU: the soft limit raises SIGXCPU (kills the process); the hard one is a backstop.
    lim(resource.RLIMIT_CPU, limits.get("cpu_secs"), 1)
    lim(resource.RLIMIT_AS, limits.get("memory_bytes"))
    lim(resource.RLIMIT_FSIZE, limits.get("file_size_bytes"))
    lim(resource.RLIMIT_NOFILE, limits.get("open_files"))
    # Counted per real user id, and ignored for root: only meaningful after a drop.
    if drop is not None:
        lim(resource.RLIMIT_NPROC, limits.get("processes"))


class Block:
    def __init__(self, data):
        self.__dict__.update(data)

    def to_dict(self):
        return dict(self.__dict__)


class Memory:
    """The part of Letta's Memory API tools use."""

    def __init__(self, data):
        self._data = {k: v for k, v in data.items() if k != "blocks"}
        self.blocks = [Block(b) for b in data.get("blocks") or []]

    def list_block_labels(self):
        return [b.label for b in self.blocks]

    def get_block(self, label):
        keys = []
        for b in self.blocks:
            if b.label == label:
                return b
            keys.append(b.label)
        raise KeyError("Block field %s does not exist (available sections = %s)" % (label, ", ".join(keys)))

    def get_blocks(self):
        return self.blocks

    def set_block(self, block):
        for i, b in enumerate(self.blocks):
            if b.label == block.label:
                self.blocks[i] = block
                return
        self.blocks.append(block)

    def update_block_value(self, label, value):
        if not isinstance(value, str):
            raise ValueError("Provided value must be a string")
        for b in self.blocks:
            if b.label == label:
                b.value = value
                return
        raise ValueError("Block with label %s does not exist" % label)

    def compile(self, *args, **kwargs):
        parts = []
        for b in self.blocks:
            parts.append("<%s>\n%s\n</%s>" % (b.label, b.value, b.label))
        return "\n".join(parts)

    def to_dict(self):
        out = dict(self._data)
        out["blocks"] = [b.to_dict() if isinstance(b, Block) else dict(vars(b)) for b in self.blocks]
        return out


class AgentState:
    def __init__(self, data):
        self.__dict__.update({k: v for k, v in data.items() if k != "memory"})
        self.memory = Memory(data.get("memory") or {})

    def to_dict(self):
        out = {k: v for k, v in self.__dict__.items() if k != "memory"}
        out["memory"] = self.memory.to_dict()
        return out


def params_of(fn):
    code = getattr(fn, "__code__", None)
    if code is None:
        return ()
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


def coerce(args, fn):
    # Letta coerces annotated arguments (strings JSON-decoded or literal-evaluated first);
    # any failure leaves every argument as given. String annotations resolve against
    # typing and builtins, as there.
    names = {**vars(typing), **vars(builtins)}
    annotations = getattr(fn, "__annotations__", None) or {}
    out = dict(args)
    try:
        for name, value in list(out.items()):
            if name not in annotations or name == "return":
                continue
            typ = annotations[name]
            if isinstance(typ, str):
                typ = names[typ] if typ in names else eval(typ, dict(names))
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    try:
                        import ast

                        value = ast.literal_eval(value)
                    except (SyntaxError, ValueError):
                        if typ is not str:
                            raise
            origin = typing.get_origin(typ)
            if origin in (list, dict, tuple, set):
                out[name] = origin(value)
            else:
                out[name] = typ(value)
        return out
    except Exception:
        return dict(args)


def by_schema(value, typ):
    if typ == "integer" and not isinstance(value, bool):
        return int(value)
    if typ == "number" and not isinstance(value, bool):
        return float(value)
    if typ == "boolean":
        if isinstance(value, str):
            if value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError("Invalid boolean value: %r" % value)
        if value in (0, 1):
            return bool(value)
        raise ValueError("Invalid boolean value: %r" % (value,))
    return value


def run_tool(job):
    function = job["function"]
    source = job["source"]
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    exec("from typing import *", namespace)
    # Lets tracebacks quote the tool's lines, as when the original runs a script file.
    linecache.cache["<tool>"] = (len(source), None, source.splitlines(True), "<tool>")
    exec(compile(source, "<tool>", "exec"), namespace)
    fn = namespace.get(function)
    if not callable(fn):
        raise NameError("name '%s' is not defined" % function)
    args = coerce(job.get("args") or {}, fn)
    props = job.get("schema_properties")
    if props is not None:
        args = {k: by_schema(v, props[k]) for k, v in args.items() if k in props}
    state = None
    if "agent_state" in params_of(fn):
        state = AgentState(job.get("agent_state") or {})
        args["agent_state"] = state
    value = fn(**args)
    if hasattr(value, "__await__"):
        import asyncio

        async def _await(v):
            return await v

        value = asyncio.run(_await(value))
    return render(value), (state.to_dict() if state is not None else None)


def run_code(job):
    # Letta's run_code answers a JSON document with the last expression's value and the
    # printed output; run it the same way here, locally.
    import ast
    import io
    import traceback

    code = job["source"]
    out, err = io.StringIO(), io.StringIO()
    results = []
    error = None
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        tree = ast.parse(code, "<code>")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<code>", "exec"), namespace)
        if last is not None:
            v = eval(compile(last, "<code>", "eval"), namespace)
            if v is not None:
                results.append(repr(v))
    except BaseException as e:
        error = {"name": type(e).__name__, "value": str(e), "traceback": traceback.format_exc()}
    finally:
        sys.stdout, sys.stderr = real_out, real_err
    limit = job.get("output_limit") or (1 << 20)
    doc = {
        "results": results,
        "logs": {
            "stdout": out.getvalue()[:limit].splitlines(keepends=True),
            "stderr": err.getvalue()[:limit].splitlines(keepends=True),
        },
    }
    if error is not None:
        doc["error"] = error
    return json.dumps(doc, ensure_ascii=False), None


def main():
    # One byte on the result channel: "started and waiting" (the pool hands out only
    # workers that said so; a JSON result never starts with it).
    os.write(RESULT_FD, b"R")
    job = read_job()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.set_inheritable(RESULT_FD, False)
    function = job.get("function") or "run_code"
    try:
        apply_isolation(job)
    except BaseException as e:
        write_result({"status": "error", "func_return": error_text(function, type(e).__name__, "sandbox setup failed: %s" % e), "agent_state": None})
        os._exit(1)
    import warnings

    warnings.simplefilter("ignore")
    try:
        if job.get("mode") == "run_code":
            text, state = run_code(job)
        else:
            text, state = run_tool(job)
        result = {"status": "success", "func_return": text, "agent_state": state}
        code = 0
    except BaseException as e:
        import traceback

        # Show the tool's frames, not the worker's.
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<tool>":
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb or e.__traceback__)
        result = {"status": "error", "func_return": error_text(function, type(e).__name__, str(e)), "agent_state": None}
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    try:
        write_result(result)
    except BaseException as e:
        try:
            write_result({"status": "error", "func_return": error_text(function, type(e).__name__, "unrenderable result: %s" % e), "agent_state": None})
        except BaseException:
            pass
    # No atexit handlers or lingering user threads: the call is over.
    os._exit(code)


main()
