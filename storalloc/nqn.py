"""NVMe Qualified Names: the rules both the orchestrator (at admission) and the storage
servers (before touching configfs) apply to a client's host NQN."""

from __future__ import annotations

import re

#: NVMe base spec: an NQN is at most 223 bytes of UTF-8.
NQN_MAX_BYTES = 223

# A host NQN becomes a directory name in configfs and reaches us over the network:
# printable ASCII without '/' or spaces, so it can never escape hosts/.
_HOSTNQN_RE = re.compile(r"^nqn\.[\x21-\x2e\x30-\x7e]+$")


def check_length(nqn: str) -> str:
    """Return `nqn` if it fits the NVMe limit, else raise ValueError."""
    size = len(nqn.encode())
    if size > NQN_MAX_BYTES:
        raise ValueError(f"NQN {nqn!r} is {size} bytes long, the NVMe limit is {NQN_MAX_BYTES}")
    return nqn


def validate_hostnqn(hostnqn: str) -> str:
    """Return `hostnqn` if it is a plausible host NQN that is safe as a path component."""
    if not isinstance(hostnqn, str) or not _HOSTNQN_RE.match(hostnqn):
        raise ValueError(
            f"invalid host NQN {hostnqn!r}: expected 'nqn.' followed by printable ASCII "
            "without spaces or '/', e.g. 'nqn.2014-08.org.nvmexpress:uuid:<uuid>'"
        )
    return check_length(hostnqn)
