"""One benchmark run: every configured model over every prompt set, resumable at any point.

Order of work: model by model (one worker process each, so only one model is
ever in memory), and within a model prompt set by prompt set, prompt by prompt,
seed by seed. What is left to do is worked out from the results store on every
start, so a run killed at any moment (even between an image landing on disk and
its row being written) is finished by simply starting it again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmark.config import BenchmarkConfig, ModelSpec
from benchmark.container import make_worker
from benchmark.devices import Slot, slots
from benchmark.errors import (
    ConfigError,
    DiskFullError,
    UnknownNameError,
    WorkerLoadError,
    is_disk_full,
)
from benchmark.messages import Task
from benchmark.need import estimate_need, working_key
from benchmark.parallel import SharedProgress, run_on_devices
from benchmark.plan import Item, plan_model, record_item
from benchmark.progress import VIEW_NAME, Progress
from benchmark.prompts import load_prompt_sets
from benchmark.results import (
    ensure_results_dir,
    exclusive,
    remove_stale_temp_files,
)
from benchmark.store import DB_NAME, ResultsStore
from benchmark.worker import WorkerJob

__all__ = ["RunSummary", "run_benchmark", "write_run_report"]

log = logging.getLogger("benchmark")


@dataclass
class RunSummary:
    """What a run did. ``run_id`` is None when there was nothing to run (no prompt sets)."""

    run_id: str | None
    resumed: bool = False
    total: int = 0
    made: int = 0
    ok: int = 0
    failed: int = 0
    set_errors: list[str] = field(default_factory=list)
    reports: dict[str, Path] | None = None


def _run_model(
    store: ResultsStore,
    config: BenchmarkConfig,
    run_id: str,
    results_dir: Path,
    model: ModelSpec,
    items: list[Item],
    progress: Progress | SharedProgress,
    slot: Slot | None = None,
) -> None:
    slot = slot or Slot(config.run.device)
    key = working_key(model)
    measured = store.working_memory(key)
    job = WorkerJob(
        model_name=model.name,
        source=model.source,
        device=slot.device,
        dtype=model.dtype,
        variant=model.variant,
        scorers=asdict(config.scorers) if config.run.score else None,
        log_level=logging.getLogger().getEffectiveLevel(),
        lease_device=slot.lease_device,
        placement=model.placement,
        need=estimate_need(model, slot.device, measured),
        block_checkpoints=config.run.block_checkpoints,
    )
    worker = make_worker(config.run, job, results_dir, slot)
    # Progress and log lines say which device makes the images ("tiny on cuda:1").
    where = model.name if slot.device == "auto" else f"{model.name} on {slot.label}"
    log.info("model %s: %d images to make (%s)", where, len(items), model.source)
    # A local folder that is plainly not a pipeline fails here, without paying for a worker.
    missing = (
        model.declared.startswith("path:")
        and not (Path(model.source) / "model_index.json").is_file()
    )
    try:
        for index, item in enumerate(items):
            if missing or not worker.alive:
                try:
                    if missing:
                        raise WorkerLoadError(
                            f"cannot load model {model.name!r}: {model.source} is not a "
                            "diffusers pipeline folder (no model_index.json)"
                        )
                    worker.start()
                    if worker.loaded is not None:
                        log.info("model %s: %s", where, worker.loaded.reason)
                except WorkerLoadError as exc:
                    reason = str(exc)
                    log.error("model %s failed to load: %s", model.name, reason)
                    for rest in items[index:]:
                        record_item(store, run_id, rest, model, error=reason)
                        progress.advance(where, rest.pset.name, ok=False)
                    return
            request = model.request(item.prompt.text, item.key.seed)
            outcome = worker.run(Task(request, str(results_dir / item.image_rel)), model.timeout_s)
            if outcome.disk_full:
                # Not the model's failure: stop with the item unrecorded, so a run
                # started again once there is space makes it.
                raise DiskFullError(
                    f"the image folder under {results_dir} is full ({outcome.error}); "
                    "free some space and run again to resume"
                )
            if outcome.ok:
                record_item(store, run_id, item, model, measures=outcome.measures,
                        scores=outcome.scores)  # fmt: skip
                working = outcome.measures.working_mem_bytes if outcome.measures else None
                if working is not None and measured is None:
                    # Measured on its first image; the next run places the model by it.
                    store.remember_working_memory(key, working)
                    measured = working
            else:
                log.warning(
                    "image failed: %s / %s / %s seed %d: %s",
                    model.name, item.pset.name, item.prompt.id, item.key.seed, outcome.error,
                )  # fmt: skip
                record_item(store, run_id, item, model, error=outcome.error)
            progress.advance(where, item.pset.name, ok=outcome.ok)
    finally:
        worker.stop()


def _slots(config: BenchmarkConfig) -> list[Slot]:
    run = config.run
    try:
        return slots(run.device, run.devices, run.lease_devices)
    except ValueError as exc:
        raise ConfigError(f"{config.path}: run.{exc}") from None


def _run_on(
    config: BenchmarkConfig,
    run_id: str,
    results_dir: Path,
    slot: Slot,
    model: ModelSpec,
    items: list[Item],
    progress: SharedProgress,
) -> None:
    # One store per device thread: a SQLite connection belongs to its thread, and
    # WAL with BEGIN IMMEDIATE serialises the few writes.
    with ResultsStore(results_dir / DB_NAME) as store:
        _run_model(store, config, run_id, results_dir, model, items, progress, slot)


def write_run_report(
    store: ResultsStore,
    run_id: str,
    results_dir: Path,
    out_dir: Path | None = None,
    rank_by: str | None = None,
) -> dict[str, Path]:
    """Write the reports of ``run_id`` into ``out_dir`` (``results_dir/reports/<run_id>/``),
    the leaderboard ranked by the metric ``rank_by`` (default: the first with scores)."""
    from benchmark.report import write_reports

    run = store.run(run_id)
    if run is None:
        raise UnknownNameError(f"no run {run_id!r} in {store.path}")
    out = out_dir if out_dir is not None else results_dir / "reports" / run_id
    return write_reports(
        run, store.generations(run), results_dir=results_dir, out_dir=out, rank_by=rank_by
    )


def run_benchmark(
    config: BenchmarkConfig,
    *,
    data_dir: Path,
    results_dir: Path,
    prompt_sets: list[str] | None = None,
    models: list[str] | None = None,
    report: bool = True,
) -> RunSummary:
    """Run (or resume) the benchmark: every model in ``config`` over every prompt set.

    ``prompt_sets`` and ``models`` limit the run to the named ones. A bad prompt
    set is logged and skipped; a model that fails to load has its images
    recorded as failed; neither stops the run. An unwritable results folder
    raises :class:`ResultsDirError` before anything starts, and a second runner on
    the same folder :class:`RunnerBusyError`. Returns a summary;
    with ``report`` the run's reports are written at the end.
    """
    results_dir = ensure_results_dir(Path(results_dir))
    specs = list(config.models)
    if models:
        unknown = sorted(set(models) - {m.name for m in specs})
        if unknown:
            raise UnknownNameError(f"unknown model(s) {', '.join(unknown)} (not in {config.path})")
        specs = [m for m in specs if m.name in models]
    sets, errors = load_prompt_sets(Path(data_dir), only=prompt_sets)
    summary = RunSummary(run_id=None, set_errors=[str(e) for e in errors])
    for error in errors:
        log.error("%s (skipped)", error)
    if not sets:
        log.warning("no usable prompt sets in %s: nothing to run", data_dir)
        return summary
    with exclusive(results_dir), ResultsStore(results_dir / DB_NAME) as store:
        remove_stale_temp_files(results_dir)
        if config.run.isolation == "container":
            from benchmark.container_setup import sweep_leftovers

            for gone in sweep_leftovers(results_dir):
                log.info("removed a leftover container of an earlier runner: %s", gone)
        for pset in sets:
            store.remember_prompt_set(
                content_hash=pset.content_hash,
                name=pset.name,
                path=str(pset.path),
                members=[(p.id, p.content_hash, p.category) for p in pset.prompts],
            )
        run_id, resumed = store.start_run(
            config_name=config.path.name,
            config_json=config.as_dict(),
            prompt_sets=[{"name": s.name, "hash": s.content_hash} for s in sets],
            models=[{"name": m.name, "fingerprint": m.fingerprint} for m in specs],
        )
        summary.run_id, summary.resumed = run_id, resumed
        plans = [
            (m, *plan_model(store, run_id, results_dir, sets, m, config.run.seeds)) for m in specs
        ]
        summary.total = sum(len(p) + d for _, p, d in plans)
        already = sum(d for _, _, d in plans)
        log.info(
            "run %s (%s): %d prompt sets, %d models, %d seeds: %d images, %d already done",
            run_id, "resumed" if resumed else "new", len(sets), len(specs),
            len(config.run.seeds), summary.total, already,
        )  # fmt: skip
        progress = Progress(summary.total, already, view=results_dir / VIEW_NAME, run_id=run_id)
        work = [(m, pending) for m, pending, _ in plans if pending]
        places = _slots(config)
        if len(places) == 1:
            for model, pending in work:
                _run_model(store, config, run_id, results_dir, model, pending, progress, places[0])
        else:
            run_on_devices(
                places,
                work,
                lambda slot, model, pending, shared: _run_on(
                    config, run_id, results_dir, slot, model, pending, shared
                ),
                progress,
            )
        store.finish_run(run_id)
        summary.made = progress.done - already
        run = store.run(run_id)
        counts = store.counts(run) if run is not None else {}
        summary.ok, summary.failed = counts.get("ok", 0), counts.get("failed", 0)
        log.info(
            "run %s finished: %d ok, %d failed, %d made now", run_id, summary.ok,
            summary.failed, summary.made,
        )  # fmt: skip
        if report:
            try:
                summary.reports = write_run_report(store, run_id, results_dir)
                log.info("report: %s", summary.reports.get("html"))
            except OSError as exc:
                if is_disk_full(exc):
                    raise DiskFullError(
                        f"run {run_id} is finished, but its report cannot be written: "
                        f"{exc}; free some space and run `python -m benchmark report`"
                    ) from exc
                log.exception("writing the report of run %s failed", run_id)
            except Exception:  # the results are safe in the database; say so and go on
                log.exception("writing the report of run %s failed", run_id)
    return summary
