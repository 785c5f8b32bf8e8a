"""Checkpoints are complete or absent: a save cut short leaves no checkpoint-N, a corrupt or partial checkpoint is
set aside with a warning and the run falls back to the one before it (and never meets the bad one again)."""
import logging

import pytest
import torch

import adalora
from runners.reliability import checkpoints
from runners.reliability.checkpoints import MANIFEST, last_good_checkpoint
from runners.training import METHOD_STATE, TRAINABLE_WEIGHTS, load_method_state, total_optimizer_steps
from test_training_wiring import adapted_bert, examples, trainer_for

SPEC = adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=8, t_init=2, t_final=2, delta_t=1)
COMMON = dict(max_steps=8, save_strategy="steps", save_steps=4, save_total_limit=None)


def train(tiny_bert_factory, folder, resume=None, **overrides):
    model, handle = adapted_bert(tiny_bert_factory, SPEC)
    trainer = trainer_for(model, handle, examples(32), folder, **{**COMMON, **overrides})
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return model, handle, trainer


def test_a_checkpoint_is_published_whole_with_its_manifest(tiny_bert_factory, tmp_path):
    train(tiny_bert_factory, tmp_path)
    assert [p.name for p in checkpoints.checkpoints(tmp_path)] == ["checkpoint-8", "checkpoint-4"]
    for folder in checkpoints.checkpoints(tmp_path):
        names = {p.name for p in folder.iterdir()}
        assert {MANIFEST, METHOD_STATE, TRAINABLE_WEIGHTS, "optimizer.pt", "trainer_state.json"} <= names
        assert checkpoints.problem(folder) is None
    assert not list((tmp_path / checkpoints.STAGING).glob("*"))  # nothing left in staging


def test_a_save_cut_short_leaves_no_checkpoint(tiny_bert_factory, tmp_path, monkeypatch):
    """The process dies after the Trainer wrote the files of checkpoint-8 but before the checkpoint was closed."""
    real = checkpoints.write_manifest

    def die_at_8(folder, step):
        if step == 8:
            raise KeyboardInterrupt("killed while saving")
        real(folder, step)

    monkeypatch.setattr(checkpoints, "write_manifest", die_at_8)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_bert_factory, tmp_path)
    assert not (tmp_path / "checkpoint-8").exists()
    assert last_good_checkpoint(tmp_path) == tmp_path / "checkpoint-4"


@pytest.mark.parametrize("damage", ["truncate", "flip", "remove", "manifest"])
def test_a_corrupt_checkpoint_falls_back_to_the_previous_one(tiny_bert_factory, tmp_path, caplog, damage):
    model, handle, _ = train(tiny_bert_factory, tmp_path / "run")
    straight = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    newest = tmp_path / "run" / "checkpoint-8"
    weights = newest / TRAINABLE_WEIGHTS
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "flip":
        data = bytearray(weights.read_bytes())
        data[-5] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "remove":
        (newest / METHOD_STATE).unlink()
    else:
        (newest / MANIFEST).write_text("{\"complete\": tr")
    with caplog.at_level(logging.WARNING, logger="runners"):
        found = last_good_checkpoint(tmp_path / "run")
    assert found == tmp_path / "run" / "checkpoint-4"
    assert "unusable" in caplog.text and not newest.exists()
    assert len(list((tmp_path / "run" / checkpoints.CORRUPT_DIR).iterdir())) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="runners"):  # the next restart does not meet it again
        assert last_good_checkpoint(tmp_path / "run") == found and "unusable" not in caplog.text
    model, _, trainer = train(tiny_bert_factory, tmp_path / "run", resume=found)  # and resumes to the same end
    assert trainer.state.global_step == 8
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert torch.equal(p.detach(), straight[n]), n


def test_a_folder_without_manifest_counts_only_if_it_reads(tmp_path):
    partial = tmp_path / "checkpoint-12"
    partial.mkdir()
    (partial / "optimizer.pt").write_bytes(b"\x80\x02half")
    assert "save cut short" in checkpoints.problem(partial)
    (partial / "trainer_state.json").write_text("{}")
    assert "does not read" in checkpoints.problem(partial)
    (partial / "optimizer.pt").unlink()
    torch.save({"a": torch.ones(2)}, partial / "optimizer.pt")
    assert checkpoints.problem(partial) is None  # a readable checkpoint from before manifests still resumes


def test_every_checkpoint_bad_starts_over(tmp_path):
    for step in (2, 4):
        (tmp_path / f"checkpoint-{step}").mkdir()
    assert last_good_checkpoint(tmp_path) is None
    assert not checkpoints.checkpoints(tmp_path)
