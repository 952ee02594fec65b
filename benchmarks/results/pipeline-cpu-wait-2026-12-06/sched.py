"""Where each Flink task thread's wall time goes over an interval: running on a CPU, runnable
but waiting for one (the kernel's run queue, ``/proc/PID/task/TID/schedstat``), or neither
(blocked: the interpreter's lock, a queue, idle); with each vertex's busy / back-pressured /
idle ms per second from Flink's REST API. Threads are matched to jobs by vertex name (jstack's
``nid`` is the Linux thread id).

    python sched.py [SECONDS]
"""
import collections
import re
import subprocess
import sys
import time

from personastream_contracts.settings import resolve
from personastream_stack.flink import rest_get


def task_threads(jstack: str, pid: str) -> dict[int, str]:
    text = subprocess.run([jstack, pid], capture_output=True, text=True).stdout
    return {int(m.group(2), 16): m.group(1)
            for m in re.finditer(r'^"(.*?)" .*?nid=0x([0-9a-f]+)', text, re.M)}


def schedstat(pid: str, tid: int) -> tuple[int, int]:
    try:
        run, wait, _ = open(f"/proc/{pid}/task/{tid}/schedstat").read().split()
        return int(run), int(wait)
    except OSError:
        return 0, 0


def vertex_metrics(get, jobs: dict) -> dict:
    out = {}
    names = "busyTimeMsPerSecond,backPressuredTimeMsPerSecond,idleTimeMsPerSecond"
    for jid, job in jobs.items():
        for v in get(f"/jobs/{jid}")["vertices"]:
            got = get(f"/jobs/{jid}/vertices/{v['id']}/subtasks/metrics?get={names}&agg=max")
            out[(job, v["name"])] = {m["id"][:-len("TimeMsPerSecond")]: m.get("max") for m in got}
    return out


def main():
    interval = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    settings = resolve()
    def get(p): return rest_get(settings, p)
    jobs = {j["jid"]: j["name"] for j in get("/jobs/overview")["jobs"] if j["state"] == "RUNNING"}
    vertex_job = {v["name"]: name for jid, name in jobs.items()
                  for v in get(f"/jobs/{jid}")["vertices"]}
    tm = [p for p in subprocess.run(["pgrep", "-f", "TaskManagerRunner"], capture_output=True,
                                    text=True).stdout.split()
          if "java" in open(f"/proc/{p}/cmdline").read()]
    jstack = str(settings.java_home / "bin" / "jstack")
    threads = {(pid, tid): name for pid in tm for tid, name in task_threads(jstack, pid).items()}
    a = {k: schedstat(*k) for k in threads}
    t0 = time.time()
    time.sleep(interval)
    b = {k: schedstat(*k) for k in threads}
    dt = time.time() - t0
    metrics = vertex_metrics(get, jobs)
    per_job = collections.defaultdict(lambda: [0.0, 0.0])
    others = collections.defaultdict(lambda: [0.0, 0.0])
    rows = []
    for k, name in threads.items():
        run = (b[k][0] - a[k][0]) / 1e9 / dt
        wait = (b[k][1] - a[k][1]) / 1e9 / dt
        base = re.sub(r" \(\d+/\d+\)#\d+$", "", name)
        job = vertex_job.get(base)
        key = job or "(not a task thread)"
        per_job[key][0] += run
        per_job[key][1] += wait
        if job:
            rows.append((job, base, run, wait))
        else:
            kind = others[re.sub(r"[-#]?\d+", "N", name)[:48]]
            kind[0] += run
            kind[1] += wait
    print(f"interval {dt:.1f} s; share of wall time per thread: run = on a CPU, "
          f"wait = runnable, waiting for a CPU")
    print(f"{'job':22} {'run':>6} {'wait':>6}")
    for job, (run, wait) in sorted(per_job.items(), key=lambda kv: -kv[1][0]):
        print(f"{job:22} {run:6.3f} {wait:6.3f}")
    print("\nother TaskManager threads (top 15 by run, same-named threads summed):")
    for name, (run, wait) in sorted(others.items(), key=lambda kv: -kv[1][0])[:15]:
        print(f"  {name:48} {run:6.3f} {wait:6.3f}")
    print("\ntask threads, with Flink's busy / back-pressured / idle ms per second (max):")
    for job, base, run, wait in sorted(rows):
        m = next((v for (j, n), v in metrics.items() if j == job and n == base), {})
        print(f"{job:22} run {run:5.3f} wait {wait:5.3f}  busy {m.get('busy')!s:>6} "
              f"bp {m.get('backPressured')!s:>6} idle {m.get('idle')!s:>6}  {base[:70]}")


if __name__ == "__main__":
    main()
