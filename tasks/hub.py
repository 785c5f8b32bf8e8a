"""Why a load from the Hugging Face Hub failed, as one line that names what is missing and the two ways out: reach
the Hub once (the files then stay in the local cache), or point the suite at local files. Used for datasets
(tasks/sources.py) and for models and tokenizers (runners/models.py).

The libraries' own errors are long, nested, and name neither the repository nor the revision the suite asked for
(datasets: "Couldn't reach 'nyu-mll/glue' on the Hub (LocalEntryNotFoundError)"; transformers: "We couldn't
connect to 'https://huggingface.co' to load the files, ..."), so the cause is read from the exception chain.
"""
from __future__ import annotations

import os


def _chain(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE / HF_DATASETS_OFFLINE) forbids downloads."""
    return any(os.environ.get(k, "").strip().upper() in ("1", "ON", "YES", "TRUE")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"))


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def reason(err: BaseException, revision: str | None) -> str:
    """What went wrong, from the exception chain: offline without the files, no connection, no such repository or
    revision, or the first line of the error."""
    names = [type(e).__name__ for e in _chain(err)]
    if "RevisionNotFoundError" in names:
        return f"has no revision {revision or 'main'} on the Hub ({endpoint()})"
    if "GatedRepoError" in names:
        return "is gated on the Hub: accept its terms on its page and log in (`hf auth login`)"
    if "RepositoryNotFoundError" in names or "DatasetNotFoundError" in names:
        return f"is not on the Hub ({endpoint()}), or is private (log in with `hf auth login`)"
    if offline():
        return "is not (fully) in the local Hugging Face cache, and HF_HUB_OFFLINE=1 forbids downloading it"
    unreachable = ("ConnectError", "ConnectionError", "ConnectTimeout", "ReadTimeout", "TimeoutException",
                   "LocalEntryNotFoundError", "OfflineModeIsEnabled", "gaierror", "ConnectionRefusedError")
    if any(n in unreachable for n in names):
        return f"is not (fully) in the local Hugging Face cache, and the Hub ({endpoint()}) cannot be reached"
    first = next((str(e).strip().splitlines()[0] for e in _chain(err) if str(e).strip()), type(err).__name__)
    return f"could not be loaded from the Hub ({first})"


def hub_failure(kind: str, name: str, revision: str | None, err: BaseException, local: str) -> str:
    """One line: '<kind> <name> (revision R) <reason>: run once with network access ..., or <local>'."""
    at = f" (revision {revision})" if revision else ""
    online = "run once with access to the Hub to download it into the cache"
    if offline():
        online += " (unset HF_HUB_OFFLINE)"
    return f"{kind} {name}{at} {reason(err, revision)}: {online}, or {local}"
