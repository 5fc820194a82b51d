"""Time and windows: the time column read once (present, parsable, one time zone), and the windows that cover the
data's range without gaps: a pandas frequency anchored at an origin (whole days at midnight of the first day,
calendar offsets rolled back to their anchor), or a number of consecutive rows in time order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigError, InputError

MAX_WINDOWS = 10_000


def read_times(data: Any, time: str) -> Any:
    """The time column as timestamps (naive UTC): present, no missing or unparsable value, one time zone or none."""
    import pandas as pd

    from .._validation import require_column

    require_column(data, time, "time")
    s = data[time]
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        ts = s
    else:
        zones = {getattr(v, "tzinfo", None) is not None for v in s.dropna().head(10_000)
                 if hasattr(v, "tzinfo")}
        if len(zones) > 1:
            raise InputError(f"time column {time!r} mixes times with and without a time zone: give them all one "
                             "time zone (or none).", code="mixed_time_zones", column=str(time))
        try:
            ts = pd.to_datetime(s, errors="raise")
        except (ValueError, TypeError) as exc:
            bad = pd.to_datetime(s, errors="coerce").isna() & s.notna()
            first = data.index[int(bad.to_numpy().argmax())] if bad.any() else None
            raise InputError(f"time column {time!r} has values that are not times"
                             + (f", first at index {first!r} ({s.loc[first]!r})" if first is not None else "")
                             + f": {' '.join(str(exc).split())[:120]}. Give timestamps or ISO 8601 text.",
                             code="bad_time", column=str(time)) from None
    missing = ts.isna()
    if missing.any():
        first = data.index[int(missing.to_numpy().argmax())]
        raise InputError(f"time column {time!r} has {int(missing.sum()):,} missing value(s), first at index "
                         f"{first!r}: every decision needs its time.", code="missing_values", column=str(time))
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.astype("datetime64[ns]")


@dataclass(frozen=True)
class Windowing:
    """How rows fall into windows: ``every`` a pandas frequency from ``origin`` (the first window's start), or a
    number of rows (``origin`` unused)."""

    every: Any
    origin: str | None = None

    @property
    def by_rows(self) -> bool:
        return isinstance(self.every, int) and not isinstance(self.every, bool)

    @property
    def offset(self) -> Any:
        import pandas as pd

        return pd.tseries.frequencies.to_offset(self.every)

    @classmethod
    def start(cls, every: Any, first_time: Any) -> "Windowing":
        """The windowing of data whose earliest time is ``first_time``; ``every`` checked."""
        import pandas as pd

        if isinstance(every, int) and not isinstance(every, bool):
            if every < 1:
                raise ConfigError(f"every={every!r} is invalid: give a number of rows of at least 1, or a frequency "
                                  "such as '7D' or '1MS'.", code="invalid_option")
            return cls(every)
        try:
            offset = pd.tseries.frequencies.to_offset(every)
        except (ValueError, TypeError):
            offset = None
        if offset is None or not isinstance(every, str):
            raise ConfigError(f"every={every!r} is invalid: give a pandas frequency such as '1D', '7D', 'W-MON' or "
                              "'1MS', or a number of rows.", code="invalid_option")
        lo = pd.Timestamp(first_time)
        if isinstance(offset, pd.offsets.Tick):  # fixed lengths: whole days start at midnight of the first day
            start = lo.normalize() if offset.nanos >= pd.Timedelta("1D").value else lo.floor(offset)
        else:
            start = offset.rollback(lo.normalize())
        return cls(every, str(start))

    def assign(self, ts: Any, first: Any = None) -> tuple[Any, Any, Any]:
        """(window number per row counted from ``first`` (default: the origin), window starts, window ends) of
        frequency windows covering ``first`` to the latest time, empty ones kept."""
        import numpy as np
        import pandas as pd

        offset = self.offset
        start = pd.Timestamp(self.origin if first is None else first)
        hi = ts.max() if len(ts) else start
        edges = pd.date_range(start=start, end=max(hi, start) + offset, freq=offset)
        if len(edges) < 2 or edges[-1] <= hi:
            edges = edges.append(pd.DatetimeIndex([edges[-1] + offset]))
        if len(edges) - 1 > MAX_WINDOWS:
            raise ConfigError(f"every={self.every!r} makes {len(edges) - 1:,} windows over the data's range "
                              f"({start} to {hi}): choose a longer window.", code="invalid_option")
        index = np.searchsorted(edges.to_numpy(), ts.to_numpy(), side="right") - 1
        n = int(index.max()) + 1 if len(ts) else 1
        return index.astype(np.int64), edges[:n], edges[1:n + 1]

    def assign_rows(self, ts: Any, already: int = 0) -> tuple[Any, Any]:
        """(window number per row, order): rows in time order (stable), ``already`` rows before them counted in
        the first window."""
        import numpy as np

        order = np.argsort(ts.to_numpy(), kind="stable")
        index = np.empty(len(ts), dtype=np.int64)
        index[order] = (np.arange(len(ts)) + already) // self.every
        return index, order

    def spans(self, ts: Any, first: Any = None) -> tuple[Any, list[str], list[str]]:
        """(window number per row, window starts, window ends as text): frequency windows from ``first`` (default:
        the origin), or windows of a number of rows (starting at their first row's time, ending at their last)."""
        import numpy as np
        import pandas as pd

        if not self.by_rows:
            index, starts, ends = self.assign(ts, first=first)
            return index, [str(s) for s in starts], [str(e) for e in ends]
        index, order = self.assign_rows(ts)
        n = int(index.max()) + 1
        sorted_ts = ts.to_numpy()[order]
        bounds = np.searchsorted(index[order], np.arange(n + 1))
        return (index, [str(pd.Timestamp(sorted_ts[bounds[k]])) for k in range(n)],
                [str(pd.Timestamp(sorted_ts[bounds[k + 1] - 1])) for k in range(n)])
