"""What the TaskManager spends over a window: CPU of its JIT compiler threads and of the rest,
methods compiled, classes loaded and metaspace used (``jcmd``).

    python tm_sample.py SECONDS   # prints one JSON line
"""
import json
import os
import re
import subprocess
import sys
import time

JCMD = "/usr/lib/jvm/java-17-openjdk-amd64/bin/jcmd"


def taskmanager_pid() -> int:
    out = subprocess.run(["pgrep", "-f", "TaskManagerRunner"], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of the JIT compiler threads ("C1/C2 CompilerThread") and the rest."""
    hz, cpu = os.sysconf("SC_CLK_TCK"), {"jit": 0.0, "other": 0.0}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = open(f"/proc/{pid}/task/{tid}/comm").read()
            fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / hz
        cpu["jit" if "CompilerThre" in name else "other"] += used
    return cpu


def counters(pid: int) -> dict[str, int]:
    out = subprocess.run([JCMD, str(pid), "PerfCounter.print"], capture_output=True,
                         text=True).stdout
    wanted = {"sun.ci.totalCompiles": "compiles", "java.cls.loadedClasses": "classes_loaded",
              "java.cls.unloadedClasses": "classes_unloaded"}
    return {wanted[k]: int(v) for k, v in re.findall(r"^(\S+)=(\d+)$", out, re.M) if k in wanted}


def metaspace_mib(pid: int) -> float:
    out = subprocess.run([JCMD, str(pid), "GC.heap_info"], capture_output=True, text=True).stdout
    return int(re.search(r"Metaspace\s+used (\d+)K", out).group(1)) / 1024


def main() -> None:
    seconds = float(sys.argv[1])
    pid = taskmanager_pid()
    cpu0, count0, t0 = thread_cpu(pid), counters(pid), time.monotonic()
    time.sleep(seconds)
    cpu1, count1, elapsed = thread_cpu(pid), counters(pid), time.monotonic() - t0
    print(json.dumps({
        "seconds": round(elapsed, 1),
        "jit_cores": round((cpu1["jit"] - cpu0["jit"]) / elapsed, 3),
        "other_cores": round((cpu1["other"] - cpu0["other"]) / elapsed, 3),
        "compiles_per_s": round((count1["compiles"] - count0["compiles"]) / elapsed, 1),
        "compiles_total": count1["compiles"], "classes_loaded": count1["classes_loaded"],
        "metaspace_mib": round(metaspace_mib(pid), 1)}))


if __name__ == "__main__":
    main()
