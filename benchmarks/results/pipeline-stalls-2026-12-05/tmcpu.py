"""CPU per Flink job over an interval: TaskManager threads (jstack cpu=) grouped by the job whose
vertex names match the thread name, plus the process-mode Python workers (by their beam id)."""
import collections
import os
import re
import subprocess
import sys
import time

from personastream_contracts.settings import resolve
from personastream_stack.flink import rest_get


def main():
    interval = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    settings = resolve()
    def get(p): return rest_get(settings, p)
    jobs = {j["jid"]: j["name"] for j in get("/jobs/overview")["jobs"] if j["state"] == "RUNNING"}
    vertex_job = {}
    for jid, name in jobs.items():
        for v in get(f"/jobs/{jid}")["vertices"]:
            vertex_job[v["name"]] = name
    tm = subprocess.run(["pgrep", "-f", "TaskManagerRunner"], capture_output=True, text=True).stdout.split()
    tm = [p for p in tm if "java" in open(f"/proc/{p}/cmdline").read()]
    JSTACK = str(settings.java_home / "bin" / "jstack")
    def snap():
        out = {}
        for pid in tm:
            text = subprocess.run([JSTACK, pid], capture_output=True, text=True).stdout
            for m in re.finditer(r'^"(.*?)" .*?cpu=([\d.]+)ms', text, re.M):
                out[(pid, m.group(1))] = out.get((pid, m.group(1)), 0) + float(m.group(2))
        py = {}
        for p in os.listdir("/proc"):
            if not p.isdigit(): continue
            try:
                cmd = open(f"/proc/{p}/cmdline").read().replace("\0", " ")
                if "beam_boot" in cmd and "--id=" in cmd:
                    st = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                    # include children (the actual worker is a child of beam_boot? count whole tree below)
                    py[re.search(r"--id=(\S+)", cmd).group(1)] = (int(st[11]) + int(st[12]) + int(st[13]) + int(st[14])) * 10.0
            except OSError:
                pass
        return out, py
    def jobof(thread):
        base = re.sub(r" \(\d+/\d+\)#\d+$", "", thread)
        return vertex_job.get(base)
    a, pa = snap(); t0 = time.time(); time.sleep(interval); b, pb = snap(); dt = time.time() - t0
    per_job = collections.Counter(); other = collections.Counter()
    for k, v in b.items():
        d = v - a.get(k, 0)
        j = jobof(k[1])
        if j: per_job[j] += d
        else: other[re.sub(r"[-#]?\d+", "N", k[1])[:40]] += d
    print(f"interval {dt:.1f}s; cores per job (TaskManager task threads):")
    for j, v in per_job.most_common(): print(f"  {j:24} {v/1000/dt:5.3f}")
    print(f"  all task threads         {sum(per_job.values())/1000/dt:5.3f}")
    print("other TaskManager threads (top 12):")
    for k, v in other.most_common(12): print(f"  {k:42} {v/1000/dt:5.3f}")
    print(f"  all other                {sum(other.values())/1000/dt:5.3f}")
    print("process-mode Python workers (beam id, cores, incl. waited-for children):")
    for k in sorted(pb): print(f"  {k:8} {(pb[k]-pa.get(k,0))/1000/dt:5.3f}")


if __name__ == "__main__":
    main()
