"""Regenerates core/tests/data/python_round.tsv: lag values rounded by CPython itself.

Each line is `microseconds<TAB>repr(round(microseconds / 1e6, 1))`, the way
eventsource-py turns a timedelta into `lag_seconds`. Run with python3 from the root.
"""
import random

rng = random.Random(20261125)
micros = set(k * 50_000 for k in range(4_001))            # every 0.05 s tie up to 200 s
micros |= {k * 10_000 + 5_000 for k in range(2_000)}       # x.x05 values
micros |= {rng.randrange(0, 10**7) for _ in range(3_000)}  # any microsecond below 10 s
micros |= {rng.randrange(0, 10**12) for _ in range(1_000)} # up to ~11 days
with open("core/tests/data/python_round.tsv", "w") as out:
    out.write("# microseconds\tround(microseconds / 1e6, 1) as printed by CPython\n")
    for us in sorted(micros):
        out.write(f"{us}\t{round(us / 1e6, 1)!r}\n")
