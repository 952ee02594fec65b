"""score_trends' function and PyFlink's thread-mode path alone in a local mini-cluster (no Kafka,
no Cassandra), from the repository root:

- ``python mini_cluster.py overhead VARIANT ROWS``: datagen rows -> keyed in Java ->
  KeyedProcessFunction (VARIANT: java = no Python operator, none = yields nothing, row = yields
  a row, state = a value-state read and write, then a row) -> blackhole.
- ``python mini_cluster.py score WINDOWS ITEMS``: ScoreItemViews (trends_detector 3-4-0),
  each part timed (written to ./timed.txt every 20,000 windows): datagen windows -> keyed in
  Java -> connect(broadcast placements, none) -> ScoreItemViews -> blackhole.
"""
import sys
import time

from pyflink.common import Row, Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table import StreamTableEnvironment

from personastream_flink import job_args
from personastream_flink.keyed import keyed_table
from personastream_flink.placements import PLACEMENTS
from personastream_flink.trend_scoring import OUTPUT, ScoreItemViews

OUT = Types.ROW_NAMED(["k", "n"], [Types.STRING(), Types.LONG()])
PARTS = ("value", "placement", "score", "update", "row")
SQL_TYPES = ["STRING", "TIMESTAMP(3)", "TIMESTAMP(3)", "BIGINT", "DOUBLE", "BOOLEAN", "STRING",
             "STRING", "BIGINT", "STRING", "DOUBLE", "BOOLEAN", "STRING"]


class Variant(KeyedProcessFunction):
    def __init__(self, variant: str):
        self.variant = variant
        self.state = None

    def open(self, runtime_context):
        self.state = runtime_context.get_state(
            ValueStateDescriptor("s", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value, ctx):
        if self.variant == "state":
            self.state.update((self.state.value() or 0) + 1)
        if self.variant in ("state", "row"):
            yield Row(k=value.k, n=value.n)


class Timed(ScoreItemViews):
    """ScoreItemViews.process_element, each part timed."""

    def open(self, runtime_context):
        super().open(runtime_context)
        self.spent, self.n = dict.fromkeys(PARTS, 0.0), 0

    def process_element(self, value, ctx):
        t0 = time.perf_counter()
        states = self.detectors.value() or {}
        t1 = time.perf_counter()
        placement = self.placement(ctx)
        t2 = time.perf_counter()
        result = self.score_window(states, placement, self.spec_of, value.views)
        t3 = time.perf_counter()
        self.detectors.update(states)
        t4 = time.perf_counter()
        row = OUTPUT.row({"item_id": value.item_id, "window_start": value.window_start,
                          "window_end": value.window_end, "views": value.views,
                          **result.columns()})
        t5 = time.perf_counter()
        for part, spent in zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            self.spent[part] += spent
        self.n += 1
        if self.n % 20000 == 0:
            with open("timed.txt", "a") as out:
                out.write(" ".join(f"{p}={s / self.n * 1e6:.1f}us" for p, s in self.spent.items())
                          + f" n={self.n}\n")
        yield row


def table_env(source_sql: str) -> StreamTableEnvironment:
    """A thread-mode mini-cluster at parallelism 1 with the datagen table ``src``."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    job_args.thread_mode(env)
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(source_sql)
    return t_env


def drain(t_env, stream, columns: str, n: int, what: str) -> None:
    """Run ``stream`` into a blackhole of ``columns``; print the time per element."""
    t_env.execute_sql(f"CREATE TABLE sink ({columns}) WITH ('connector'='blackhole')")
    start = time.time()
    t_env.from_data_stream(stream).execute_insert("sink").wait()
    seconds = time.time() - start
    print(f"{what}: {n} in {seconds:.1f}s = {n / seconds:,.0f}/s, {seconds / n * 1e6:.1f} us each")


def overhead(variant: str, rows: int) -> None:
    t_env = table_env(f"""CREATE TABLE src (k STRING, n BIGINT) WITH ('connector'='datagen',
      'number-of-rows'='{rows}', 'rows-per-second'='100000000', 'fields.k.length'='3',
      'fields.n.kind'='sequence', 'fields.n.start'='1', 'fields.n.end'='{rows}')""")
    if variant == "java":
        out = t_env.to_data_stream(t_env.from_path("src"))
    else:
        out = keyed_table(t_env, t_env.from_path("src"), "k").process(Variant(variant),
                                                                      output_type=OUT)
    drain(t_env, out, "k STRING, n BIGINT", rows, f"{variant}: rows")


def score(n_windows: int, items: int) -> None:
    t_env = table_env(f"""CREATE TABLE src (n BIGINT, v INT) WITH ('connector'='datagen',
      'number-of-rows'='{n_windows}', 'rows-per-second'='100000000', 'fields.n.kind'='sequence',
      'fields.n.start'='1', 'fields.n.end'='{n_windows}', 'fields.v.min'='0',
      'fields.v.max'='20')""")
    t_env.execute_sql("CREATE TABLE ctl (s STRING) WITH ('connector'='datagen', "
                      "'number-of-rows'='0')")
    windows = t_env.sql_query(f"""SELECT CONCAT('item-', CAST(MOD(n, {items}) AS STRING))
          AS item_id,
      TIMESTAMPADD(MINUTE, CAST(n / {items} AS INT), TIMESTAMP '2026-01-01 00:00:00')
          AS window_start,
      TIMESTAMPADD(MINUTE, CAST(n / {items} AS INT) + 1, TIMESTAMP '2026-01-01 00:00:00')
          AS window_end,
      CAST(v AS BIGINT) AS `views` FROM src""")
    placements = t_env.to_data_stream(t_env.from_path("ctl")).map(
        lambda r: r[0], output_type=Types.STRING()).broadcast(PLACEMENTS)
    scored = keyed_table(t_env, windows, "item_id").connect(placements).process(
        Timed("trends_detector", "3-4-0"), output_type=OUTPUT.row_type)
    columns = ", ".join(f"`{c}` {t}" for c, t in zip(OUTPUT.columns, SQL_TYPES))
    drain(t_env, scored, columns, n_windows, f"windows of {items} items")


if __name__ == "__main__":
    {"overhead": lambda v, n: overhead(v, int(n)),
     "score": lambda w, i: score(int(w), int(i))}[sys.argv[1]](*sys.argv[2:])
