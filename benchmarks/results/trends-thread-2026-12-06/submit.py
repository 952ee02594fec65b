"""Resubmit score_trends as the tree's design (thread mode) or a revision's (its flink-udfs,
models and contracts folders shipped with the job), keeping the other jobs running.
usage: python submit.py tree|REV"""
import sys
import tempfile
from pathlib import Path

from personastream_bench.load import git_archive
from personastream_contracts.settings import resolve
from personastream_stack import flink_jobs


def main(design: str) -> None:
    settings = resolve()
    if flink_jobs.active_job(settings, "score_trends"):
        flink_jobs.cancel(settings, "score_trends")
    code = None
    if design != "tree":
        into = git_archive(design, ["flink-udfs", "models", "contracts"],
                           Path(tempfile.mkdtemp(prefix="score-trends-")))
        code = [into / "flink-udfs", into / "models", into / "contracts"]
    print(flink_jobs.submit(settings, "score_trends", code=code))


if __name__ == "__main__":
    main(sys.argv[1])
