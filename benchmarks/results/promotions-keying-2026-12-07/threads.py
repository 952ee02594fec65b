"""Per-thread CPU of a JVM, its threads named once by ``jcmd PID Thread.print``, and of its
child processes (a TaskManager's Python workers), every second, as JSON lines.

usage: python threads.py PID JCMD SECONDS OUT.jsonl
"""
import json
import os
import re
import subprocess
import sys
import time

from personastream_stack.priority import process_tree

TCK = os.sysconf("SC_CLK_TCK")


def thread_names(pid: int, jcmd: str) -> dict[int, str]:
    """Native thread id -> Java thread name."""
    dump = subprocess.run([jcmd, str(pid), "Thread.print"], capture_output=True, text=True).stdout
    return {int(m.group(2), 16): m.group(1)
            for m in re.finditer(r'^"(.*?)".*?nid=(0x[0-9a-f]+)', dump, re.M)}


def ticks(path: str) -> int:
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def sample(pid: int) -> dict[tuple[str, int], int]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out[("t", int(tid))] = ticks(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            pass
    for child in process_tree(pid)[1:]:  # its descendants, the root first
        try:
            out[("p", child)] = ticks(f"/proc/{child}/stat")
        except OSError:
            pass
    return out


def main(pid: int, jcmd: str, seconds: float, out_path: str) -> None:
    names = thread_names(pid, jcmd)
    prev, start = sample(pid), time.time()
    with open(out_path, "w") as out:
        while time.time() - start < seconds:
            time.sleep(1.0)
            cur = sample(pid)
            cpu: dict[str, float] = {}
            for (kind, ident), value in cur.items():
                used = value - prev.get((kind, ident), value)
                if used:
                    name = names.get(ident, str(ident)) if kind == "t" else f"child {ident}"
                    cpu[name] = cpu.get(name, 0) + used / TCK
            prev = cur
            out.write(json.dumps({"t": time.time(), "cpu": cpu}) + "\n")
            out.flush()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4])
