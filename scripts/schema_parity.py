"""Compares the sandbox's schema derivation (src/tools/sandbox/python/schema.py) with Letta
0.8.12's own (letta/functions/functions.py + schema_generator.py, taken from the released
wheel by scripts/check_schema_parity.sh) over a set of tool sources. Prints every mismatch.

Usage: python schema_parity.py LETTA_FUNCTIONS_DIR OUR_SCHEMA_PY
Needs docstring_parser and pydantic (the script's venv has them). Letta's modules import
parts of Letta and composio that schema derivation does not use; those are stubbed.
"""
import contextlib
import importlib.util
import io
import json
import logging
import sys
import types
import warnings

LETTA_DIR, OURS = sys.argv[1], sys.argv[2]


def stub(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m


class LettaToolCreateError(Exception):
    pass


for name, attrs in [
    ("composio", {}),
    ("composio.client", {}),
    ("composio.client.collections", {"ActionParametersModel": object}),
    ("letta", {}),
    ("letta.constants", {"REQUEST_HEARTBEAT_PARAM": "request_heartbeat", "REQUEST_HEARTBEAT_DESCRIPTION": ""}),
    ("letta.functions", {}),
    ("letta.functions.mcp_client", {}),
    ("letta.functions.mcp_client.types", {"MCPTool": object}),
    ("letta.log", {"get_logger": logging.getLogger}),
    ("letta.errors", {"LettaToolCreateError": LettaToolCreateError}),
]:
    stub(name, **attrs)


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    sys.modules[name] = m
    spec.loader.exec_module(m)
    return m


load("letta.functions.schema_generator", LETTA_DIR + "/schema_generator.py")
original = load("letta.functions.functions", LETTA_DIR + "/functions.py")
warnings.simplefilter("ignore")
ours = {}
exec(open(OURS).read().replace("\nmain()\n", "\n"), ours)

D = '"""Doc.\n\n    Args:\n        x: the x\n    """'
def f(ann, default=""):
    return "from typing import *\ndef f(x: %s%s):\n    %s\n    return 1\n" % (ann, default, D)
cases = [f(a) for a in ["str","int","float","bool","list","dict","List","Dict","List[int]","list[str]","List[str]","Optional[str]","Optional[List[int]]","Union[int, str]","Union[int, None]","Optional[Union[int,str]]","Literal['a','b']","Literal[1,2]","Tuple[int, str]","Tuple[int, ...]","Tuple","tuple","Dict[str,int]","dict[str, int]","Any","None","set","bytes","int | None","'int'","List[Dict]","Optional[Dict]","List[List[str]]","Tuple[List[int], Optional[str]]"]]
cases += [f("int", " = 3"), f("Optional[int]", " = None"), f("List[str]", " = []")]
cases += [
 "def secret_message():\n    \"\"\"Return a secret message.\"\"\"\n    return 'Testing'\n",
 "def roll_dice(num_sides: int) -> int:\n    \"\"\"\n    Returns a random number between 1 and num_sides.\n    Args:\n        num_sides (int): The number of sides on the die.\n    Returns:\n        int: A random integer between 1 and num_sides, representing the die roll.\n    \"\"\"\n    import random\n\n    return random.randint(1, num_sides)\n",
 "def big_return():\n    \"\"\"\n    Always call this tool.\n\n    Returns:\n        important_data (str): Important data\n    \"\"\"\n    return 'x' * 100000\n",
 "def testing_method():\n    \"\"\"\n    A method that has test functionalit.\n    \"\"\"\n    return 5 / 0\n",
 "def f(x):\n    \"\"\"Doc.\n\n    Args:\n        x: the x\n    \"\"\"\n",
 "def f(x: int):\n    \"\"\"Doc.\"\"\"\n",
 "def f(x: int):\n    return 1\n",
 "def f(x: int, *args, **kwargs):\n    \"\"\"Doc.\n\n    Args:\n        x: the x\n    \"\"\"\n",
 "def f(self, agent_state, x: int):\n    \"\"\"Doc.\n\n    Args:\n        x: the x\n    \"\"\"\n",
 "def f(x: int):\n    \"\"\"Doc.\n\n    Examples:\n        f(1)\n\n    Args:\n        x: the x\n    \"\"\"\n",
 "def f(x: int):\n    \"\"\"Summary.\n\n    Long.\n\n    Examples:\n        >>> f(1)\n        2\n    Returns:\n        int: y\n\n    Args:\n        x: the x\n    \"\"\"\n",
 "def a(x: int):\n    \"\"\"A.\n\n    Args:\n        x: the x\n    \"\"\"\ndef b(y: str):\n    \"\"\"B.\n\n    Args:\n        y: the y\n    \"\"\"\n",
 "def f(x: int):\n    \"\"\"\n\n    Args:\n        x: the x\n    \"\"\"\n",
 "from pydantic import BaseModel, Field\nfrom typing import List, Optional\nclass Step(BaseModel):\n    name: str = Field(..., description='Name of the step.')\n    key: str = Field(..., description='Unique identifier for the step.')\n    opt: Optional[int] = Field(None, description='Optional.')\ndef create_task_plan(steps: List[Step]):\n    \"\"\"Creates a task plan for the current task.\n\n    Args:\n        steps: List of steps to add to the task plan.\n    \"\"\"\n    return 1\n",
 "from pydantic import BaseModel, Field\nclass Inner(BaseModel):\n    \"\"\"An inner thing.\"\"\"\n    v: int = Field(..., description='V.')\nclass Outer(BaseModel):\n    \"\"\"Outer doc.\"\"\"\n    inner: Inner = Field(..., description='The inner.')\n    flag: bool = Field(True, description='F.')\ndef g(o: Outer):\n    \"\"\"G.\n\n    Args:\n        o: An outer.\n    \"\"\"\n    return 1\n",
 "from pydantic import BaseModel, Field\nclass M(BaseModel):\n    a: str\ndef g(o: M):\n    \"\"\"G.\n\n    Args:\n        o: An m.\n    \"\"\"\n",
 "from pydantic import BaseModel, Field\nfrom typing import List\nclass M(BaseModel):\n    a: List[str] = Field(..., description='As.')\ndef g(o: M):\n    \"\"\"G.\n\n    Args:\n        o: An m.\n    \"\"\"\n",
 "def f(x: int, y: str = 'a'):\n    \"\"\"Doc.\n\n    Args:\n        x (int): the x\n        y (str, optional): the y. Defaults to 'a'.\n    \"\"\"\n",
 "def f(query: str, page: Optional[int] = 0) -> Optional[str]:\n    \"\"\"\n    Search prior conversation history using case-insensitive string matching.\n\n    Args:\n        query (str): String to search for.\n        page (int): Allows you to page through results. Only use on a follow-up query. Defaults to 0 (first page).\n\n    Returns:\n        str: Query result string\n    \"\"\"\n",
 "from typing import List\ndef f(match_all: List[str], match_some: List[str]):\n    \"\"\"Doc.\n\n    Args:\n        match_all (List[str]): all\n        match_some (List[str]): some\n    \"\"\"\n",
]

# Deliberate difference: with no function at all, the original picks a callable from its own
# module's globals; the sandbox says there is no function.
cases.append("x = 1\n")
KNOWN = {"x = 1\n"}

bad = 0
for src in cases:
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            want = {"ok": original.derive_openai_json_schema(src)}
    except Exception as e:
        want = {"error": str(e)}
    try:
        got = {"ok": ours["generate"](src, None)}
    except ours["SchemaFail"] as e:
        got = {"error": e.message}
    if json.dumps(want) != json.dumps(got) and src not in KNOWN:
        bad += 1
        print("MISMATCH for source:\n" + src)
        print("  letta:    " + json.dumps(want))
        print("  letta-rs: " + json.dumps(got))
print("%d sources, %d mismatches" % (len(cases), bad))
sys.exit(1 if bad else 0)
