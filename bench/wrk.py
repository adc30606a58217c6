"""wrk runs: the Lua script of each scenario (requests, and non-2xx answers counted), the
command line, and its report parsed."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from bench.servers import BenchError, Server, fresh_user, mint

CREATE_USERS = 32  # fresh users a `create` run spreads its requests over

# --- wrk -------------------------------------------------------------------------------------

LUA_COMMON = """
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  n = 0
  non2xx = 0
  codes = ""
  counts = {}
end
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    counts[status] = (counts[status] or 0) + 1
    local parts = {}
    for code, c in pairs(counts) do parts[#parts + 1] = code .. ":" .. c end
    codes = table.concat(parts, " ")
  end
end
function done(summary, latency, requests)
  local bad = 0
  local all = {}
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    local c = t:get("codes")
    if c ~= "" then all[#all + 1] = c end
  end
  io.write(string.format("BENCH non2xx=%d codes=%s\\n", bad, table.concat(all, " ")))
  io.write(string.format(
    "BENCH requests=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\\n",
    summary.requests, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
  local e = summary.errors
  io.write(string.format("BENCH errors connect=%d read=%d write=%d timeout=%d\\n",
    e.connect, e.read, e.write, e.timeout))
end
"""


def _lua(value: str) -> str:
    return json.dumps(value)  # ASCII only here, which is valid Lua string syntax too


def lua_script(scenario: str, server: Server, create_users: list[str]) -> str:
    base = f"/api/{server.user}/tasks"
    auth = _lua(f"Bearer {server.token}")
    ids = ", ".join(str(i) for i in server.task_ids)
    if scenario == "list":
        body = f"""
wrk.method = "GET"
wrk.path = {_lua(base)}
wrk.headers["Authorization"] = {auth}
"""
    elif scenario == "get":
        body = f"""
local ids = {{{ids}}}
local headers = {{["Authorization"] = {auth}}}
request = function()
  n = n + 1
  return wrk.format("GET", {_lua(base + "/")} .. ids[(n + tid * 7) % #ids + 1], headers)
end
"""
    elif scenario == "patch":
        body = f"""
local ids = {{{ids}}}
local headers = {{["Authorization"] = {auth}, ["Content-Type"] = "application/json"}}
request = function()
  n = n + 1
  local id = ids[(n + tid * 7) % #ids + 1]
  local payload = '{{"title":"Patched by thread ' .. tid .. ', request ' .. n .. '"}}'
  return wrk.format("PATCH", {_lua(base + "/")} .. id, headers, payload)
end
"""
    elif scenario == "create":
        users = ",\n  ".join(
            f"{{{_lua(f'/api/{user}/tasks')}, {_lua(f'Bearer {mint(user)}')}}}"
            for user in create_users
        )
        body = f"""
local users = {{
  {users}
}}
request = function()
  n = n + 1
  local user = users[(n + tid * 13) % #users + 1]
  local headers = {{["Authorization"] = user[2], ["Content-Type"] = "application/json"}}
  local payload = '{{"title":"Load task ' .. tid .. '-' .. n .. '",'
    .. '"description":"Created by wrk","priority":"high","due_date":"2026-12-24",'
    .. '"tags":["bench","load"]}}'
  return wrk.format("POST", user[1], headers, payload)
end
"""
    else:
        raise ValueError(scenario)
    return body + LUA_COMMON


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    bench = dict(re.findall(r"(\w+)=(\S*)", " ".join(re.findall(r"^BENCH (.*)$", output, re.M))))
    if rps is None or "p99_us" not in bench:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    p99_ms = (
        float(p99.group(1)) * _UNITS_MS[p99.group(2)]
        if p99
        else int(bench["p99_us"]) / 1000  # wrk's own distribution, else the Lua percentile
    )
    errors = {k: int(bench[k]) for k in ("connect", "read", "write", "timeout")}
    return {
        "rps": float(rps.group(1)),
        "p50_ms": int(bench["p50_us"]) / 1000,
        "p90_ms": int(bench["p90_us"]) / 1000,
        "p99_ms": round(p99_ms, 3),
        "max_ms": int(bench["max_us"]) / 1000,
        "requests": int(bench["requests"]),
        "non2xx": int(bench["non2xx"]),
        "codes": bench.get("codes", ""),
        "socket_errors": errors,
    }


def wrk_command(args: argparse.Namespace, script: Path, url: str, duration_s: float) -> list[str]:
    return [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        url,
    ]


def run_wrk(
    args: argparse.Namespace,
    scenario: str,
    server: Server,
    workdir: Path,
    duration_s: float,
    label: str,
) -> dict[str, Any]:
    users = [fresh_user("bench-create") for _ in range(CREATE_USERS)]
    script = workdir / f"{server.name}-{scenario}-{label}.lua"
    script.write_text(lua_script(scenario, server, users))
    command = wrk_command(args, script, server.base_url, duration_s)
    cpu_before = cpu_seconds(server.process.pid)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = cpu_seconds(server.process.pid) - cpu_before
    (workdir / f"{server.name}-{scenario}-{label}.wrk.txt").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    result = parse_wrk(done.stdout)
    result["cpu_us_per_request"] = round(cpu * 1e6 / max(result["requests"], 1), 1)
    return result


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, all threads) the process has used so far. Per request, it
    says what a request costs the server even when other work on the machine takes turns on
    its cores, which moves requests per second a lot more."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # utime and stime: fields 14 and 15 of proc(5), counted from the state (field 3) here.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
