"""Lightbend Config, the reference: compile ReadAsControlPlane.java against its jar and read documents.

The jar is Maven's copy under ~/.m2 when there is one (the newest version), else Debian's
`libtypesafe-config-java`. Each document is written alone in its own folder as
`control-plane.conf`, as the container has it in /app/conf, and read by one JVM with an
environment of exactly `environment` (no PATH, no HOME: the container's variables the documents
do not name do not matter, and the ones they name are given).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HARNESS = Path(__file__).with_name("ReadAsControlPlane.java")
_DEBIAN_JAR = Path("/usr/share/java/typesafe-config.jar")


@dataclass(frozen=True, slots=True)
class Reference:
    jar: Path
    version: str
    java: Path
    javac: Path


def find_reference() -> Reference | None:
    """Java, javac and a Lightbend Config jar, or None when one of them is missing."""
    java, javac = shutil.which("java"), shutil.which("javac")
    if java is None or javac is None:
        return None
    maven = sorted(
        (Path.home() / ".m2/repository/com/typesafe/config").glob("*/config-*.jar"),
        key=lambda jar: tuple(int(part) for part in re.findall(r"\d+", jar.parent.name)),
    )
    if maven:
        return Reference(maven[-1], maven[-1].parent.name, Path(java), Path(javac))
    if _DEBIAN_JAR.exists():
        return Reference(_DEBIAN_JAR.resolve(), _debian_version(), Path(java), Path(javac))
    return None


def _debian_version() -> str:
    found = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "libtypesafe-config-java"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.split("-")[0] or "unknown"


def read_all(
    reference: Reference, documents: Sequence[bytes], environment: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Lightbend's verdict on each document: `{"ok": True, "value": tree}` or
    `{"ok": False, "line": n, "message": text}` (line -1 when it gives none)."""
    with tempfile.TemporaryDirectory(prefix="cpa-oracle-") as workdir:
        root = Path(workdir)
        classes = root / "classes"
        subprocess.run(
            [str(reference.javac), "-nowarn", "-d", str(classes), "-cp", str(reference.jar), str(HARNESS)],
            check=True,
            capture_output=True,
        )
        paths = []
        for index, data in enumerate(documents):
            folder = root / "docs" / f"{index:05d}"
            folder.mkdir(parents=True)
            (folder / "control-plane.conf").write_bytes(data)
            paths.append(str(folder / "control-plane.conf"))
        completed = subprocess.run(
            [str(reference.java), "-Xss16m", "-cp", f"{classes}:{reference.jar}", "ReadAsControlPlane"],
            input="\n".join(paths) + "\n",
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=dict(environment),
            check=True,
            timeout=600,
        )
        lines = completed.stdout.splitlines()
        if len(lines) != len(paths):
            raise RuntimeError(f"the harness answered {len(lines)} of {len(paths)} documents")
        verdicts = []
        for path, line in zip(paths, lines, strict=True):
            verdict = json.loads(line, parse_constant=_constant)
            if not verdict["ok"]:
                # Drop the file name Lightbend puts first: it is a temporary path.
                verdict["message"] = (
                    verdict["message"].replace(f"{path}: ", "").replace(path, "control-plane.conf")
                )
            verdicts.append(verdict)
        return verdicts


def _constant(name: str) -> float:
    return float(name.lower().replace("infinity", "inf"))
