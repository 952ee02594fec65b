"""``personastream models``: specs, artifacts, evaluation and live placement of models."""
from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import click

from personastream_models import artifacts, harness, specs
from personastream_models.registry import PlacementError
from personastream_stack import model_control


@click.group("models")
def models_group() -> None:
    """Model specs in models/: check, compare, publish, and switch the running jobs."""


def _spec_arg(name: str, version: str | None):
    try:
        return specs.load(name, version)
    except specs.SpecError as error:
        raise click.ClickException(str(error)) from None


@models_group.command("list")
@click.pass_obj
def list_(settings) -> None:
    """Every spec version, with what runs live and in shadow. Example: personastream models list"""
    try:
        known = model_control.placements(settings)
    except model_control.ModelControlError as error:
        known = None
        click.echo(f"# placements unknown ({error})", err=True)
    for name, versions in specs.available().items():
        where = {}
        if known is not None:
            placement = model_control.current(settings, name, known)
            where = {placement.live: "live", **({placement.shadow: "shadow"}
                                                if placement.shadow else {})}
        for version in versions:
            spec = specs.load(name, version)
            kinds = ",".join(a.kind for a in artifacts.available(spec)) or "-"
            click.echo(f"{name}\t{version}\t{spec.kind}\t{spec.estimator.rsplit('.', 1)[-1]}\t"
                       f"artifacts:{kinds}\t{where.get(version, '')}")


@models_group.command("show")
@click.argument("name")
@click.argument("version", required=False)
@click.pass_obj
def show(settings, name: str, version: str | None) -> None:
    """A spec as JSON with its digest, artifacts and placement.

    Example: personastream models show trends_detector 2-0-0
    """
    spec = _spec_arg(name, version)
    digest = hashlib.sha256(Path(str(specs.spec_path(name, spec.version))).read_bytes()).hexdigest()
    doc = {"spec": spec.to_dict(), "sha256": digest,
           "artifacts": [{k: v for k, v in a.to_dict().items() if k != "payload"}
                         for a in artifacts.available(spec)]}
    try:
        placement = model_control.current(settings, name)
        doc["placement"] = json.loads(placement.to_json())
    except model_control.ModelControlError as error:
        doc["placement"] = f"unknown: {error}"
    click.echo(json.dumps(doc, indent=2))


def _report(label: str, results: list[harness.Check]) -> bool:
    ok = all(r.ok for r in results)
    click.echo(f"{'ok  ' if ok else 'FAIL'} {label}")
    for r in results:
        click.echo(f"     {'ok  ' if r.ok else 'FAIL'} {r.name}{': ' + r.detail if r.detail else ''}")
    return ok


def _candidate(path: Path) -> specs.ModelSpec:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise specs.InvalidSpec(f"{path}: not a readable JSON spec: {error}") from None
    return specs.validate(doc)


@models_group.command("validate")
@click.argument("keys", nargs=-1, metavar="[NAME[/VERSION]]...")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="A candidate spec file (not published yet); repeatable.")
def validate(keys: tuple[str, ...], files: tuple[Path, ...]) -> None:
    """Run the property harness (builds, pickles, clones, reproducible, learns and scores) on
    the specs named and candidate files; on every published spec when none is given.

    Example: personastream models validate --file my_detector.json
    """
    targets = []
    every = [f"{n}/{v}" for n, vs in specs.available().items() for v in vs]
    for key in keys or ([] if files else every):
        name, _, version = key.partition("/")
        targets.append((key, lambda n=name, v=version or None: specs.load(n, v)))
    targets += [(str(f), lambda f=f: _candidate(f)) for f in files]
    failed = 0
    for label, load in targets:
        try:
            spec = load()
        except specs.SpecError as error:
            click.echo(f"FAIL {label}\n     {error}")
            failed += 1
            continue
        failed += not _report(spec.key if label == spec.key else f"{label} ({spec.key})",
                              harness.check(spec))
    click.echo(f"{len(targets) - failed} of {len(targets)} specs pass")
    if failed:
        sys.exit(1)


@models_group.command("publish")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def publish(path: Path) -> None:
    """Publish a candidate spec file as models/<name>/<version>.json: it must validate, pass the
    harness and bump its version as its changes require; published files are never replaced.

    Example: personastream models publish /tmp/trends_detector-3-1-0.json
    """
    try:
        spec = _candidate(path)
        target = Path(str(specs.spec_path(spec.name, spec.version)))
        if target.exists():
            raise specs.InvalidSpec(f"spec {spec.key} is published already ({target}); "
                                    "published versions are immutable: bump the version")
        if spec.name in specs.available():
            specs.check_bump(specs.load(spec.name), spec)
    except specs.SpecError as error:
        raise click.ClickException(str(error)) from None
    if not _report(spec.key, harness.check(spec)):
        raise click.ClickException(f"{spec.key} fails the harness; not published")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    click.echo(f"published {target}\nsha256 {digest}\n"
               f'add to tests/unit/test_models.py PUBLISHED: "{spec.key}": "{digest}",')


@models_group.command("train")
@click.argument("name")
@click.argument("version", required=False)
@click.option("--max-events", default=1_000_000, show_default=True,
              help="Read at most this many recorded events.")
@click.pass_obj
def train(settings, name: str, version: str | None, max_events: int) -> None:
    """Fit a clusterer's initial centres (scikit-learn KMeans) on the behaviour vectors of the
    customers in the enriched topic; write them as the spec's artifact, with the data range and
    metrics (cold vs warm start). The segments job applies it on its next start.

    Example: personastream models train customer_segments
    """
    from personastream_stack import training

    spec = _spec_arg(name, version)
    result = training.train(settings, spec, max_events, lambda m: click.echo(m, err=True))
    click.echo(json.dumps(result, indent=2))


@models_group.command("evaluate")
@click.argument("name")
@click.argument("version", required=False)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="NAB results directory for detectors (default: a temporary one).")
@click.option("--seeds", default=None, metavar="S1,S2,...",
              help="Clusterers: one run per seed (the shuffle, KMeans and the model's seed), "
                   "with mean and minimum (default: the spec's seed).")
@click.option("--json", "as_json", is_flag=True, help="Clusterers: the results as JSON.")
@click.pass_obj
def evaluate(settings, name: str, version: str | None, out: Path | None, seeds: str | None,
             as_json: bool) -> None:
    """Detectors: NAB scores (standard, reward_low_FP, reward_low_FN); clusterers: adjusted Rand
    index on a labelled data set, online from cold (predict-then-learn and final model),
    warm-started and scikit-learn's offline KMeans side by side.

    Example: personastream models evaluate trends_detector 2-0-0;
    personastream models evaluate customer_segments --seeds 42,1,2,3,4
    """
    spec = _spec_arg(name, version)
    if spec.kind == "detector":
        from personastream_bench.nab import corpus, runner

        nab_dir = Path(settings.nab_dir) if settings.nab_dir else corpus.DEFAULT_NAB_DIR
        out = out or Path(tempfile.mkdtemp(prefix="nab-"))
        result = runner.run(nab_dir, out, spec.name, spec.version,
                         progress=lambda d, t, f: click.echo(f"nab: {d}/{t} {f}", err=True))
        click.echo(runner.format_report(
            result, f"personastream models evaluate {spec.name} {spec.version} --out {out}"))
    else:
        from personastream_models import clustering

        try:
            seed_list = [int(v) for v in seeds.split(",")] if seeds else [None]
        except ValueError:
            raise click.BadParameter(f"integers separated by commas, got {seeds!r}",
                                     param_hint="--seeds") from None
        results = [clustering.evaluate(spec, seed=s, model_seed=s) for s in seed_list]
        if as_json:
            click.echo(json.dumps(results if seeds else results[0], indent=2))
        else:
            command = f"personastream models evaluate {spec.name} {spec.version}" + (
                f" --seeds {seeds}" if seeds else "")
            click.echo(clustering.format_report(results, command))


def _place(settings, name: str, change) -> None:
    _spec_arg(name, None)
    before = model_control.current(settings, name)
    try:
        after = change(before)
    except PlacementError as error:
        raise click.ClickException(str(error)) from None
    model_control.publish(settings, after)
    click.echo(f"{name}: live {before.live} -> {after.live}; shadow {before.shadow or '-'} -> "
               f"{after.shadow or '-'} (on {settings.topic_models_control}; running jobs switch "
               "within seconds)")


@models_group.command("promote")
@click.argument("name")
@click.argument("version")
@click.pass_obj
def promote(settings, name: str, version: str) -> None:
    """Make VERSION live in the running jobs, without a restart; the old live version stays
    learning as the rollback target. A shadow's learned state carries over.

    Example: personastream models promote trends_detector 2-0-0
    """
    _spec_arg(name, version)
    _place(settings, name, lambda p: p.promoted(version))


@models_group.command("rollback")
@click.argument("name")
@click.pass_obj
def rollback(settings, name: str) -> None:
    """Make the previous live version live again. Example: personastream models rollback
    trends_detector"""
    _place(settings, name, lambda p: p.rolled_back())


@models_group.command("shadow")
@click.argument("name")
@click.argument("version", required=False)
@click.option("--off", is_flag=True, help="Stop the shadow.")
@click.pass_obj
def shadow(settings, name: str, version: str | None, off: bool) -> None:
    """Score VERSION beside the live one on the same stream (item_trends.shadow_score), so a
    promotion is decided on live data.

    Example: personastream models shadow trends_detector 1-0-0
    """
    if bool(version) == off:
        raise click.UsageError("give a VERSION to shadow, or --off")
    if version:
        _spec_arg(name, version)
    _place(settings, name, lambda p: p.with_shadow(None if off else version))
