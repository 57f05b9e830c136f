"""Inside the worker: execute one workload group and build its records.

One workload = one trained model: ``setup`` (data, initial weights, build) and ``train``
(with a window per epoch) happen once; then every run of the group (one per compression
method, ``none`` first) gets ``compress`` (except ``none``), ``evaluate``, ``latency``
(batch-1 predictions) and ``inference`` (throughput over the test set) windows. The
runner, not the backend, opens every measured window, and the backend synchronizes the
device at each boundary. At the start of the ``setup``, ``train``, ``evaluate`` and ``compress``
windows the worker's phase hooks run (:mod:`greenbench.runner.hooks`; none in production).
"""

from __future__ import annotations

import base64
import math
import os
import time
import traceback
from contextlib import ExitStack
from typing import Any, Iterator

import numpy as np

from greenbench.backends.base import Backend, CompressedModel, EpochStats, Evaluation, Hooks, TrainData, Unsupported
from greenbench.choices import NO_COMPRESSION
from greenbench.errors import EnvironmentFault
from greenbench.measure.cotenancy import verdict as cotenancy_verdict
from greenbench.measure.quiet import quiet_wait_s, wait_until_quiet
from greenbench.runner import hooks as phase_hooks
from greenbench.runner.records import base_record, now_iso
from greenbench.suite.plan import RunSpec

SAMPLE_COUNT = 24  # test images whose predictions every record keeps (the report shows them)
SAMPLE_SEED = 20240601  # fixed: every run, both backends, shows the same images
WARMUP_PREDICTIONS = 5


def inference_window_s(energy: Any) -> float:
    """How long the inference window runs: at least 1 s, ``energy.min_phase_s``, and — with energy metered —
    long enough for ``energy.min_samples`` power samples (MLPerf Power's reference is 60 at >= 1 Hz)."""
    seconds = max(1.0, float(energy.min_phase_s))
    if getattr(energy, "enabled", True):
        seconds = max(seconds, (int(energy.min_samples) + 1) * float(energy.measure_power_secs))
    return seconds


def throughput(model: Any, x: np.ndarray, batch: int, min_s: float) -> tuple[int, float]:
    """Predict the test set in batches of ``batch``, pass after pass, until at least ``min_s`` seconds passed.

    The bound is time alone, never a pass count: a small test set on a fast machine takes tens of
    microseconds a pass, and a pass cap ended such windows short of ``min_s`` (measured here: 0.87 s of a
    2 s window for 100 images), too short to meter or to judge for co-tenancy."""
    images, t0 = 0, time.perf_counter()
    while True:
        for i in range(0, len(x), batch):
            model.predict(x[i : i + batch])
            images += len(x[i : i + batch])
        elapsed = time.perf_counter() - t0
        if elapsed >= min_s:
            return images, elapsed


def thread_settings(spec: RunSpec, pools: dict[str, int]) -> dict[str, Any]:
    """What the run's threads ran under: the threads axis value, the framework's intra- and inter-op pool sizes
    as it reports them, OpenMP's wait policy in this worker (``default``: unset, the OpenMP runtime's own) and
    ``OMP_NUM_THREADS`` as the worker saw it (``None``: unset)."""
    wait = os.environ.get("OMP_WAIT_POLICY", "").strip().lower() or "default"
    return {"setting": spec.threads, **pools, "omp_wait_policy": wait,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def sample_indices(n_test: int) -> np.ndarray:
    rng = np.random.default_rng(SAMPLE_SEED)
    return np.sort(rng.choice(n_test, size=min(SAMPLE_COUNT, n_test), replace=False))


def _eval_metrics(ev: Evaluation) -> dict[str, Any]:
    loss = float(ev.loss)
    # A model that diverged has a NaN or infinite loss: recorded as null with what it was, since a record's
    # metrics must be finite numbers or null to be read (greenbench.results.record.check_values).
    diverged = {} if math.isfinite(loss) else {"test_loss_not_finite": str(loss)}  # "nan", "inf"
    return {
        "test_accuracy": float(ev.accuracy),
        "test_loss": None if diverged else loss,
        **diverged,
        "per_class_accuracy": [float(a) for a in ev.per_class_accuracy],
        "confusion": [[int(c) for c in row] for row in ev.confusion],
    }


def _samples(data: TrainData, x_uint8: np.ndarray, ev: Evaluation) -> dict[str, Any]:
    idx = sample_indices(len(data.y_test))
    return {
        "indices": idx.tolist(),
        "labels": data.y_test[idx].astype(int).tolist(),
        "predictions": np.asarray(ev.predictions)[idx].astype(int).tolist(),
        "images_b64": base64.b64encode(np.ascontiguousarray(x_uint8[idx], dtype=np.uint8).tobytes()).decode(),
        "shape": [len(idx), 28, 28],
    }


class WorkloadExecutor:
    """Holds the backend (and its framework) for the life of the worker process."""

    def __init__(self, backend_name: str, env: dict[str, Any]) -> None:
        from greenbench.backends.base import get_backend

        self.backend: Backend = get_backend(backend_name)
        versions = dict(env.get("versions") or {})
        # Plain strings only: events cross to the parent by pickle, and a framework type in them
        # (torch's TorchVersion is a str subclass) would make the parent import that framework.
        versions.update({str(k): str(v) for k, v in self.backend.versions().items()})
        self.env = {**env, "versions": versions}

    def warm_up(self) -> None:
        """Pay one-time start-up costs outside any workload: codecarbon's (module import, hardware
        detection) and the backend's own (``Backend.warm_up``, where it has one)."""
        from greenbench.measure import PhaseRecorder
        from greenbench.suite.schema import EnergyConfig

        PhaseRecorder(EnergyConfig(), sync=self.backend.synchronize).close()
        backend_warm_up = getattr(self.backend, "warm_up", None)  # optional part of the Backend contract
        if backend_warm_up is not None:
            backend_warm_up()

    # ------------------------------------------------------------------ helpers
    def _meter(self, spec: RunSpec) -> Any:
        from greenbench.measure import PhaseRecorder

        return PhaseRecorder(
            spec.energy,
            sync=self.backend.synchronize,
            device_memory=self.backend.peak_device_memory,
        )

    def _load(self, spec: RunSpec) -> tuple[TrainData, np.ndarray]:
        from greenbench.data import load_dataset, to_float
        from greenbench.workloads import make_augment, make_epoch_order

        d = spec.data
        ds = load_dataset(
            d.dataset, d.dir, train_samples=d.train_samples, test_samples=d.test_samples,
            validation_samples=d.validation_samples, seed=d.seed, progress=False,
        )
        data = TrainData(
            x_train=to_float(ds.x_train), y_train=np.array(ds.y_train, dtype=np.int64),
            x_val=to_float(ds.x_val), y_val=np.array(ds.y_val, dtype=np.int64),
            x_test=to_float(ds.x_test), y_test=np.array(ds.y_test, dtype=np.int64),
            epoch_order=make_epoch_order(spec.seed, len(ds.y_train)),
            augment=make_augment(spec.training.augmentation, spec.seed),
        )
        return data, np.asarray(ds.x_test)

    def _latency(self, model: CompressedModel, x: np.ndarray, n: int) -> tuple[float, float]:
        times = []
        for i in range(WARMUP_PREDICTIONS + n):
            xi = x[i % len(x)][None]
            t0 = time.perf_counter()
            model.predict(xi)
            if i >= WARMUP_PREDICTIONS:
                times.append(time.perf_counter() - t0)
        ms = np.asarray(times) * 1000.0
        return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


    # ------------------------------------------------------------------ the workload
    def run(self, specs: list[RunSpec], log_name: str) -> Iterator[dict[str, Any]]:
        backend, first = self.backend, specs[0]
        started = now_iso()

        quiet: dict[str, Any] = {}

        def record(spec: RunSpec, status: str, reason: str | None = None) -> dict[str, Any]:
            rec = base_record(spec, status, env=self.env, reason=reason, started_at=started, log=log_name)
            if quiet:
                rec["quiet"] = dict(quiet)  # what the quiet-machine policy saw before this workload
            return rec

        reason = backend.device_unavailable(first.device) or backend.skip(first)
        if reason is not None:
            for spec in specs:
                yield {"type": "record", "record": record(spec, "skipped", reason)}
            return

        # The quiet-machine policy, on the machine that measures (greenbench.measure.quiet): wait, bounded,
        # until other processes leave it alone — or, with --require-quiet, refuse to measure beside them.
        try:
            quiet.update(self._wait_for_quiet(first))
        except EnvironmentFault as exc:
            for spec in specs:
                yield {"type": "record", "record": record(spec, "failed", str(exc))}
            return

        meter = self._meter(first)
        try:
            yield from self._run_measured(specs, meter, record)
        finally:
            meter.close()

    @staticmethod
    def _wait_for_quiet(spec: RunSpec) -> dict[str, Any]:
        """What the quiet-machine policy saw ({} when it is off: no wait and not required)."""
        runner = spec.runner
        max_wait = quiet_wait_s(runner.quiet_wait_s)
        if max_wait <= 0 and not runner.require_quiet:
            return {}
        return wait_until_quiet(threshold=runner.cotenancy_threshold, max_wait_s=max_wait, require=runner.require_quiet)

    def _run_measured(self, specs: list[RunSpec], meter: Any, record: Any) -> Iterator[dict[str, Any]]:
        backend, first = self.backend, specs[0]
        wid = first.workload_id

        with meter.phase("setup"):
            phase_hooks.at_phase("setup", first)
            data, x_test_u8 = self._load(first)
            from greenbench.workloads import initial_weights

            backend.setup(first)
            backend.build(first, initial_weights(first))
        params = backend.param_count()
        yield {"type": "phase", "workload_id": wid, "name": "setup", "wall_s": meter.phases["setup"]["wall_s"]}

        history: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        target = first.training.target_accuracy
        to_target: dict[str, float] = {}
        stack = ExitStack()

        def on_epoch_begin(epoch: int) -> None:
            stack.enter_context(meter.phase(f"train/epoch-{epoch}"))

        def on_epoch_end(stats: EpochStats) -> bool:
            stack.close()
            window = meter.phases[f"train/epoch-{stats.epoch}"]
            energy = window.get("energy") or {}
            row = {
                "epoch": stats.epoch,
                "train_loss": stats.train_loss,
                "train_accuracy": stats.train_accuracy,
                "val_accuracy": stats.val_accuracy,
                "val_loss": stats.val_loss,
                "learning_rate": stats.learning_rate,
                "wall_s": window["wall_s"],
                "energy_kwh": energy.get("total_kwh"),
                "co2_kg": energy.get("co2_kg"),
            }
            history.append(row)
            events.append({"type": "epoch", "workload_id": wid, "epochs": first.training.epochs, **row})
            reached = stats.val_accuracy if stats.val_accuracy is not None else None
            if target is not None and reached is not None and reached >= target and not to_target:
                to_target["time_to_target_s"] = sum(h["wall_s"] for h in history)
                kwh = [h["energy_kwh"] for h in history]
                to_target["energy_to_target_kwh"] = sum(kwh) if all(k is not None for k in kwh) else None
                return True
            return False

        with meter.phase("train"):
            phase_hooks.at_phase("train", first)
            backend.train(data, Hooks(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end))
        stack.close()
        yield from events
        yield {"type": "phase", "workload_id": wid, "name": "train", "wall_s": meter.phases["train"]["wall_s"]}

        trained = backend.compress(NO_COMPRESSION, data)
        with meter.phase("evaluate"):
            phase_hooks.at_phase("evaluate", first)
            baseline = backend.evaluate(trained, data.x_test, data.y_test)
        shared = meter.take()  # setup, train (+ epochs), evaluate of the uncompressed model
        trained_size = trained.size_bytes()
        holder = first.run_id  # the record that carries the training phases

        def unfinished(spec: RunSpec, status: str, reason: str, phases: dict[str, Any]) -> dict[str, Any]:
            meter.take()  # drop the partial windows of this variant
            rec = record(spec, status, reason[:600])
            rec["phases"] = phases
            return {"type": "record", "record": rec}

        for i, spec in enumerate(specs):
            phases: dict[str, Any] = {}
            if i == 0:
                phases.update(shared)
                if spec.compression != NO_COMPRESSION:
                    phases["evaluate-uncompressed"] = phases.pop("evaluate")
            if spec.compression == NO_COMPRESSION:
                model, ev = trained, baseline
            else:
                try:
                    with meter.phase("compress"):
                        phase_hooks.at_phase("compress", spec)
                        model = backend.compress(spec.compression, data)
                except Unsupported as exc:
                    yield unfinished(spec, "skipped", f"{spec.backend} cannot apply {spec.compression} to "
                                     f"{spec.model}: {exc}", phases)
                    continue
                except Exception as exc:  # noqa: BLE001 - one broken variant must not cost the others
                    traceback.print_exc()
                    yield unfinished(spec, "failed", f"compress failed: {type(exc).__name__}: {exc}", phases)
                    continue
            try:
                if spec.compression != NO_COMPRESSION:
                    with meter.phase("evaluate"):
                        ev = backend.evaluate(model, data.x_test, data.y_test)
                with meter.phase("latency"):
                    p50, p95 = self._latency(model, data.x_test, spec.runner.latency_samples)
                with meter.phase("inference"):
                    images, seconds = throughput(
                        model, data.x_test, spec.runner.inference_batch, inference_window_s(spec.energy)
                    )
            except Exception as exc:  # noqa: BLE001 - one broken variant must not cost the others
                traceback.print_exc()
                yield unfinished(spec, "failed", f"{type(exc).__name__}: {exc}", phases)
                continue
            phases.update(meter.take())
            inference_kwh = (phases["inference"].get("energy") or {}).get("total_kwh")
            nonzero, total = model.parameter_stats()
            details = model.details() if hasattr(model, "details") else {}
            rec = record(spec, "completed")
            rec["metrics"] = {
                **_eval_metrics(ev),
                "params": params,
                "epochs_run": len(history),
                "target_accuracy": target,
                "time_to_target_s": to_target.get("time_to_target_s"),
                "energy_to_target_kwh": to_target.get("energy_to_target_kwh"),
                "threads": thread_settings(spec, backend.threads()),
                "train_samples": int(len(data.y_train)),
                "val_samples": int(len(data.y_val)),
                "test_samples": int(len(data.y_test)),
            }
            rec["history"] = history if i == 0 else []
            rec["phases"] = phases
            # Were the measured windows shared with other processes? (greenbench.measure.cotenancy)
            rec["cotenancy"] = cotenancy_verdict(phases, spec.runner.cotenancy_threshold)
            rec["compression"] = {
                "method": spec.compression,
                "trained_run_id": holder,
                "size_bytes": int(model.size_bytes()),
                "baseline_size_bytes": int(trained_size),
                "nonzero_params": int(nonzero),
                "total_params": int(total),
                # Over the weight matrices the method prunes (the documented target); overall includes biases etc.
                "sparsity": details.get("sparsity", 1.0 - nonzero / total if total else None),
                "overall_sparsity": 1.0 - nonzero / total if total else None,
                "target_sparsity": details.get("target_sparsity"),
                "quantized_weight_fraction": details.get("quantized_weight_fraction"),
                "compressed_size_bytes": details.get("compressed_size_bytes"),
                "size_format": details.get("size_format"),
                "runtime": details.get("runtime", spec.backend),
                "inference_device": details.get("inference_device", spec.device),
                "accuracy_delta_pp": (ev.accuracy - baseline.accuracy) * 100.0,
                "latency_ms_p50": p50,
                "latency_ms_p95": p95,
                "throughput_ips": images / seconds if seconds > 0 else None,
                "inference_images": images,
                "inference_energy_kwh_per_1k": inference_kwh / images * 1000.0 if inference_kwh and images else None,
                "inference_energy_source": (phases["inference"].get("energy") or {}).get("energy_source"),
            }
            rec["samples"] = _samples(data, x_test_u8, ev)
            yield {"type": "record", "record": rec}
