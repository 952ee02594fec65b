"""NiFi's CPU under live variants of the ingest flow's scheduling (receive_events' tasks, the
timer-driven thread pool), applied through NiFi's REST API without a redeploy.

    python nifi_variants.py variants NIFI_PID 40    # idle: one change at a time, two rounds
    python nifi_variants.py combos NIFI_PID 40      # idle: tasks x threads
    python nifi_variants.py toggle NIFI_PID BENCH_LOG  # step i of `bench pipeline` gets
                                                       # TOGGLED[(i - 1) % 2]
"""
import re
import sys
import time

import nipyapi

from personastream_contracts.settings import resolve
from personastream_flows.client import connect
from personastream_flows.deploy import ensure_thread_pool, find_group

TOGGLED = [(4, 32), (2, 16)]  # (receive_events tasks, timer-driven threads)
COMBOS = [(4, 32), (1, 32), (2, 32), (2, 16), (1, 8), (2, 8), (4, 32), (2, 16), (1, 16)]


def processor(name):
    group = find_group("ingest")
    by_name = {p.component.name: p for p in nipyapi.canvas.list_all_processors(group.id)}
    return nipyapi.nifi.ProcessorsApi().get_processor(by_name[name].id)


def set_running(name, running):
    nipyapi.canvas.schedule_processor(processor(name), running)


def set_tasks(name, n):
    set_running(name, False)
    config = nipyapi.nifi.ProcessorConfigDTO(concurrently_schedulable_task_count=n)
    nipyapi.canvas.update_processor(processor(name), config)
    set_running(name, True)


def measure(pid, seconds, label):
    def cpu():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100
    time.sleep(5)
    before = cpu()
    time.sleep(seconds)
    print(f"{label:40s} {(cpu() - before) / seconds:.3f} cores", flush=True)


def main(mode, pid, arg, settings):
    if mode == "variants":
        for _ in range(2):
            measure(pid, int(arg), "baseline")
            set_running("receive_validating", False)
            measure(pid, int(arg), "receive_validating stopped")
            set_running("receive_validating", True)
            measure(pid, int(arg), "baseline")
            set_tasks("receive_events", 1)
            measure(pid, int(arg), "receive_events 1 task")
            set_tasks("receive_events", 4)
            measure(pid, int(arg), "baseline")
            ensure_thread_pool(8)
            measure(pid, int(arg), "timer-driven threads 8")
            ensure_thread_pool(32)
    elif mode == "combos":
        for tasks, threads in COMBOS:
            set_tasks("receive_events", tasks)
            ensure_thread_pool(threads)
            measure(pid, int(arg), f"receive_events {tasks} tasks, {threads} threads")
    else:
        seen = set()
        while True:
            for m in re.finditer(r"\[bench\] step (\d+)/(\d+):", open(arg).read()):
                step, steps = int(m.group(1)), int(m.group(2))
                if step not in seen:
                    seen.add(step)
                    tasks, threads = TOGGLED[(step - 1) % 2]
                    set_tasks("receive_events", tasks)
                    ensure_thread_pool(threads)
                    print(time.strftime("%H:%M:%S"), f"step {step}: receive_events "
                          f"{tasks} tasks, {threads} threads", flush=True)
                    if step == steps:
                        return
            time.sleep(0.5)
    # leave the deployed flow's own values
    set_tasks("receive_events", 2)
    ensure_thread_pool(settings.nifi_timer_driven_threads)


if __name__ == "__main__":
    settings = resolve()
    connect(settings)
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], settings)
