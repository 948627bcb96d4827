"""Generate ``demand.csv``, the project's own small hourly series for the forecasting quickstart.

Why this file exists
--------------------
The forecasting quickstart and tests need a series that is always there (no download, no
licence) and that a forecaster can learn something from that naive baselines miss. The output
is committed in the package (``nlp_lstm/samples/demand.csv``); this script regenerates it.

What it generates
-----------------
3,000 hourly rows from 2024-01-01 00:00 (125 days), header ``date,temperature,load,price``:

* ``temperature``: a daily cycle (peak mid-afternoon), a slow 60-day swing and AR(1) noise;
* ``load`` (the target of the univariate setting): a linear trend, a daily cycle with a
  morning and an evening peak, a weekly cycle (lower at weekends), a temperature effect and
  AR(1) noise; at row 1,800 (2024-03-16 00:00) a regime change raises the level by 12 and the
  daily amplitude by half;
* ``price``: follows the previous hour's load, plus noise.

Values are written with 3 decimals. Only the standard library and one ``random.Random(SEED)``
are used, so every run writes the same bytes. Regenerate it from the repository root with::

    python tools/samples/make_series.py [--check]
"""

import datetime
import math
import random
import sys
from pathlib import Path

from generator_cli import generator_main

SEED = 20260516
ROWS = 3000
REGIME_CHANGE = 1800
START = datetime.datetime(2024, 1, 1)
OUT_PATH = Path(__file__).resolve().parents[2] / "nlp_lstm" / "samples" / "demand.csv"


def generate(seed=SEED):
    """The CSV text."""
    rng = random.Random(seed)
    lines = ["date,temperature,load,price"]
    temp_noise = load_noise = 0.0
    previous_load = None
    for t in range(ROWS):
        when = START + datetime.timedelta(hours=t)
        hour, weekday = when.hour, when.weekday()
        temp_noise = 0.8 * temp_noise + rng.gauss(0.0, 0.6)
        temperature = (
            8.0
            + 5.0 * math.sin(2 * math.pi * (hour - 9) / 24)
            + 4.0 * math.sin(2 * math.pi * t / (24 * 60))
            + temp_noise
        )
        after = t >= REGIME_CHANGE
        daily = (
            math.exp(-((hour - 8) ** 2) / 6.0) * 9.0 + math.exp(-((hour - 19) ** 2) / 8.0) * 12.0
        )
        weekly = -6.0 if weekday >= 5 else 1.5 * math.sin(2 * math.pi * weekday / 5)
        load_noise = 0.7 * load_noise + rng.gauss(0.0, 1.0)
        load = (
            40.0
            + 0.004 * t
            + daily * (1.5 if after else 1.0)
            + weekly
            - 0.6 * temperature
            + (12.0 if after else 0.0)
            + load_noise
        )
        base = load if previous_load is None else previous_load
        price = 5.0 + 0.8 * base + rng.gauss(0.0, 1.5)
        previous_load = load
        lines.append(f"{when:%Y-%m-%d %H:%M:%S},{temperature:.3f},{load:.3f},{price:.3f}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    return generator_main(
        argv,
        __doc__,
        OUT_PATH,
        lambda: generate().encode("ascii"),
        lambda data: f"{len(data.splitlines()) - 1} rows",
    )


if __name__ == "__main__":
    sys.exit(main())
