"""Per-element cost of a thread-mode keyed Python function in a mini-cluster: datagen rows ->
keyed in Java -> KeyedProcessFunction (variant) -> blackhole."""
import sys, time
from pyflink.common import Row, Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table import StreamTableEnvironment
from personastream_flink import job_args
from personastream_flink.keyed import keyed_table

N = int(sys.argv[2]); variant = sys.argv[1]
OUT = Types.ROW_NAMED(["k", "n"], [Types.STRING(), Types.LONG()])

class F(KeyedProcessFunction):
    def open(self, ctx):
        self.s = ctx.get_state(ValueStateDescriptor("s", Types.PICKLED_BYTE_ARRAY()))
    def process_element(self, value, ctx):
        if variant == "state":
            v = self.s.value() or 0
            self.s.update(v + 1)
        if variant in ("state", "row"):
            yield Row(k=value.k, n=value.n)

env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
job_args.thread_mode(env)
t_env = StreamTableEnvironment.create(env)
t_env.execute_sql(f"""CREATE TABLE src (k STRING, n BIGINT) WITH ('connector'='datagen',
  'number-of-rows'='{N}', 'rows-per-second'='100000000', 'fields.k.length'='3', 'fields.n.kind'='sequence',
  'fields.n.start'='1', 'fields.n.end'='{N}')""")
keyed = keyed_table(t_env, t_env.from_path("src"), "k")
if variant == "java":
    out = t_env.to_data_stream(t_env.from_path("src"))
else:
    out = keyed.process(F(), output_type=OUT)
t_env.execute_sql("CREATE TABLE sink (k STRING, n BIGINT) WITH ('connector'='blackhole')")
t0 = time.time()
t_env.from_data_stream(out).execute_insert("sink").wait()
dt = time.time() - t0
print(f"{variant}: {N} rows in {dt:.1f}s = {N/dt:,.0f}/s, {dt/N*1e6:.1f} us/row")
