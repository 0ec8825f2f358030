"""Garbage-collector settings for a serving process, applied once the application is loaded and warm.

A worker holds a large, long-lived heap - imported modules, the terminology index, the compiled schemas and FHIR
validators and, with the models, torch and transformers (several hundred thousand tracked objects). Python's full
(generation-2) collection walks all of it, which cost ~250 ms of a request every few hundred requests (the p99).
``gc.freeze()`` moves everything alive at start-up into a permanent generation that collections never walk, so a
full collection only walks what requests allocate. Under gunicorn with ``preload_app``, freezing in the master before
the workers fork also keeps those pages shared between workers: a collection writes to the objects it walks, and a
write to a shared page copies it into the worker.

The first-generation threshold is raised so that the short-lived objects of one request (parsed records, features,
findings) mostly die by reference counting before a collection looks at them; nothing here turns the collector off.
"""
from __future__ import annotations

import gc

# Allocations (minus deallocations) between generation-0 collections; Python's default is 700. A ~1 MiB prefetch
# allocates a few hundred thousand objects, most of them freed by reference counting when the call ends.
GEN0_THRESHOLD = 50_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 20


def tune_for_serving() -> None:
    """Collect the start-up garbage, freeze what is left, raise the thresholds. Call once the app is warm."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)


def describe() -> dict:
    """What the collector looks like now (for the benchmarks and diagnostics)."""
    return {"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()), "threshold": gc.get_threshold(),
            "counts": gc.get_count()}
