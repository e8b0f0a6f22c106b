"""Champion/challenger re-tunes on a real PostgreSQL source (loopback): unchanged data trains nothing, appended rows
train a challenger that is compared with the champion on the frozen evaluation set, and both branches (promote,
reject) are recorded in the registry with their reasons. A challenger trains the same steps, and the same model,
however busy the machine is; one that learnt nothing is never registered or promoted."""

import csv
import json

import pandas as pd
import pytest

from tests.integration.retune_support import pg_table, retune_config, retune_home  # noqa: F401 (fixtures)
from tests.integration.test_golden_recipes import _sha
from tests.integration.test_reproducible import busy_process
from workbench.registry import get_version, list_versions
from workbench.registry.tracking import client
from workbench.retune import retune
from workbench.retune.run import retune_dir

pytestmark = [pytest.mark.integration, pytest.mark.sql_server]


def _decision_runs(name: str) -> list:
    c = client()
    exp = c.get_experiment_by_name(f"workbench/{name}")
    runs = c.search_runs([exp.experiment_id], filter_string="tags.kind = 'retune-decision'",
                         order_by=["attributes.start_time ASC"])
    return runs


def test_unchanged_data_trains_nothing_then_new_rows_train_a_challenger(pg_table, tiny_model_dir, retune_home,
                                                                       tmp_path):
    cfg = retune_config(tmp_path / "splice-pg.yaml", pg_table, tiny_model_dir)
    first = retune(cfg)
    assert (first.outcome, first.exit_code, first.champion) == ("promoted", 0, "1"), first.reason
    assert "first re-tune, no champion yet" in first.reason
    frozen = first.frozen
    assert frozen["version"] == 1 and 150 <= frozen["rows"] <= 190  # 15 % of the de-duplicated 1,200 rows

    second = retune(cfg)
    assert (second.outcome, second.exit_code, second.challenger) == ("unchanged", 0, None), second.reason
    assert "equals champion v1's; nothing trained" in second.reason and "train" not in second.timings
    assert len(list_versions("splice-pg")) == 1
    assert sorted(p.name for p in retune_dir("splice-pg").iterdir()) == ["splice-pg"]  # one run directory

    pg_table.append(400)
    third = retune(cfg)
    assert third.outcome in ("promoted", "rejected"), third.reason
    assert third.exit_code == {"promoted": 0, "rejected": 3}[third.outcome]
    assert third.challenger == "2" and third.champion == ("2" if third.outcome == "promoted" else "1")
    assert third.frozen["fingerprint"] == frozen["fingerprint"]  # the same frozen set, not re-carved
    d = third.decision
    assert d["metric"] == "mcc" and d["n"] == frozen["rows"] and d["difference"] == pytest.approx(
        d["challenger"] - d["champion"])
    assert d["ci95"][0] <= d["difference"] <= d["ci95"][1]
    assert "95% paired-bootstrap interval" in third.reason

    # the frozen rows were never trained on (dropped by sequence before the split) and not in its test split
    with open(frozen["path"], newline="") as handle:
        held_out = {r["sequence"] for r in csv.DictReader(handle)}
    run_dir = retune_dir("splice-pg") / "splice-pg"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data"]["excluded"]["rows"] >= len(held_out)
    training = metrics["training"]
    assert not training["time_capped"] and training["learning_check"]["learnt"]
    adapter = _sha(run_dir / "adapter" / "adapter_model.safetensors")
    assert not held_out & set(pd.read_csv(run_dir / "predictions.csv")["sequence"])
    assert sum(metrics["data"]["split"]["sizes"].values()) <= 1600 - len(held_out)

    # the decision and its reason are in the registry: on the version, on the model, and as a decision run
    v2 = get_version("splice-pg", "2")
    assert v2.tags["decision"] == third.outcome and v2.tags["decision_reason"] == third.reason
    assert v2.tags["frozen_set_fingerprint"] == frozen["fingerprint"]
    assert v2.tags["data_fingerprint"] == third.data_fingerprint != first.data_fingerprint
    last = json.loads(client().get_registered_model("splice-pg").tags["last_retune"])
    assert last["outcome"] == third.outcome and last["reason"] == third.reason
    runs = _decision_runs("splice-pg")
    assert [r.data.tags["decision"] for r in runs] == ["promoted", "unchanged", third.outcome]
    assert runs[-1].data.metrics["frozen.difference"] == pytest.approx(d["difference"])
    assert {a.path for a in client().list_artifacts(runs[-1].info.run_id, "frozen")} == {"frozen/v1.csv",
                                                                                       "frozen/v1.json"}
    audit = [json.loads(x) for x in (retune_home / "audit.jsonl").read_text().splitlines()]
    assert [e["outcome"] for e in audit if e["action"] == "retune"] == ["promoted", "unchanged", third.outcome]

    # the same data again, forced, beside a competing busy process: the challenger trains the same steps and model
    with busy_process():
        fourth = retune(cfg, force=True)
    assert fourth.challenger == "3", fourth.reason
    again = json.loads((run_dir / "metrics.json").read_text())["training"]
    for key in ("planned_steps", "steps", "val_history", "loss_history", "best_step"):
        assert again[key] == training[key], key
    assert _sha(run_dir / "adapter" / "adapter_model.safetensors") == adapter
    assert fourth.decision["challenger"] == third.decision["challenger"]


def test_each_branch_promote_and_reject(pg_table, tiny_model_dir, retune_home, tmp_path):
    from workbench.retune.lock import retune_lock

    cfg = retune_config(tmp_path / "splice-pg.yaml", pg_table, tiny_model_dir)
    weak = {"train.epochs": 4.0}  # learns a little (validation ~0.63)
    strong = {"train.epochs": 8.0}  # learns more (validation ~0.67)
    first = retune(cfg, weak)
    assert first.outcome == "promoted" and first.champion == "1", first.reason

    pg_table.append(300)
    promoted = retune(cfg, strong)
    assert (promoted.outcome, promoted.exit_code, promoted.champion) == ("promoted", 0, "2"), promoted.reason
    assert promoted.decision["difference"] > 0 and promoted.reason.startswith("promoted: it beats the champion")
    assert get_version("splice-pg", "2").tags["decision"] == "promoted"

    pg_table.append(300)
    beaten = {**weak, "retune.margin": 0.5}  # no MCC gain of 0.5 is possible here: rejected by the margin
    rejected = retune(cfg, beaten)
    assert (rejected.outcome, rejected.exit_code, rejected.champion) == ("rejected", 3, "2"), rejected.reason
    assert rejected.reason.startswith("rejected: it does not beat the champion by more than the margin 0.5")
    assert str(get_version("splice-pg", "challenger").version) == "3"
    assert get_version("splice-pg", "3").tags["decision_reason"] == rejected.reason
    again = retune(cfg, beaten)  # the same data as the rejected challenger: not trained again
    assert (again.outcome, again.exit_code, again.challenger) == ("unchanged", 0, None)
    assert "equals that of challenger v3, rejected against champion v2; nothing trained" in again.reason

    pg_table.append(100)
    nothing = retune(cfg, {"train.learning_rate": 1e-9})  # the weights barely move: it learnt nothing
    assert (nothing.outcome, nothing.exit_code, nothing.challenger) == ("rejected", 3, None), nothing.reason
    assert nothing.reason.startswith("challenger not registered: the model learnt nothing")
    assert len(list_versions("splice-pg")) == 3 and str(get_version("splice-pg", "champion").version) == "2"

    pg_table.append(100)
    with retune_lock("splice-pg"):  # another re-tune of the same model is running
        locked = retune(cfg, weak)
    assert (locked.outcome, locked.exit_code) == ("locked", 4) and "another re-tune of 'splice-pg'" in locked.reason
    assert str(get_version("splice-pg", "champion").version) == "2"

    failed = retune(cfg, {"source.query": "SELECT nope FROM nowhere"})
    assert (failed.outcome, failed.exit_code) == ("failed", 5) and "nowhere" in failed.reason
    assert [r.data.tags["decision"] for r in _decision_runs("splice-pg")] == [
        "promoted", "promoted", "rejected", "unchanged", "rejected", "failed"]
