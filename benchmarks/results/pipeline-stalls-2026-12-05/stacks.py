"""Sample the TaskManager's task threads with jstack: per thread, the top Java frames, counted."""
import collections
import re
import subprocess
import sys
import time

from personastream_contracts.settings import resolve


def main():
    dur = float(sys.argv[1]); every = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    pats = ("update_live_profile", "update_item_neighbours", "decide_offers", "grant_offers")
    tm = [p for p in subprocess.run(["pgrep", "-f", "TaskManagerRunner"], capture_output=True, text=True).stdout.split()
          if "java" in open(f"/proc/{p}/cmdline").read()][0]
    J = str(resolve().java_home / "bin" / "jstack")
    counts = {p: collections.Counter() for p in pats}
    timeline = []
    t0 = time.time()
    while time.time() - t0 < dur:
        text = subprocess.run([J, tm], capture_output=True, text=True).stdout
        row = {}
        for block in text.split("\n\n"):
            m = re.match(r'"(.*?)"', block)
            if not m or not m.group(1).startswith(pats): continue
            name = next(p for p in pats if m.group(1).startswith(p))
            frames = re.findall(r"^\s+at (\S+)", block, re.M)
            state = re.search(r"java.lang.Thread.State: (\S+)", block)
            key = (state.group(1) if state else "?") + " " + " < ".join(f.rsplit(".", 2)[-2] + "." + f.rsplit(".", 1)[-1].split("(")[0] if "." in f else f for f in frames[:4])
            counts[name][key] += 1
            row[name] = key[:90]
        timeline.append((round(time.time() - t0, 1), row))
        time.sleep(every)
    for p, c in counts.items():
        print(f"== {p}: {sum(c.values())} samples")
        for k, v in c.most_common(8): print(f"  {v:4}  {k[:220]}")
    with open("/tmp/stacks_timeline.txt", "w") as f:
        for t, row in timeline: f.write(f"{t} {row}\n")


if __name__ == "__main__":
    main()
