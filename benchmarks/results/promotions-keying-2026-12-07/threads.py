"""Sample per-thread CPU of a JVM (names from jcmd Thread.print) and its child processes.
usage: threads.py PID JCMD SECONDS OUT.jsonl"""
import json, os, re, subprocess, sys, time
pid, jcmd, secs, out = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
TCK = os.sysconf('SC_CLK_TCK')
names = {}
def refresh_names():
    txt = subprocess.run([jcmd, str(pid), 'Thread.print'], capture_output=True, text=True).stdout
    for m in re.finditer(r'^"(.*?)".*?nid=(0x[0-9a-f]+)', txt, re.M):
        names[int(m.group(2), 16)] = m.group(1)
def children(root):
    kids = {}
    for e in os.scandir('/proc'):
        if e.name.isdigit():
            try:
                st = open(f'/proc/{e.name}/stat').read()
            except OSError:
                continue
            ppid = int(st.rsplit(')', 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(e.name))
    out, todo = [], list(kids.get(root, []))
    while todo:
        p = todo.pop(); out.append(p); todo += kids.get(p, [])
    return out
def ticks(path):
    f = open(path).read().rsplit(')', 1)[1].split()
    return int(f[11]) + int(f[12])
def sample():
    s = {}
    for t in os.listdir(f'/proc/{pid}/task'):
        try: s[('t', int(t))] = ticks(f'/proc/{pid}/task/{t}/stat')
        except OSError: pass
    for c in children(pid):
        try: s[('p', c)] = ticks(f'/proc/{c}/stat') + 0
        except OSError: pass
    return s
refresh_names()
prev, t0 = sample(), time.time()
with open(out, 'w') as fh:
    while time.time() - t0 < secs:
        time.sleep(1.0)
        cur = sample(); now = time.time()
        d = {}
        for k, v in cur.items():
            dv = v - prev.get(k, v)
            if dv:
                name = names.get(k[1], str(k[1])) if k[0] == 't' else f'child {k[1]}'
                d[name] = d.get(name, 0) + dv / TCK
        prev = cur
        fh.write(json.dumps({'t': now, 'cpu': d}) + '\n'); fh.flush()
