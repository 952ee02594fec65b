"""An experiment's report from its per-variant totals (the ``experiment_results`` rows of the
``attribute_experiments`` job): per variant each metric's rate with its Wilson interval, the
difference to control with its normal-approximation interval and p-value, and the sample size
per variant needed to detect a given relative lift on control's rate
(:mod:`personastream_models.experiment_stats`).

Metrics: ``ctr`` = clicks / impressions, ``conversion`` = customers who purchased after exposure
/ exposed customers, ``add_to_cart_rate`` = customers who carted after exposure / exposed
customers.

>>> from personastream_models.experiments import load
>>> totals = {"a": {"exposed_customers": 1000, "impressions": 3000, "clicks": 300,
...                 "converted_customers": 50, "carting_customers": 120},
...           "b": {"exposed_customers": 1010, "impressions": 2990, "clicks": 330,
...                 "converted_customers": 52, "carting_customers": 118}}
>>> report = build(load("aa_ranking"), totals, lift=0.15)
>>> ctr_b = report["variants"][1]["metrics"]["ctr"]
>>> round(ctr_b["rate"], 4), round(ctr_b["vs_control"]["p_value"], 3)
(0.1104, 0.191)
>>> report["metrics"]["ctr"]["needed_per_variant"], report["metrics"]["ctr"]["enough"]
(6693, False)
>>> print(render(report).splitlines()[0])
experiment aa_ranking/1-0-0 (recommendations), control a; intervals 95 %: rates Wilson, differences normal approximation (unpooled), p two-sided pooled z-test
"""
from __future__ import annotations

from typing import Mapping

from personastream_models.experiment_stats import compare, sample_size_per_variant, wilson_interval
from personastream_models.experiments import Experiment

__all__ = ["METRICS", "build", "render"]

#: Per metric: (successes column, trials column, unit of a trial).
METRICS = {"ctr": ("clicks", "impressions", "impressions"),
           "conversion": ("converted_customers", "exposed_customers", "customers"),
           "add_to_cart_rate": ("carting_customers", "exposed_customers", "customers")}


def build(experiment: Experiment, totals: Mapping[str, Mapping[str, int]], lift: float,
          alpha: float = 0.05, power: float = 0.8) -> dict:
    """The report as plain data (JSON-ready). ``totals``: per variant name, its counts (a
    variant without any is reported with zeros)."""
    confidence = 1 - alpha
    control = totals.get(experiment.control, {})
    variants = []
    for v in experiment.variants:
        counts = {k: int(n) for k, n in totals.get(v.name, {}).items() if k in {
            "exposed_customers", "impressions", "clicks", "clicking_customers", "add_to_carts",
            "carting_customers", "purchases", "converted_customers"}}
        metrics = {}
        for metric in experiment.metrics:
            num, den, _ = METRICS[metric]
            x, n = counts.get(num, 0), counts.get(den, 0)
            out = {"successes": x, "trials": n, "rate": x / n if n else None,
                   "interval": wilson_interval(min(x, n), n, confidence) if n else None}
            x0, n0 = control.get(num, 0), control.get(den, 0)
            if v.name != experiment.control and n and n0:
                c = compare(min(x0, n0), n0, min(x, n), n, confidence)
                out["vs_control"] = {"difference": c.difference, "interval": c.interval,
                                     "relative_lift": c.relative_lift, "p_value": c.p_value,
                                     "significant": c.p_value < alpha}
            metrics[metric] = out
        variants.append({"name": v.name, "weight": v.weight, "ranking": v.ranking,
                         "promotions": v.promotions, "counts": counts,
                         "revenue": float(totals.get(v.name, {}).get("revenue") or 0.0),
                         "metrics": metrics})
    summary = {}
    for metric in experiment.metrics:
        num, den, unit = METRICS[metric]
        n0 = control.get(den, 0)
        base = control.get(num, 0) / n0 if n0 else None
        needed, why_not = None, "no baseline rate yet (control has no successes)"
        if base:
            try:
                needed = sample_size_per_variant(base, lift, alpha, power)
            except ValueError as error:
                why_not = str(error)
        smallest = min((v["metrics"][metric]["trials"] for v in variants), default=0)
        summary[metric] = {"baseline": base, "needed_per_variant": needed, "unit": unit,
                           "smallest_variant": smallest, "why_not": None if needed else why_not,
                           "enough": needed is not None and smallest >= needed}
    return {"experiment": experiment.key, "placement": experiment.placement,
            "control": experiment.control, "alpha": alpha, "power": power, "lift": lift,
            "intervals": {"rate": "wilson", "difference": "normal approximation (unpooled)",
                          "p_value": "two-sided pooled two-proportion z-test"},
            "variants": variants, "metrics": summary}


def _pct(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f} %"


def _ci(interval, digits: int = 2) -> str:
    if interval is None:
        return "-"
    return f"[{100 * interval[0]:.{digits}f}, {100 * interval[1]:.{digits}f}]"


def render(report: dict) -> str:
    """The report as text, one table per metric."""
    conf = round(100 * (1 - report["alpha"]))
    lines = [f"experiment {report['experiment']} ({report['placement']}), control "
             f"{report['control']}; intervals {conf} %: rates Wilson, differences normal "
             "approximation (unpooled), p two-sided pooled z-test"]
    lines.append("variant          exposed  impressions  clicks  carting  converted   revenue")
    for v in report["variants"]:
        c = v["counts"]
        lines.append(f"{v['name']:<15} {c.get('exposed_customers', 0):>8} "
                     f"{c.get('impressions', 0):>12} {c.get('clicks', 0):>7} "
                     f"{c.get('carting_customers', 0):>8} {c.get('converted_customers', 0):>10} "
                     f"{v['revenue']:>9.2f}")
    for metric, s in report["metrics"].items():
        num, den, _ = METRICS[metric]
        lines.append("")
        lines.append(f"{metric} ({num} / {den})")
        lines.append(f"  {'variant':<15} {'rate':>8} {f'{conf} % CI':>18} {'diff':>9} "
                     f"{'diff CI':>18} {'lift':>8} {'p':>7}")
        for v in report["variants"]:
            m = v["metrics"][metric]
            vs = m.get("vs_control")
            diff = (f"{100 * vs['difference']:>+8.2f}pp {_ci(vs['interval']):>18} "
                    f"{_pct(vs['relative_lift'], 1):>8} {vs['p_value']:>7.3f}"
                    f"{' *' if vs['significant'] else ''}") if vs else \
                f"{'(control)' if v['name'] == report['control'] else '-':>9}"
            lines.append(f"  {v['name']:<15} {_pct(m['rate']):>8} {_ci(m['interval']):>18} "
                         f"{diff}")
        needed = s["needed_per_variant"]
        lines.append(
            f"  to detect a {100 * report['lift']:+.0f} % relative lift on {_pct(s['baseline'])}"
            f" (alpha {report['alpha']}, power {report['power']}): "
            + (f"{needed:,} {s['unit']} per variant; smallest variant has "
               f"{s['smallest_variant']:,} ({'enough' if s['enough'] else 'not enough yet'})"
               if needed else s["why_not"]))
    return "\n".join(lines)
