"""Whether `cpctl local` can run here, and the one command that makes it so.

`cpctl` installs with only what `validate`, `status`, `history`, `diff` and `logs` need. The local
twin needs the `twin` extra (moto, the SAM translator) and a checkout of the repository, since it
provisions `template.yaml` and runs the Lambdas from `functions/`: an editable install of a
checkout with the extra gives both.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from urllib.parse import unquote, urlparse

DISTRIBUTION = "control-plane-autopilot"
TWIN_MODULES = ("moto", "samtranslator")
REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout, when cpctl runs from one


def twin_problem() -> str | None:
    """Why the twin cannot run in this installation, with the command that fixes it; None when it can."""
    absent = [name for name in TWIN_MODULES if importlib.util.find_spec(name) is None]
    if absent:
        reason = f"the local twin needs the '[twin]' extra ({', '.join(absent)} not installed)"
    elif not _is_checkout(REPO_ROOT):
        reason = "the local twin runs from a checkout of the repository (it provisions its template.yaml)"
    else:
        return None
    return f"{reason}; install it with: {install_command()}"


def install_command() -> str:
    """The one command that installs cpctl with the twin, editable from the checkout it came from."""
    checkout = REPO_ROOT if _is_checkout(REPO_ROOT) else _source_checkout()
    target = shlex.quote(f"{checkout}[twin]") if checkout else "'.[twin]'"
    where = "" if checkout else " (in a checkout of the repository)"
    if (Path(sys.prefix) / "pipx_metadata.json").is_file():  # pipx writes it in each app's venv
        return f"pipx install --force --editable {target}{where}"
    return f"{shlex.quote(sys.executable)} -m pip install --editable {target}{where}"


def _is_checkout(path: Path) -> bool:
    return (path / "template.yaml").is_file() and (path / "functions").is_dir()


def _source_checkout() -> Path | None:
    """The directory cpctl was installed from (`pipx install ./repo` records it), if it is a checkout."""
    try:
        recorded = distribution(DISTRIBUTION).read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    if not recorded:
        return None
    url = urlparse(str(json.loads(recorded).get("url", "")))
    if url.scheme != "file":
        return None
    path = Path(unquote(url.path))
    return path if _is_checkout(path) else None
