"""Every change the product makes to Redis goes through HotStore.write, the one place that
waits for SCHEDULES_REDIS_MIN_REPLICAS_ACK replicas (README "Durability"): no module
calls a writing command, or a registered script, on a Redis client itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("scheduler", "api", "cli", "activities", "workflows")
# redis-py methods that change data (publish is a notification, not state).
WRITES = {
    "append", "decr", "decrby", "delete", "eval", "evalsha", "expire", "getdel", "hdel",
    "hincrby", "hmset", "hset", "hsetnx", "incr", "incrby", "lpush", "mset", "persist",
    "pexpire", "rename", "rpush", "set", "setex", "setnx", "srem", "sadd", "unlink",
    "zadd", "zincrby", "zpopmin", "zrem", "zremrangebyscore",
}  # fmt: skip
# Where a client is written through on purpose: HotStore.write itself; and where a script
# is called directly because it only reads (due_in.lua: the head's wait by Redis's clock).
ALLOWED = {("scheduler/hot/store.py", "_send"), ("scheduler/hot/store.py", "due_in")}


def _redis_receiver(node: ast.expr) -> bool:
    """`redis`, `self.redis`, `x.store.redis`, `pipe`-like names are a client."""
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name in {"redis", "_redis", "client", "pipe", "pipeline"}


def _script_call(node: ast.Call) -> bool:
    """A registered script called directly: `script(keys=..., args=...)`."""
    return {"keys", "args"} <= {k.arg for k in node.keywords}


def offences(source: str, rel: str) -> list[str]:
    found = []
    tree = ast.parse(source, filename=rel)
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if (rel, func.name) in ALLOWED:
            continue
        for node in ast.walk(func):
            if not isinstance(node, ast.Call):
                continue
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr in WRITES
                and _redis_receiver(node.func.value)
            ):
                found.append(f"{rel}:{node.lineno} {func.name}: .{node.func.attr}(...)")
            elif _script_call(node):
                found.append(f"{rel}:{node.lineno} {func.name}: a script called directly")
    return found


def test_no_redis_write_bypasses_hotstore_write() -> None:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 50
    problems = [o for f in files for o in offences(f.read_text(), f.relative_to(ROOT).as_posix())]
    assert problems == [], "write through HotStore.write / HotStore.script instead:\n" + "\n".join(
        problems
    )


def test_the_check_finds_direct_writes() -> None:
    source = (
        "async def f(self):\n"
        "    await self.store.redis.hset('k', 'f', 'v')\n"
        "    await self._put(keys=['k'], args=[1])\n"
        "    await self.store.write(('HSET', 'k', 'f', 'v'))\n"
        "    await self.redis.hget('k', 'f')\n"
    )
    assert offences(source, "x.py") == [
        "x.py:2 f: .hset(...)",
        "x.py:3 f: a script called directly",
    ]
