"""Per-element cost of a thread-mode keyed Python function in a mini-cluster: datagen rows ->
keyed in Java -> KeyedProcessFunction (VARIANT: java = no Python operator, none = yields
nothing, row = yields a row, state = a value-state read and write, then a row) -> blackhole.
usage: python thread-mode-overhead.py VARIANT ROWS"""
import sys
import time

from pyflink.common import Row, Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table import StreamTableEnvironment

from personastream_flink import job_args
from personastream_flink.keyed import keyed_table

OUT = Types.ROW_NAMED(["k", "n"], [Types.STRING(), Types.LONG()])


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


def main(variant: str, rows: int) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    job_args.thread_mode(env)
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(f"""CREATE TABLE src (k STRING, n BIGINT) WITH ('connector'='datagen',
      'number-of-rows'='{rows}', 'rows-per-second'='100000000', 'fields.k.length'='3',
      'fields.n.kind'='sequence', 'fields.n.start'='1', 'fields.n.end'='{rows}')""")
    if variant == "java":
        out = t_env.to_data_stream(t_env.from_path("src"))
    else:
        out = keyed_table(t_env, t_env.from_path("src"), "k").process(Variant(variant),
                                                                      output_type=OUT)
    t_env.execute_sql("CREATE TABLE sink (k STRING, n BIGINT) WITH ('connector'='blackhole')")
    start = time.time()
    t_env.from_data_stream(out).execute_insert("sink").wait()
    seconds = time.time() - start
    print(f"{variant}: {rows} rows in {seconds:.1f}s = {rows / seconds:,.0f}/s, "
          f"{seconds / rows * 1e6:.1f} us/row")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
