"""Measurement: named phase windows (time, CPU, memory), energy and CO₂ with provenance, and
the machine fingerprint.

* :class:`PhaseRecorder` — ``with rec.phase("train"): ...`` → ``{"train": {wall_s, cpu_s,
  peak_rss_bytes, peak_device_mem_bytes, energy: {...}}}``
* :class:`EnergyMeter` — codecarbon's offline tracker behind nestable energy windows
* :func:`fingerprint` / :func:`format_fingerprint` — ``greenbench env``

Importing this package imports neither codecarbon (it is loaded when a meter starts) nor
any deep-learning framework.
"""

from greenbench.measure.energy import EnergyMeter
from greenbench.measure.env import fingerprint, format_fingerprint
from greenbench.measure.phases import PhaseRecorder
from greenbench.measure.units import Energy, Power

__all__ = ["Energy", "EnergyMeter", "PhaseRecorder", "Power", "fingerprint", "format_fingerprint"]
