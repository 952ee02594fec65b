"""One API worker (uvicorn, this tree's app) that prints its garbage collections after S
seconds: count, median and longest pause per generation. ``plain`` undoes the app's
``gc.freeze()`` at startup (the design before it), ``freeze`` keeps it.

usage: python gc_serve.py plain|freeze PORT SECONDS
"""
import gc
import os
import sys
import threading
import time

import uvicorn

from personastream_contracts.settings import resolve
from personastream_serving.app import create_app

pauses: dict[int, list[float]] = {}
started = [0.0]


def observe(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        pauses.setdefault(info["generation"], []).append((time.perf_counter() - started[0]) * 1e3)


def report(mode: str, seconds: float):
    time.sleep(seconds)
    for generation, ms in sorted(pauses.items()):
        ms.sort()
        print(f"{mode} generation {generation}: {len(ms)} collections, median {ms[len(ms) // 2]:.2f} "
              f"ms, longest {ms[-1]:.1f} ms", flush=True)
    os._exit(0)


def main() -> None:
    mode, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if mode == "plain":
        gc.freeze = lambda: None
    gc.callbacks.append(observe)
    threading.Thread(target=report, args=(mode, seconds), daemon=True).start()
    uvicorn.run(create_app(resolve()), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
