"""End-to-end chat SFT on a tiny random Llama with a chat template: connect -> format -> train -> evaluate -> save."""

import json

import pytest
import yaml

from tests.conftest import EXPECTED_BACKEND, tiny_sft_config
from workbench.serving.chat import SFT_REQUIRED_FILES, ChatRun
from workbench import setup
from workbench.config import validate_sft_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny_sft_run(tiny_chat_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft_runs")
    return setup(validate_sft_config(tiny_sft_config(tiny_chat_model_dir, out)), progress=False)


def test_run_directory_is_complete(tiny_sft_run):
    run_dir = tiny_sft_run.run_dir
    assert [f for f in SFT_REQUIRED_FILES if not (run_dir / f).is_file()] == []
    assert (run_dir / "training.png").is_file()
    assert not any(p.name.startswith(".") for p in run_dir.parent.iterdir()), "no staging directory left behind"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    split = metrics["data"]["split"]
    assert sum(split["sizes"].values()) == 244 and split["cross_split_duplicates"] == 0
    assert split["kind_counts"]["test"] == {"howto": 9, "qa": 27}
    assert metrics["tuned"]["exact_match"]["n"] == 27 == metrics["data"]["exact_match_rows"]
    lineage = json.loads((run_dir / "lineage.json").read_text())
    assert lineage["kind"] == "files" and lineage["rows"] == 244 and lineage["extra"]["warnings"] == []
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["task"]["type"] == "sft" and saved["lora"]["r"] == 8
    assert metrics["training"]["backend"] == EXPECTED_BACKEND, metrics["training"]["backend_reason"]


def test_loss_falls_and_beats_the_base_model(tiny_sft_run):
    metrics = json.loads((tiny_sft_run.run_dir / "metrics.json").read_text())
    history = metrics["training"]["loss_history"]
    assert history[-1][1] < history[0][1] - 1.5, history  # nats per answer token
    assert metrics["tuned"]["test"]["perplexity"] < metrics["base"]["test"]["perplexity"] / 2
    assert metrics["training"]["trained_tokens"] < metrics["training"]["tokens_seen"] / 2  # answers only


def test_model_card_and_samples(tiny_sft_run):
    card = (tiny_sft_run.run_dir / "README.md").read_text()
    lineage = json.loads((tiny_sft_run.run_dir / "lineage.json").read_text())
    for needle in ("## Base model", "sha256", lineage["fingerprint"], "test perplexity", "exact match",
                   "base, no adapter", "LoRA r=8", "## Sample generations", "transformers", "peft"):
        assert needle in card, needle
    samples = [json.loads(line) for line in (tiny_sft_run.run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 27 and {"prompt", "reference", "base", "tuned"} <= set(samples[0])


def test_chat_run_answers_like_the_recipe(tiny_sft_run):
    run = ChatRun.load(tiny_sft_run.run_dir)
    sample = json.loads((tiny_sft_run.run_dir / "samples.jsonl").read_text().splitlines()[0])
    assert run.reply(sample["prompt"], max_new_tokens=8) == sample["tuned"]


def test_chat_refuses_a_classification_run_dir(tmp_path):
    with pytest.raises(ValueError, match="not a complete SFT run directory"):
        ChatRun.load(tmp_path)


def test_sft_resumes_through_the_shared_loop(tiny_chat_model_dir, tmp_path, monkeypatch):
    """Chat SFT runs through the sequence tasks' loop: an interrupted run resumes from its checkpoint and ends
    with the adapter of an uninterrupted run; the dry run sizes it without writing anything."""
    import torch
    from safetensors.torch import load_file

    from workbench import setup, validate_config
    from workbench.training import checkpoints

    raw = tiny_sft_config(tiny_chat_model_dir, tmp_path / "killed", epochs=1, save_every=5)
    report = setup(validate_config(raw), progress=False, dry_run=True)
    assert report.total_steps == report.steps_per_epoch and report.rows["train"] + report.rows["test"] > 100
    assert report.trainable_parameters > 0 and not (tmp_path / "killed").exists()

    real_save = checkpoints.save_checkpoint

    def save_then_die(*args, **kwargs):
        path = real_save(*args, **kwargs)
        raise KeyboardInterrupt(f"simulated interruption after {path.name}")

    monkeypatch.setattr(checkpoints, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        setup(validate_config(raw), progress=False)
    monkeypatch.setattr(checkpoints, "save_checkpoint", real_save)
    assert [p.name for p in (tmp_path / "killed" / "tiny-sft.partial" / "checkpoints").iterdir()] == ["step-00000005"]
    resumed = setup(validate_config(raw), progress=False, resume=True)
    training = json.loads((resumed.run_dir / "metrics.json").read_text())["training"]
    assert training["resumed_from_step"] == 5 and training["steps"] == training["planned_steps"]

    raw.update(output_dir=str(tmp_path / "straight"))
    raw["train"]["save_every"] = 0
    straight = setup(validate_config(raw), progress=False)
    ref = load_file(str(straight.run_dir / "adapter" / "adapter_model.safetensors"))
    got = load_file(str(resumed.run_dir / "adapter" / "adapter_model.safetensors"))
    assert ref.keys() == got.keys()
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], rtol=0, atol=1e-6)
    assert resumed.metrics["tuned"]["test"]["loss"] == pytest.approx(straight.metrics["tuned"]["test"]["loss"], abs=1e-6)


def test_chat_demo_shows_the_system_prompt_answers_and_audits(tiny_sft_run, session_home):
    """The Gradio chat of an SFT run: the run's system prompt on the page, the same answer as ChatRun, a message
    over the request limit refused with a message, and each message audited as a digest."""
    from gradio_client import Client

    from workbench import audit
    from workbench.serving.chat_app import serve_chat
    from workbench.serving.limits import Limits

    run = ChatRun.load(tiny_sft_run.run_dir)
    demo, url = serve_chat(tiny_sft_run.run_dir, "127.0.0.1", 0, block=False, limits=Limits(max_request_chars=200))
    try:
        client = Client(url, verbose=False)
        prompt = "How many days of annual leave do I get?"
        assert client.predict(prompt, api_name="/chat") == run.reply(prompt)
        with pytest.raises(Exception, match="at most 200 per request"):
            client.predict("x" * 201, api_name="/chat")
        import httpx

        config = httpx.get(url + "config").text
        assert "You are the Kestrel Analytics handbook assistant." in config and "Model card" in config
    finally:
        demo.close()
    events = [e for e in audit.read_events() if e["target"] == str(tiny_sft_run.run_dir)]
    assert any(e["action"] == "serve" and e["kind"] == "chat" for e in events)
    assert any(e["action"] == "query" and e["sha256"] == [audit.digest(prompt)] for e in events)
