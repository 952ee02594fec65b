"""ScoreItemViews alone in a mini-cluster, timed per part (written to ./timed.txt every 20,000 windows):
connect(broadcast placements, none) -> ScoreItemViews -> blackhole."""
import sys, time
from pyflink.common import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment
from personastream_flink import job_args
from personastream_flink.keyed import keyed_table
from personastream_flink.placements import PLACEMENTS
from personastream_flink.trend_scoring import OUTPUT, ScoreItemViews

import time as _t
class Timed(ScoreItemViews):
    def open(self, ctx):
        super().open(ctx); self.t = {"value": 0.0, "score": 0.0, "update": 0.0, "row": 0.0, "placement": 0.0, "n": 0, "total": 0.0}
    def process_element(self, value, ctx):
        from personastream_models.placement_scoring import score_window
        t = self.t; a = _t.perf_counter()
        states = self.detectors.value() or {}
        b = _t.perf_counter(); p = self.placement(ctx); c = _t.perf_counter()
        result = score_window(states, p, self.spec_of, value.views)
        d = _t.perf_counter(); self.detectors.update(states); e = _t.perf_counter()
        row = OUTPUT.row({"item_id": value.item_id, "window_start": value.window_start,
                          "window_end": value.window_end, "views": value.views, **result.columns()})
        f = _t.perf_counter()
        t["value"] += b - a; t["placement"] += c - b; t["score"] += d - c; t["update"] += e - d; t["row"] += f - e; t["n"] += 1
        if t["n"] % 20000 == 0:
            import sys
            with open("timed.txt", "a") as out:
                out.write(" ".join(f"{k}={v / t['n'] * 1e6:.1f}us" for k, v in t.items() if k != "n") + f" n={t['n']}\n")
        yield row
N = int(sys.argv[1]); items = int(sys.argv[2]); mode = sys.argv[3]
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
if mode == "thread":
    job_args.thread_mode(env)
t_env = StreamTableEnvironment.create(env)
t_env.execute_sql(f"""CREATE TABLE src (n BIGINT, v INT) WITH ('connector'='datagen',
  'number-of-rows'='{N}', 'rows-per-second'='100000000', 'fields.n.kind'='sequence',
  'fields.n.start'='1', 'fields.n.end'='{N}', 'fields.v.min'='0', 'fields.v.max'='20')""")
t_env.execute_sql("CREATE TABLE ctl (s STRING) WITH ('connector'='datagen', 'number-of-rows'='0')")
windows = t_env.sql_query(f"""SELECT CONCAT('item-', CAST(MOD(n, {items}) AS STRING)) AS item_id,
  TIMESTAMPADD(MINUTE, CAST(n / {items} AS INT), TIMESTAMP '2026-01-01 00:00:00') AS window_start,
  TIMESTAMPADD(MINUTE, CAST(n / {items} AS INT) + 1, TIMESTAMP '2026-01-01 00:00:00') AS window_end,
  CAST(v AS BIGINT) AS `views` FROM src""")
placements = t_env.to_data_stream(t_env.from_path("ctl")).map(lambda r: r[0], output_type=Types.STRING()).broadcast(PLACEMENTS)
if mode == "thread":
    keyed = keyed_table(t_env, windows, "item_id")
else:
    keyed = t_env.to_data_stream(windows).key_by(lambda r: r.item_id, key_type=Types.STRING())
scored = keyed.connect(placements).process(Timed("trends_detector", "3-4-0"), output_type=OUTPUT.row_type)
t_env.execute_sql("CREATE TABLE sink (" + ", ".join(f"`{c}` {t}" for c, t in zip(OUTPUT.columns, ["STRING","TIMESTAMP(3)","TIMESTAMP(3)","BIGINT","DOUBLE","BOOLEAN","STRING","STRING","BIGINT","STRING","DOUBLE","BOOLEAN","STRING"])) + ") WITH ('connector'='blackhole')")
t0 = time.time()
t_env.from_data_stream(scored).execute_insert("sink").wait()
dt = time.time() - t0
print(f"{mode}: {N} windows of {items} items in {dt:.1f}s = {N/dt:,.0f}/s, {dt/N*1e6:.1f} us/window")
