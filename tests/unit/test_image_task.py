"""The image task end to end through Services, on tiny generated pictures: inspect a ZIP, train
EfficientNet-Lite0 at 64 px for a few steps, events in order, save, predict, and load the saved
model with plain torch (no ftui) to the same probabilities."""
from __future__ import annotations

import io
import json
import zipfile

import pytest
import torch
from PIL import Image

from ftui.errors import FtuiError
from ftui.runs.store import read_jsonl, read_status
from ftui.services import Services


def picture(label: str, i: int) -> bytes:
    """Reds vs blues with a little texture: learnable in a few steps."""
    base = (200, 40, 40) if label == "red" else (40, 40, 200)
    image = Image.new("RGB", (40 + i, 36), base)
    for x in range(0, 40, 7):
        image.putpixel((x, i % 30), (i * 9 % 255, 255, 0))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def image_zip(tmp_path):
    path = tmp_path / "colors.zip"
    with zipfile.ZipFile(path, "w") as z:
        for split, n in (("train", 12), ("val", 4)):
            for label in ("red", "blue"):
                for i in range(n):
                    z.writestr(f"colors/{split}/{label}/{split}{i}.png", picture(label, i + (50 if split == "val" else 0)))
    return path


def test_train_save_predict_and_load_without_ftui(tmp_path, image_zip):
    services = Services(tmp_path / "runs")
    try:
        summary = services.inspect_dataset(None, "image", image_zip)
        assert summary["ok"] and summary["layout"] == "train_val"
        assert summary["class_counts"] == {"blue": 12, "red": 12} and summary["n_validation"] == 8
        options = {"batch_size": 8, "image_size": 64}
        run_id = services.start_run(None, "image", "efficientnet-lite0", None, 5e-4, 2, options,
                                    upload_id=summary["upload_id"])
        run_dir = services.store.run_dir(None, run_id)
        assert services.jobs.wait(run_dir, timeout=300) == "finished", (run_dir / "error.log").read_text() \
            if (run_dir / "error.log").exists() else read_status(run_dir)
        kinds = [r["event"] for r in read_jsonl(run_dir / "metrics.jsonl")]
        assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished" and "EvalLogged" in kinds
        validation = [json.loads(line) for line in (run_dir / "data" / "validation.jsonl").read_text().splitlines()]
        assert len(validation) == 8 and all("/val/" in row["input"] for row in validation)  # the ZIP's own val/

        image = tmp_path / "query.png"
        image.write_bytes(picture("red", 3))
        result = services.predict(None, run_id, str(image))
        assert set(result) == {"red", "blue"} and abs(sum(result.values()) - 1) < 1e-4

        # The saved model, loaded the README's way: no ftui import involved.
        import torchvision.transforms as T
        from efficientnet_lite_pytorch import EfficientNet
        from safetensors.torch import load_file

        model_dir = run_dir / "model"
        cfg = json.loads((model_dir / "config.json").read_text())
        p = cfg["preprocessing"]
        assert cfg["architecture"] == "efficientnet-lite0" and p["mean"] == [0.5, 0.5, 0.5] and p["image_size"] == 64
        net = EfficientNet.from_name("efficientnet-lite0", num_classes=cfg["num_classes"], image_size=cfg["image_size"])
        net.load_state_dict(load_file(model_dir / "model.safetensors"))
        net.eval()
        prep = T.Compose([T.Resize(p["resize"]), T.CenterCrop(p["image_size"]), T.ToTensor(),
                          T.Normalize(p["mean"], p["std"])])
        with torch.no_grad():
            probs = net(prep(Image.open(image).convert("RGB")).unsqueeze(0)).softmax(-1)[0]
        plain = {cfg["id2label"][str(i)]: float(v) for i, v in enumerate(probs)}
        for label, value in result.items():
            assert value == pytest.approx(plain[label], abs=0.02)
        assert "load_file" in (model_dir / "README.md").read_text()

        with pytest.raises(FtuiError) as err:
            services.predict(None, run_id, str(tmp_path / "colors.zip"))
        assert err.value.code == "unreadable_image"
    finally:
        services.close()


def test_the_head_cut_is_exact_and_a_frozen_body_keeps_its_norm_statistics():
    from ftui.config import RunConfig
    from ftui.engine.recipe import freeze_body
    from ftui.models.catalog import resolve
    from ftui.tasks import get_task

    config = RunConfig.build("image", "efficientnet-lite0", "u-0000000000000000", 1e-3, 1,
                             {"image_size": 64, "train_head_only": True})
    built = get_task("image").build(resolve("image", "efficientnet-lite0"), ["a", "b"], config.train)
    assert set(built.head) == {"net._fc.weight", "net._fc.bias"} and built.split.head is built.model.net._fc
    pixels = torch.randn(3, 3, 64, 64)
    built.model.eval()
    with torch.no_grad():  # head(features) is the model's own output: the head-first stage fits the real thing
        assert torch.allclose(built.split.head(built.split.features({"pixel_values": pixels})),
                              built.model(pixel_values=pixels), atol=1e-6)
    freeze_body(built.model, built.head)  # head-only training where no exact cut exists
    trainable = {n for n, p in built.model.named_parameters() if p.requires_grad}
    assert trainable == set(built.head)
    built.model.train()
    bn = built.model.net._bn0
    before = bn.running_mean.clone()
    built.model(pixel_values=torch.randn(2, 3, 64, 64))
    assert not bn.training and torch.equal(before, bn.running_mean)


def test_image_options_are_checked():
    from ftui.config import RunConfig

    config = RunConfig.build("image", "m", "u", 1e-3, 1, {"augment": "false", "image_size": 96})
    assert config.train.augment is False and config.train.image_size == 96
    with pytest.raises(FtuiError):
        RunConfig.build("image", "m", "u", 1e-3, 1, {"image_size": 8})
    with pytest.raises(FtuiError):
        RunConfig.build("image", "m", "u", 1e-3, 1, {"augment": "maybe"})


def test_a_local_transformers_image_model_trains_and_reloads(tmp_path, image_zip):
    """The transformers path (hub ids, local folders) on a tiny random ViT folder built from a config:
    no hub needed, the same code as for google/vit-base-patch16-224."""
    from transformers import AutoModelForImageClassification, ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = tmp_path / "tiny-vit"
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, num_labels=5)
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    services = Services(tmp_path / "runs")
    try:
        run_id = services.start_run(None, "image", str(folder), image_zip, 1e-3, 1, {"batch_size": 8})
        run_dir = services.store.run_dir(None, run_id)
        assert services.jobs.wait(run_dir, 120) == "finished", read_status(run_dir).get("error")
        picture_path = tmp_path / "red.png"
        picture_path.write_bytes(picture("red", 3))
        ours = services.predict(None, run_id, str(picture_path))
        assert set(ours) == {"red", "blue"} and abs(sum(ours.values()) - 1) < 1e-4
        plain = AutoModelForImageClassification.from_pretrained(run_dir / "model")  # without ftui
        assert plain.config.id2label == {0: "blue", 1: "red"} and plain.config.image_size == 32
    finally:
        services.close()


def test_an_upload_is_read_once_inspect_then_start_reuse_it(tmp_path, image_zip, monkeypatch):
    """inspect_dataset decodes every picture of the ZIP once; start_run (and a second look with the same
    columns) read the kept result (<upload>/inspection/) and decode nothing; training, in its worker process,
    decodes each picture once more (the batches' decode cache), and the server nothing."""
    import shutil
    import threading

    from ftui.data import images
    from ftui.tasks.image import ImageTask
    from ftui.worker import run_job

    reads, decodes = [], []
    real_read, real_decode = ImageTask.read, images.decode

    def counting_read(self, path, options):
        reads.append(path)
        return real_read(self, path, options)

    def counting_decode(data, **kwargs):
        decodes.append(1)  # list.append: safe from the checks' and the batches' threads
        return real_decode(data, **kwargs)

    monkeypatch.setattr(ImageTask, "read", counting_read)
    monkeypatch.setattr(images, "decode", counting_decode)  # the inspection's check and the batches' load_square
    services = Services(tmp_path / "runs")
    try:
        summary = services.inspect_dataset(None, "image", image_zip)
        n_pictures = summary["n_examples"] + summary["n_validation"]
        assert len(reads) == 1 and len(decodes) == n_pictures == 32
        upload = services.store.upload_path(None, summary["upload_id"])
        assert [p.suffix for p in (upload.parent / "inspection").iterdir()] == [".json"]  # the kept reading
        again = services.inspect_dataset(None, "image", None, {"val_fraction": 0.3}, upload_id=summary["upload_id"])
        assert again["class_counts"] == summary["class_counts"] and len(reads) == 1 and len(decodes) == n_pictures
        run_id = services.start_run(None, "image", "efficientnet-lite0", None, 5e-4, 1,
                                    {"image_size": 64, "train_head_only": True}, upload_id=summary["upload_id"])
        assert len(reads) == 1 and len(decodes) == n_pictures  # no second read, no decode when Train is pressed
        run_dir = services.store.run_dir(None, run_id)
        assert services.jobs.wait(run_dir, timeout=300) == "finished"
        assert len(decodes) == n_pictures  # the worker process decoded for training, not the server
    finally:
        services.close()
    # the same run's inputs trained in this process, where the decodes can be counted: once per picture
    again_dir = tmp_path / "runs" / "local" / "20000101-000000-0000"
    again_dir.mkdir()
    for name in ("config.json", "labels.json", "data"):
        copy = shutil.copytree if (run_dir / name).is_dir() else shutil.copyfile
        copy(run_dir / name, again_dir / name)
    assert run_job(again_dir, threading.Event()) == "finished"
    assert len(decodes) == 2 * n_pictures
