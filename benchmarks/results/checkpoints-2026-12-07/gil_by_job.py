"""Share of wall time the TaskManager's embedded Python held its GIL, by job, from
``py-spy record --gil -r 100 -d SECONDS -f raw`` output (stacks holding the GIL only).

    python gil_by_job.py SECONDS*RATE RAW...   e.g. python gil_by_job.py 3000 gil-600-a.txt
"""
import collections
import sys

#: The jobs' Python functions (thread mode) by a name in their stacks.
JOBS = {"UpdateLiveProfile": "live_activity", "UpdateItemNeighbours": "live_activity",
        "DecideOffers": "evaluate_promotions", "GrantOffers": "evaluate_promotions",
        "ScoreItemViews": "score_trends"}


def job_of(stack: str) -> str:
    """The job a stack belongs to.

    >>> job_of("a;DecideOffers.process_element (x.py:1)"), job_of(""), job_of("Row.x")
    ('evaluate_promotions', 'no Python frame (pemja)', 'PyFlink, no job frame')
    """
    for name, job in JOBS.items():
        if name in stack:
            return job
    return "no Python frame (pemja)" if not stack.strip("; ") else "PyFlink, no job frame"


def main() -> None:
    possible = float(sys.argv[1])
    for path in sys.argv[2:]:
        by, held = collections.Counter(), 0
        for line in open(path):
            stack, count = line.rsplit(" ", 1)
            by[job_of(stack)] += int(count)
            held += int(count)
        print(f"{path}: GIL held {held / possible:.0%} of the time; "
              + ", ".join(f"{job} {n / possible:.0%}" for job, n in by.most_common()))


if __name__ == "__main__":
    main()
