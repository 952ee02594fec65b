"""A small simulated A/B test through the real pipeline (`personastream experiments simulate`):
simulated shoppers with a known response model ask an API serving the simulation experiment
for recommendations and send impressions, clicks, views, carts and purchases through the
test's NiFi collector; its attribute_experiments instance counts them. Asserts the report's
structure and that every simulated impression and click was counted, not a lift (the test's
keyspace has no live profiles: no live_activity runs for it)."""
import json

from click.testing import CliRunner

from personastream.commands.experiments import experiments_group
from personastream_bench.ab_simulation import CASE_STUDY, COUNTS, render_lifts
from personastream_models import experiments
from personastream_stack import flink_jobs

N_SHOPPERS, N_PAGES = 150, 3


def test_a_simulated_ab_test_is_counted_whole_and_reported_beside_the_case_study(
        isolated, api_settings):
    s = api_settings
    sim = experiments.load("sim_ranking_live_vs_batch")
    isolated.deploy_ingest()
    job = flink_jobs.submit(s, "attribute_experiments", instance=isolated.uid)
    assert job.state == "RUNNING"

    def cli(*args: str):
        return CliRunner().invoke(experiments_group, list(args), obj=s,
                                  catch_exceptions=False)

    refused = cli("simulate", "ranking_live_vs_batch", "--shoppers", "1")
    assert refused.exit_code == 1 and "not a simulation experiment" in refused.stderr

    result = cli("simulate", sim.name, "--shoppers", str(N_SHOPPERS), "--pages", str(N_PAGES),
                 "--concurrency", "50", "--attribution-job", job.name, "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    out = json.loads(result.stdout)
    report, sent = out["report"], out["sent"]
    assert report["experiment"] == sim.key and report["control"] == "popularity"
    assert [v["name"] for v in report["variants"]] == ["popularity", "daily_batch", "live"]
    # conservation: every shopper exposed once, every page one impression, and the job's
    # counts are exactly what the shoppers sent, variant by variant
    counted = {v["name"]: v["counts"] for v in report["variants"]}
    assert sum(c["exposed_customers"] for c in counted.values()) == N_SHOPPERS
    assert sum(c["impressions"] for c in counted.values()) == N_SHOPPERS * N_PAGES
    assert sum(c["clicks"] for c in counted.values()) > 0
    assert {v: {c: counted[v][c] for c in COUNTS} for v in sent} == \
        {v: {c: row[c] for c in COUNTS} for v, row in sent.items()}
    for v in report["variants"]:
        for metric in ("ctr", "conversion", "add_to_cart_rate"):
            m = v["metrics"][metric]
            assert m["trials"] > 0 and 0 <= m["interval"][0] <= m["rate"] <= m["interval"][1]
            assert ("vs_control" in m) == (v["name"] != "popularity")
    assert [(r["metric"], r["treatment"], r["baseline"], r["case_study"])
            for r in out["lifts"]] == [
        (m, "live", b, CASE_STUDY[m]) for m in ("ctr", "conversion")
        for b in ("popularity", "daily_batch")]
    assert out["simulated"].startswith("simulated shoppers, not customers")
    assert "conservation checked" in out["simulated"]
    print(f"\n{render_lifts(out['lifts'], 1 - report['alpha'])}\n{out['simulated']}")
    assert flink_jobs.cancel(s, job.job_id) == [job.job_id]
