"""What the tests under tests/systemd share: where the shipped files are, reading the unit's
directives, and the CI rule for prerequisites (a missing one fails under CI=true, else skips).

Standard library only (Debian's /usr/bin/python3).
"""

from __future__ import annotations

import os
import unittest

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEMD_DIR = os.path.join(SOURCE_DIR, "systemd")
UNIT = os.path.join(SYSTEMD_DIR, "traffic-analyzer.service")
SYSUSERS = os.path.join(SYSTEMD_DIR, "traffic-analyzer.sysusers")
TMPFILES = os.path.join(SYSTEMD_DIR, "traffic-analyzer.tmpfiles")
USER = "traffic-analyzer"

# Capability numbers (linux/capability.h) of the names the unit may use.
CAPS = {"CAP_DAC_READ_SEARCH": 2, "CAP_NET_ADMIN": 12, "CAP_SYS_PTRACE": 19,
        "CAP_SYS_ADMIN": 21, "CAP_PERFMON": 38, "CAP_BPF": 39}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(condition: bool, reason: str) -> None:
    """Skips the calling test when `condition` is false - or fails it under CI."""
    if condition:
        return
    if in_ci():
        raise AssertionError(f"CI is set but this test cannot run: {reason}")
    raise unittest.SkipTest(reason)


def directives(path: str = UNIT) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, in order per key (continuation lines joined; comments
    and section headers skipped). An empty assignment (`Key=`) is kept as ""."""
    out: dict[str, list[str]] = {}
    pending = ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if pending:
                line = pending + " " + line.strip()
                pending = ""
            if line.endswith("\\"):
                pending = line[:-1].rstrip()
                continue
            s = line.strip()
            if not s or s[0] in "#;[":
                continue
            key, sep, value = s.partition("=")
            if sep:
                out.setdefault(key.strip(), []).append(value.strip())
    return out


def capability_names(key: str, path: str = UNIT) -> list[str]:
    """The capability names a unit's AmbientCapabilities= or CapabilityBoundingSet= grants
    (space-separated lists accumulate, an empty assignment resets)."""
    names: list[str] = []
    for value in directives(path).get(key, []):
        if not value:
            names = []
            continue
        names += value.split()
    return names


def capability_mask(names: list[str]) -> int:
    mask = 0
    for n in names:
        mask |= 1 << CAPS[n]
    return mask
