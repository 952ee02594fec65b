"""NiFi's CPU samples by where they go: `python bycat.py PROFILE.collapsed` (async-profiler's
collapsed stacks with `threads`): the processor whose onTrigger a sample is in, else the
timer-driven threads' scheduling (park/unpark or other), Jetty, JIT, GC, provenance."""
import collections
import sys

FRAMEWORK = ("StandardProcessorNode", "AbstractProcessor", "AbstractSessionFactoryProcessor",
             "ConnectableTask")


def category(frames):
    thread = frames[0]
    for frame in frames:
        if frame.endswith(".onTrigger") and not frame.startswith(FRAMEWORK):
            return "proc " + frame
    if "Timer-Driven" in thread:
        parked = any("park" in f.lower() for f in frames)
        return f"timer: scheduling/idle ({'park' if parked else 'other'})"
    for marker, name in (("HandleHttpRequest", "jetty (HandleHttpRequest server)"),
                         ("Compiler", "JIT"), ("GC", "GC"), ("G1", "GC"), ("Refine", "GC"),
                         ("Provenance", "provenance index"), ("Lucene", "provenance index")):
        if marker in thread:
            return name
    return "other: " + thread[:40]


def main(path):
    counts, total = collections.Counter(), 0
    for line in open(path):
        stack, n = line.rstrip().rsplit(" ", 1)
        counts[category([f.split("/")[-1] for f in stack.split(";")])] += int(n)
        total += int(n)
    for name, n in counts.most_common(25):
        print(f"{100 * n / total:5.1f}% {name}")


if __name__ == "__main__":
    main(sys.argv[1])
