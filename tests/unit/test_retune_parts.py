"""The re-tune's parts without training: the lock (live, stale, another host's), the disk check, the frozen set
(stratified, fixed, versioned, tamper-evident, excluded from training) and the paired-bootstrap decision."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from workbench.retune import frozen as fz
from workbench.retune.decide import decide, metric_fn, paired_bootstrap
from workbench.retune.lock import DiskSpaceError, LockedError, check_disk, is_stale, lock_path, read_lock, retune_lock


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_lock_is_exclusive_and_released():
    with retune_lock("m") as held:
        assert read_lock(held["path"])["pid"] == os.getpid() and held["stale_cleared"] is None
        with pytest.raises(LockedError, match=rf"another re-tune of 'm' is running \(pid {os.getpid()} on "):
            with retune_lock("m"):
                pass
    assert not lock_path("m").exists()


def test_stale_lock_of_a_dead_process_is_cleared_but_another_hosts_is_not():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_path("m").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "earlier"}))
    assert is_stale(read_lock(lock_path("m")))
    with retune_lock("m") as held:
        assert held["stale_cleared"]["pid"] == dead.pid
    lock_path("m").write_text(json.dumps({"pid": dead.pid, "host": "elsewhere", "started": "earlier"}))
    with pytest.raises(LockedError, match="on elsewhere"):
        with retune_lock("m"):
            pass


def test_disk_check_names_what_is_free_and_what_to_do():
    assert check_disk(0.0) > 0
    with pytest.raises(DiskSpaceError, match=r"GB free under .*retune.min_free_gb=1e\+09 GB"):
        check_disk(1e9)


def _rows(n=300):
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(n)]
    return seqs, [("EI", "IE", "N")[i % 3] for i in range(n)]


def test_frozen_set_is_stratified_versioned_and_tamper_evident():
    seqs, labels = _rows()
    first = fz.carve("m", seqs + seqs[:10], labels + labels[:10], "src", 0.2, 7)  # repeats are dropped first
    assert first.version == 1 and first.rows == 60 and first.class_counts == {"EI": 20, "IE": 20, "N": 20}
    again = fz.carve("m", seqs, labels, "src", 0.2, 7)
    assert again.version == 2 and again.fingerprint == first.fingerprint  # same rows, same seed: same set
    assert fz.latest_frozen("m").version == 2
    got_seqs, got_labels = first.load()
    assert len(set(got_seqs)) == 60 and set(got_seqs) <= set(seqs)
    first.path.write_text(first.path.read_text().replace("EI", "IE", 1))
    with pytest.raises(fz.FrozenSetError, match="no longer matches its fingerprint"):
        first.load()
    with pytest.raises(fz.FrozenSetError, match="too few to hold out"):
        fz.carve("tiny", seqs[:3], labels[:3], "src", 0.2, 7)


def test_a_frozen_set_given_by_a_column_value_or_a_chromosome(tmp_path):
    from workbench.config import validate_config

    seqs, labels = _rows()
    plates = ["P7" if i % 10 == 0 else f"P{i % 5}" for i in range(len(seqs))]
    plate = fz.carve("plates", seqs, labels, "src", 0.2, 7, mask=fz.frozen_mask(plates, "plate", ["P7"]),
                     how="plate=P7")
    assert plate.rows == 30 and plate.how == "plate=P7" and set(plate.load()[0]) == set(seqs[::10])
    headers = [f"CHR{1 + i % 12}_{100 * i}_{100 * i + 30}" for i in range(len(seqs))]
    chrom = fz.frozen_mask(headers, "id", ["chr8", "CHR9"], "chromosome")
    assert sum(chrom) == 50 and all(chrom[i] == (1 + i % 12 in (8, 9)) for i in range(len(seqs)))
    with pytest.raises(fz.FrozenSetError, match=r"names \['chr30'\], not found in column 'id'"):
        fz.frozen_mask(headers, "id", ["chr30"], "chromosome")
    with pytest.raises(fz.FrozenSetError, match="select every row"):
        fz.frozen_mask(["P1"] * 5, "plate", ["P1"])
    raw = {"name": "m", "source": {"kind": "files", "path": "x.csv"}, "retune": {"frozen_column": "plate"}}
    with pytest.raises(ValueError, match="retune.frozen_column and retune.frozen_values go together"):
        validate_config(raw)


def test_the_retune_carves_the_configured_frozen_set_from_the_source(tmp_path):
    from workbench.config import validate_config
    from workbench.data.sources import read_sequences

    seqs, labels = _rows(120)
    data = tmp_path / "rows.csv"
    data.write_text("sequence,label,plate\n" + "".join(f"{s},{y},P{i % 4}\n" for i, (s, y) in
                                                      enumerate(zip(seqs, labels))))
    raw = {"name": "m", "source": {"kind": "files", "path": str(data)},
           "retune": {"frozen_column": "plate", "frozen_values": ["P3"]}}
    cfg = validate_config(raw)
    rows = read_sequences(cfg, ("plate",))  # what retune() reads
    frozen = fz.carve_for(cfg, "by-plate", rows, "src")
    assert frozen.rows == 30 and frozen.how == "plate=P3" and set(frozen.load()[0]) == set(seqs[3::4])
    random_set = fz.carve_for(validate_config({**raw, "retune": {}}), "by-chance", rows, "src")
    assert random_set.how == "random" and random_set.rows == 18  # 15 % of each label's 40 rows


def test_exclude_from_drops_the_frozen_rows_before_splitting(tmp_path):
    from workbench import validate_config
    from workbench.data.sources import read_sequences

    seqs, labels = _rows(120)
    data = tmp_path / "rows.csv"
    data.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in zip(seqs, labels)))
    held = fz.carve("m", seqs, labels, "src", 0.25, 0)
    raw = {"name": "m", "source": {"kind": "files", "path": str(data)}, "data": {"exclude_from": str(held.path)}}
    rows = read_sequences(validate_config(raw))
    assert rows.excluded == held.rows == 30 and len(rows.sequences) == 90
    assert not set(rows.sequences) & set(held.load()[0])
    with pytest.raises(ValueError, match="does not exist"):
        read_sequences(validate_config({**raw, "data": {"exclude_from": str(tmp_path / "none.csv")}}))


def test_decision_promotes_only_above_the_margin_and_reports_the_interval():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 400)
    champ = np.where(rng.random(400) < 0.7, truth, (truth + 1) % 3)
    chall = np.where(rng.random(400) < 0.9, truth, (truth + 1) % 3)
    win = decide(truth, champ, chall, "classification", "accuracy", 0.05, 500)
    assert win.promote and win.difference == pytest.approx(np.mean(chall == truth) - np.mean(champ == truth))
    assert win.ci95[0] < win.difference < win.ci95[1] and win.ci95[0] > 0
    assert win.reason.startswith("promoted") and "95% paired-bootstrap interval" in win.reason
    assert not decide(truth, champ, chall, "classification", "accuracy", 0.5, 200).promote
    same = decide(truth, champ, champ, "classification", "mcc", 0.0, 200)
    assert not same.promote and same.difference == 0 and same.ci95 == (0.0, 0.0)
    assert paired_bootstrap(truth, champ, chall, metric_fn("accuracy", "classification"), 200) == \
        paired_bootstrap(truth, champ, chall, metric_fn("accuracy", "classification"), 200)
    with pytest.raises(ValueError, match="does not apply to regression runs; use one of spearman"):
        metric_fn("accuracy", "regression")
