"""Field-level last-write-wins (SPEC 3.4), as a pure function.

A profile's attributes map a name to {"v": value, "t": observed time}. A write changes a field
only if it was observed at the same time or later; at the same time the larger value (in a fixed
order) wins, so any arrival order of the same writes gives the same attributes. An explicit null
is a value: it clears the field and keeps its time, so an older write cannot bring it back.
"""

import json
from datetime import UTC


def stamp(moment):
    """A fixed-width UTC time stamp: string order is time order."""
    utc = moment.astimezone(UTC)
    if utc.year < 1000:  # as strftime writes these years (unpadded), as they have been stored
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"  # about half strftime's time


def _order(value):
    return json.dumps(value, sort_keys=True)


def apply_attributes(current, changes, observed_at):
    """The attributes after writing `changes` observed at `observed_at`, and whether any changed."""
    t = stamp(observed_at)
    if not current:  # a new profile (an import's most common case): every field is written
        return {name: {"v": value, "t": t} for name, value in changes.items()}, bool(changes)
    result = dict(current)
    changed = False
    for name, value in changes.items():
        held = result.get(name)
        if held is not None:
            if held["t"] > t:
                continue
            if held["t"] == t and _order(held["v"]) >= _order(value):
                continue
        result[name] = {"v": value, "t": t}
        changed = True
    return result, changed
