"""What `SchedulerService.schedule_events` answers: one `ItemResult` per item.

The answers of a large call are kept as columns of plain values (ids, times, a flag
byte per item) rather than one object per item: a Python object that outlives the
young generation is traversed by every full collection of the caller's process, and
100,000 of them made those collections cost more than validating the items.
`ItemResults` hands out an `ItemResult` per item on access.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from scheduler.router import Stored, Tier

_ADDED, _REPLACED, _COLD, _ERROR = 1, 2, 4, 8


@dataclass(slots=True)
class ItemResult:
    """What schedule_events did with one item: stored (`added` False: its schedule_id
    was already scheduled; `replaced`: a pending event under it became this one), or
    not (`error` says why, `field` names the field when one is to blame)."""

    index: int
    schedule_id: str | None = None
    tier: Tier | None = None
    scheduled_at: float | None = None  # Unix seconds, as asked
    added: bool = False
    replaced: bool = False
    error: str | None = None
    field: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ItemResults(Sequence[ItemResult]):
    """One ItemResult per item, in the items' order; `accepted` and `rejected` count
    them (an item is accepted when it is scheduled, whether or not it was new)."""

    def __init__(self) -> None:
        self._ids: list[str | None] = []
        self._at: list[float | None] = []
        self._flags = bytearray()
        self._errors: dict[int, tuple[str, str | None]] = {}

    def __len__(self) -> int:
        return len(self._flags)

    @overload
    def __getitem__(self, i: int) -> ItemResult: ...
    @overload
    def __getitem__(self, i: slice) -> list[ItemResult]: ...
    def __getitem__(self, i: int | slice) -> ItemResult | list[ItemResult]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("ItemResults index out of range")
        flags = self._flags[i]
        error, field = self._errors.get(i, (None, None))
        sid = self._ids[i]
        return ItemResult(
            i,
            sid,
            None if sid is None else Tier.COLD if flags & _COLD else Tier.HOT,
            self._at[i],
            bool(flags & _ADDED),
            bool(flags & _REPLACED),
            error,
            field,
        )

    def __iter__(self) -> Iterator[ItemResult]:
        return (self[i] for i in range(len(self)))

    def stored_new(self) -> Iterator[tuple[int, str, Tier, float] | None]:
        """Per item: (index, schedule_id, tier, scheduled_at) if it was stored anew, else
        None (look at results[index]); cheaper than an ItemResult per item."""
        for i, (sid, at, flags) in enumerate(zip(self._ids, self._at, self._flags, strict=True)):
            if flags & (_ADDED | _REPLACED | _ERROR) == _ADDED:
                assert sid is not None and at is not None
                yield i, sid, Tier.COLD if flags & _COLD else Tier.HOT, at
            else:
                yield None

    def __repr__(self) -> str:
        return f"<ItemResults: {self.accepted} accepted, {self.rejected} rejected>"

    @property
    def rejected(self) -> int:
        return len(self._errors)

    @property
    def accepted(self) -> int:
        return len(self) - len(self._errors)

    @property
    def added(self) -> int:
        """How many were stored anew (accepted, less the schedule_ids already there)."""
        return sum(1 for flags in self._flags if flags & _ADDED)

    # --- filled by schedule_events -------------------------------------------------------

    def refuse(self, error: str, field: str | None) -> None:
        """The next item: invalid, nothing stored."""
        self._errors[len(self._flags)] = (error, field)
        self._ids.append(None)
        self._at.append(None)
        self._flags.append(_ERROR)

    def hold(self, schedule_id: str, at: float, tier: Tier) -> int:
        """The next item: to be stored (its answer comes with `stored`); its index."""
        self._ids.append(schedule_id)
        self._at.append(at)
        self._flags.append(_COLD if tier is Tier.COLD else 0)
        return len(self._flags) - 1

    def stored(self, where: Sequence[int], outcomes: Sequence[Stored]) -> None:
        """What storing the held items at these indexes did."""
        flags = self._flags
        for i, one in zip(where, outcomes, strict=True):
            if one.conflict is not None:
                self._errors[i] = (one.conflict, None)
                flags[i] |= _ERROR
                continue
            f = _COLD if one.tier is Tier.COLD else 0
            if one.added:
                f |= _ADDED
            if one.replaced:
                f |= _REPLACED
            flags[i] = f
