"""Whether a request can ever be served by this site, decided before anything is built."""

from __future__ import annotations

from storalloc.core.capacity import EPSILON
from storalloc.core.jobs import MAX_PARTS

Refusal = tuple[str, str]  # (stable reason code, reason for people)


def never_fits(
    size: float, count: int, capacities: list[float], max_request_gb: float
) -> Refusal | None:
    """Why `size` GB in `count` equal parts could not fit even on the empty site (down nodes
    included, since they may come back), or None when it could. `capacities` are the
    disks' capacities, largest first. Costs O(1) for one part and O(disks) at most for
    several, whatever `count` is: the parts themselves are built only for requests that
    pass."""
    if size > max_request_gb:
        return "over_site_limit", (
            f"request of {size:g} GB exceeds this site's limit of {max_request_gb:g} GB "
            "(max_request_gb)"
        )
    if count > MAX_PARTS:
        return "too_many_parts", (
            f"request of {size:g} GB would be split into {count} parts, more than the "
            f"{MAX_PARTS} allowed; ask for fewer stripes or a larger block size"
        )
    if not capacities:
        return None  # no server has registered yet: wait for one rather than guess
    part = size / count
    largest = capacities[0]
    if count == 1:
        if part <= largest + EPSILON:
            return None
        return "larger_than_disks", (
            f"request of {size:g} GB exceeds the largest disk ({largest:g} GB); "
            "ask for stripes (--stripes N) to split it"
        )
    room = 0
    for c in capacities:
        room += int((c + EPSILON) / part)
        if room >= count:
            return None
    return "larger_than_site", (
        f"request of {size:g} GB in {count} parts of {part:g} GB cannot fit "
        f"on the {len(capacities)} disks of this site ({sum(capacities):g} GB)"
    )
