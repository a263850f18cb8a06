"""Plain-language sentences for problem codes. The one place wording lives (UI and API both use it).

Add a code here when you add one elsewhere; tests check that every code raised has a sentence.
"""
from __future__ import annotations

import string

from ftui.i18n.messages_zh import MESSAGES_ZH
from ftui.vocab import RunState

MESSAGES: dict[str, str] = {
    # --- uploads and files -------------------------------------------------------------
    "no_file": "Please choose a file to upload first.",
    "empty_file": "The file '{name}' is empty.",
    "file_too_large": "The file '{name}' is {size_mb:.1f} MB; the limit is {limit_mb:.0f} MB.",
    "binary_file": "The file '{name}' is not a {kind} file (it looks like {found}).",
    "unsupported_format": "Files of type '{suffix}' are not supported here; use {supported}.",
    "unreadable_table": "The file '{name}' could not be read as a table: {reason}.",
    "not_an_upload": "Send the file itself (gradio_client.handle_file(path)), not a path on the server ('{value}').",
    "unknown_upload": "That upload was not found (it may belong to another user or have been removed).",
    # --- columns and examples ----------------------------------------------------------
    "no_text_column": "No column with text was found; columns are: {columns}.",
    "no_label_column": "No column that could hold labels was found; columns are: {columns}.",
    "missing_column": "There is no column '{column}'; columns are: {columns}.",
    "same_column": "The text and the label must be different columns (both are '{column}').",
    "empty_texts_dropped": "{count:n row} with an empty text or label dropped.",
    "cjk_text": "Most of this text is Chinese, Japanese or Korean, so the model is set to {model} (the default "
                "MiniLM reads English only).",
    "cjk_text_english_default": "Most of this text is Chinese, Japanese or Korean, but the offline default model "
                                "reads English only; with internet, pick {model} (or "
                                "hfl/chinese-macbert-base) instead.",
    "no_examples": "No usable examples are left after dropping empty rows.",
    "single_class": "Only one class ('{label}') was found; training needs at least two.",
    "too_few_per_class": "Class '{label}' has only {count:n example}; at least {minimum} are needed.",
    "few_per_class": "Class '{label}' has only {count:n example}; results for it will be unreliable.",
    "duplicate_rows": "{count:n duplicate row} (same text and label) found; duplicates were kept out of validation.",
    "conflicting_duplicates": "{count:n text} appear with different labels.",
    "imbalanced": "The classes are imbalanced: '{largest}' has {ratio:.0f}x more examples than '{smallest}'.",
    "too_many_classes": "The label column has {count} distinct values: is '{column}' really the label?",
    "unseen_validation_labels": "The validation file has labels the training file lacks: {labels}.",
    # --- image archives and images ---------------------------------------------------
    "bad_archive": "The file '{name}' could not be read as a ZIP archive: {reason}.",
    "unsafe_archive": "The ZIP holds an entry that would land outside its folder or is a link ('{entry}'); nothing was extracted.",
    "archive_too_large": "The ZIP would unpack to more than {limit} ({what}); make it smaller or split it.",
    "no_class_folders": "No class folders were found: put each class's images in a folder named after the class (or add a CSV with file name and label columns).",
    "no_images": "No readable images were found in the upload ({skipped} files skipped).",
    "bad_manifest": "The CSV manifest '{name}' could not be used: {reason}.",
    "images_skipped": "{count:n file} could not be used (corrupt, not an image, empty, too large or duplicate); see the list.",
    "unreadable_image": "The image '{name}' could not be read ({reason}).",
    "skip_empty_file": "Empty file (0 bytes).",
    "skip_not_an_image": "Not an image.",
    "skip_corrupt": "Corrupt or truncated image.",
    "skip_too_many_pixels": "Too many pixels (over {limit_mp} megapixels): possibly a decompression bomb.",
    "skip_duplicate": "Exact duplicate of another image.",
    "skip_missing": "Listed in the manifest, but not found in the ZIP.",
    # --- audio archives and audio files ----------------------------------------------
    "no_audio": "The ZIP has no readable audio files ({skipped} files skipped); use WAV, FLAC, OGG/Opus or MP3.",
    "no_audio_class_folders": "No class folders were found: put each class's audio files in a folder named after the class (or add a CSV with file name and label columns).",
    "audio_skipped": "{count:n file} could not be used (unsupported format, not audio, empty, truncated, corrupt or duplicate); see the list.",
    "unsupported_audio": "{name}: m4a/AAC/MP4 audio is not supported; convert it to WAV, FLAC, OGG or MP3.",
    "unreadable_audio": "The audio file '{name}' could not be read ({reason}).",
    "skip_unsupported_format": "Unsupported audio format (m4a/AAC/MP4, WMA, AMR or WebM): convert it to WAV, FLAC, OGG or MP3.",
    "skip_not_audio": "Not an audio file.",
    "skip_empty": "Empty: no audio in it (0 bytes or 0 samples).",
    "skip_truncated": "Truncated: the file ends before the audio its header announces (an incomplete copy or download).",
    "skip_audio_corrupt": "Corrupt audio: it could not be decoded (damaged or cut short).",
    "skip_audio_duplicate": "Exact duplicate of another audio file.",
    # --- configuration -----------------------------------------------------------------
    "bad_learning_rate": "The learning rate must be a number above 0 (got {value}).",
    "bad_epochs": "Epochs must be a whole number from 1 to {maximum} (got {value}).",
    "bad_option": "The option '{name}' has a bad value ({value}): {reason}.",
    "unknown_option": "Unknown option(s): {names}. Known options: {known}.",
    "unknown_task": "Unknown task '{task}'; tasks are: {tasks}.",
    # --- models ------------------------------------------------------------------------
    "unknown_model": "The model '{model}' is not in the catalog, not a local model folder, and not a hub id.",
    "hub_unreachable": "The model '{model}' has to be downloaded (from the Hugging Face hub or PyTorch's servers), which this machine cannot reach, and no copy is cached.",
    "model_load_failed": "The model '{model}' could not be loaded: {reason}.",
    "not_a_classifier_folder": "The folder '{path}' does not hold a transformers model (no config.json).",
    # --- runs --------------------------------------------------------------------------
    "unknown_run": "Run '{run_id}' was not found.",
    "run_not_ready": "Run '{run_id}' has no trained model yet (state: {state}).",
    "run_active": "Run '{run_id}' is still {state}.",
    "delete_active_run": "Run '{run_id}' is still {state}: stop it first, then delete it (deleting does not stop a run).",
    "bad_run_name": "A run name can have at most {limit} characters.",
    "bad_preset_name": "A preset name is 1 to {limit} letters, digits, '-', '_' or '.', with no spaces or slashes and no dot first (got '{name}').",
    "preset_not_found": "Preset '{name}' was not found.",
    "bad_export_format": "Unknown export format '{format}': use 'zip' (the model in its own format), 'onnx' or 'demo' (a Gradio app to hand over).",
    "checkpoint_corrupt": "Run '{run_id}' cannot be resumed: its saved training state is damaged ({reason}). Nothing was changed; start a new run instead.",
    "no_checkpoint": "Run '{run_id}' has no saved training state to continue from; start a new run instead.",
    "damaged_file": "The file '{name}' is damaged (it is not readable JSON); this run cannot be used until the file is restored, or it is deleted.",
    "checkpoint_too_old": "Run '{run_id}' was trained by an older ftui whose text models were built differently; it still predicts, but it cannot train further. Start a new run (clone it on the Runs tab).",
    "run_not_resumable": "Run '{run_id}' is {state}: {how}.",
    RunState.INTERRUPTED: "The app stopped while this run was active.",  # a run's error at start-up recovery
    "empty_input": "Please type or upload something to predict.",
    "wrong_input_kind": "This run classifies {expected}, but it was given {given}; {how}.",
    "training_failed": "Training failed: {reason}.",
    # --- the training process and the queue --------------------------------------------------
    "worker_killed": "The training process was killed — most likely out of memory. Try a smaller batch size or image size, or a smaller model.",
    "worker_crashed": "The training process ended without finishing ({how}); the last lines it printed, if any, are below.",
    "worker_hung": "The training process stopped answering for {seconds:.0f} s and was ended.",
    "worker_not_started": "The training process could not be started: {reason}.",
    "gpus_unavailable": "This run asks for {wanted} GPUs, but no training slot here holds that many (the largest holds {most:n GPU}); choose fewer, or ask the admin to group GPUs into one slot (--gpus 0+1).",
    "tensorboard_missing": "--tensorboard needs the tensorboard package, which is not installed here: pip install -e '.[tensorboard]' (or pip install 'tensorboard>=2.16'), or start without --tensorboard.",
    "admin_only": "Only an admin of this studio can see the whole box or stop other users' runs.",
    "queue_full": "You already have {limit:n run} waiting in the queue, the most allowed here; wait for one to start or stop one.",
    "disk_quota": "Your runs and uploads use {used_gb:.1f} GB, the most allowed here is {limit_gb:g} GB; delete runs, or free the checkpoints of finished ones (Runs tab), then try again.",
    # --- export --------------------------------------------------------------------------
    "export_run_failed": "Run '{run_id}' failed, so there is no model to export.",
    "export_not_ready": "Run '{run_id}' has no model to export (state: {state}); only finished or stopped runs can be exported.",
    "onnx_export_failed": "The model of run '{run_id}' could not be exported to ONNX: {reason}.",
    "onnx_parity_failed": "The ONNX file of run '{run_id}' does not match the PyTorch model (largest logit difference {max_abs_diff:.2g}, allowed {tolerance:g}); do not use it as is.",
    # --- evaluation and batch prediction -------------------------------------------------
    "no_validation_split": "Run '{run_id}' has no validation split; upload a labelled file to evaluate it.",
    "no_known_labels": "None of the labels in '{source}' ({labels}) is one the run was trained on ({known}).",
    "unknown_evaluation": "Evaluation '{name}' of run '{run_id}' was not found.",
    "empty_batch": "The file '{name}' holds nothing to classify ({skipped:n item} skipped).",
    "skip_empty_text": "Empty text.",
}


class _Sentences(string.Formatter):
    """str.format plus one spec: {count:n file} -> "1 file" / "3 files" (the noun follows the number)."""

    def format_field(self, value, format_spec: str) -> str:
        if format_spec.startswith("n "):
            return count(value, format_spec[2:])
        return super().format_field(value, format_spec)


def count(n, noun: str) -> str:
    """2, "file" -> "2 files"; 1, "class" -> "1 class"; "duplicate row" -> "duplicate rows"."""
    n = int(n)
    if n == 1:
        return f"1 {noun}"
    if noun.endswith("epoch"):  # its "ch" sounds like "k": epochs, not epoches
        return f"{n} {noun}s"
    plural = noun + "es" if noun.endswith(("s", "sh", "ch", "x")) else noun[:-1] + "ies" if noun.endswith("y") \
        and noun[-2:-1] not in "aeiou" else noun + "s"
    return f"{n} {plural}"


def describe(code: str, detail: dict | None = None, lang: str = "en") -> str:
    """One sentence for a problem code, in `lang` ("en" or "zh-CN"); never raises (a missing key shows
    the raw detail)."""
    template = (MESSAGES_ZH if lang == "zh-CN" else {}).get(code) or MESSAGES.get(code)
    detail = detail or {}
    if template is None:
        return f"{code.replace('_', ' ').capitalize()}" + (f": {detail}" if detail else ".")
    try:
        return _Sentences().format(template, **detail)
    except (KeyError, ValueError, IndexError, TypeError):
        return template.split(":")[0].split("{")[0].strip() + f" ({detail})"
