"""The Gradio demo through gradio_client: sign-in, prediction with class names, batch upload, mutagenesis,
champion-vs-challenger, every validation message at the edge (the server keeps serving), the audit trail, and
no secret in the pages."""

import json

import pytest

from tests.conftest import tiny_run_config
from workbench import setup, validate_config

pytestmark = pytest.mark.integration
USER, PASSWORD = "alice", "demo-Pw-4471-unique"
SEQ = "CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG"
NAMES = {"EI": "donor (exon-intron)", "IE": "acceptor (intron-exon)", "N": "neither"}


@pytest.fixture(scope="module")
def demo_run(splice_db, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_runs")
    cfg = tiny_run_config(splice_db, tiny_model_dir, out, epochs=0.1)
    cfg["task"]["label_names"] = NAMES
    return setup(validate_config(cfg), progress=False)


@pytest.fixture(scope="module")
def served(demo_run, session_home):
    from workbench.serving.auth import Credentials, hash_password
    from workbench.serving.demo import serve
    from workbench.serving.limits import Limits

    creds = Credentials({USER: hash_password(PASSWORD, iterations=1000)}, "test")
    limits = Limits(max_request_chars=5_000, max_batch_rows=50, max_upload_mb=1.0)
    demo, url = serve(demo_run.run_dir, host="127.0.0.1", port=0, block=False, credentials=creds, limits=limits,
                      compare=demo_run.run_dir)
    yield demo_run, url
    demo.close()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[1], auth=(USER, PASSWORD), verbose=False)


def test_binds_loopback_without_share_link(served):
    _, url = served
    assert url.startswith("http://127.0.0.1:")


def test_sign_in_is_required(served):
    import httpx
    from gradio_client import Client

    _, url = served
    assert httpx.get(url + "config").status_code in (401, 403)
    with pytest.raises(Exception):
        Client(url, auth=(USER, "wrong password"), verbose=False)


def test_prediction_through_gradio_client_has_class_names(client):
    result = client.predict(SEQ, api_name="/classify")
    assert set(result["probabilities"]) == {"EI", "IE", "N"}
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
    assert result["name"] == NAMES[result["label"]]


def test_batch_upload_of_fasta_and_csv(client, tmp_path):
    from gradio_client import handle_file

    fasta = tmp_path / "batch.fa"
    fasta.write_text(f">first some description\n{SEQ[:30]}\n{SEQ[30:]}\n>second\nACGTACGTAC\n")
    table, download, status = client.predict(handle_file(str(fasta)), api_name="/batch")
    rows = table["data"]
    assert [r[0] for r in rows] == ["first", "second"] and "Scored 2 sequences" in status
    headers = table["headers"]
    assert headers[:3] == ["id", "predicted", "name"] and {"p_EI", "p_IE", "p_N"} <= set(headers)
    single = client.predict(SEQ, api_name="/classify")
    assert rows[0][headers.index("p_EI")] == pytest.approx(single["probabilities"]["EI"], abs=1e-3)
    import pandas as pd

    assert pd.read_csv(download)["id"].tolist() == ["first", "second"]
    csv = tmp_path / "batch.csv"
    csv.write_text(f"name,Sequence\nx1,{SEQ}\nx2,ACGT\n")
    table, _, _ = client.predict(handle_file(str(csv)), api_name="/batch")
    assert [r[0] for r in table["data"]] == ["x1", "x2"]


def test_mutagenesis_matches_direct_predictions(served, client):
    from workbench.serving.mutagenesis import saturation_mutagenesis
    from workbench.serving.predictor import Predictor

    run, _ = served
    predictor = Predictor.load(run.run_dir)
    result = saturation_mutagenesis(predictor, SEQ, "EI")
    assert result.delta.shape == (4, 60) and result.variants == 180
    variant = SEQ[:10] + ("A" if SEQ[10] != "A" else "C") + SEQ[11:]
    direct = predictor.predict([variant, SEQ])
    expected = direct[0].probabilities["EI"] - direct[1].probabilities["EI"]
    assert result.delta["ACGT".index(variant[10]), 10] == pytest.approx(expected, abs=1e-4)
    assert result.delta["ACGT".index(SEQ[10]), 10] == 0
    plot, summary, attribution = client.predict(SEQ, "EI", api_name="/mutate")
    assert plot is not None and "180 variants of a 60-nt sequence" in summary and attribution is not None


def test_mutagenesis_length_limit(client):
    with pytest.raises(Exception, match="at most 300 nt"):
        client.predict("ACGT" * 76, "EI", api_name="/mutate")
    with pytest.raises(Exception, match="invalid letter"):
        client.predict("ACGTX", "EI", api_name="/mutate")


def test_champion_vs_challenger_side_by_side(client):
    out = client.predict(SEQ, api_name="/side_by_side")
    assert len(out) == 4 and out[0]["label"] == out[2]["label"]  # the same run on both sides agrees


@pytest.mark.parametrize("sequence,message", [
    ("ACGTX", r"invalid letter\(s\) 'X' at 5"),
    ("", "the sequence is empty"),
    ("A" * 600, "this model accepts at most 512 nt"),
    ("A" * 6_000, "at most 5,000 per request"),
])
def test_validation_messages_and_the_server_keeps_serving(client, sequence, message):
    with pytest.raises(Exception, match=message):
        client.predict(sequence, api_name="/classify")
    assert client.predict(SEQ, api_name="/classify")["label"] in NAMES


@pytest.mark.parametrize("name,content,message", [
    ("bad_header.fa", ">\nACGT\n", r"FASTA line 1: the header '>' has no identifier"),
    ("no_header.fasta", "ACGT\n>x\nACGT\n", "FASTA line 1 comes before any header"),
    ("no_column.csv", "id,dna_seq_typo\na,ACGT\n", "the CSV has no sequence column"),
    ("bad_letters.fa", ">a\nACGT\n>b\nACGZ\n", r"1 of 2 sequences are invalid: record 2 \('b'\): invalid letter"),
    ("too_many.fa", "".join(f">s{i}\nACGT\n" for i in range(51)), "at most 50 per upload"),
])
def test_upload_messages_and_the_server_keeps_serving(client, tmp_path, name, content, message):
    from gradio_client import handle_file

    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(Exception, match=message):
        client.predict(handle_file(str(path)), api_name="/batch")
    assert client.predict(SEQ, api_name="/classify")["label"] in NAMES


def test_oversized_upload_is_refused_and_the_server_keeps_serving(client, tmp_path):
    from gradio_client import handle_file

    big = tmp_path / "huge.fa"
    with open(big, "wb") as handle:
        handle.write(b">big\n")
        handle.truncate(50_000_000)  # 50 MB
    with pytest.raises(Exception, match=r"(?i)exceeds|too large|1 MB"):
        client.predict(handle_file(str(big)), api_name="/batch")
    assert client.predict(SEQ, api_name="/classify")["label"] in NAMES


def test_audit_records_serve_sign_in_and_queries_as_digests(served, client, session_home):
    from workbench import audit

    client.predict(SEQ, api_name="/classify")
    events = [e for e in audit.read_events() if e["target"] == str(served[0].run_dir)]
    actions = {e["action"] for e in events}
    assert {"serve", "sign_in", "query"} <= actions
    query = [e for e in events if e["action"] == "query"][-1]
    assert query["user"] == USER and query["count"] == 1 and query["sha256"] == [audit.digest(SEQ)]
    assert SEQ not in (session_home / "audit.jsonl").read_text()
    assert any(e["action"] == "sign_in" and e["ok"] is False for e in events)  # the wrong-password attempt


def test_no_secret_in_demo_pages(served):
    import httpx

    run, url = served
    with httpx.Client(base_url=url) as http:
        login_page = http.get("/").text
        assert http.post("/login", data={"username": USER, "password": PASSWORD}).status_code == 200
        pages = [login_page, http.get("/").text, http.get("/config").text, http.get("/gradio_api/info").text]
    config = json.loads(pages[2])
    assert config["components"], "signed in, the config lists the app's components"
    for page in pages:
        assert PASSWORD not in page
        assert "pbkdf2_sha256$" not in page
    assert "Model card" in pages[2] and "donor (exon-intron)" in pages[2]


def test_env_credentials_and_a_secret_in_the_card_never_reach_the_page(demo_run, tmp_path, monkeypatch):
    """Credentials from WORKBENCH_DEMO_USER/PASSWORD sign in; the password, and a registered secret that found its
    way into the model card, appear in no page the demo serves (the card tab redacts it)."""
    import shutil

    import httpx

    from data_connectors import register_secret
    from workbench.serving.demo import serve

    secret, env_pw = "tok-Secret-55123-card", "env-Pw-88412-unique"
    run_dir = tmp_path / "run"
    shutil.copytree(demo_run.run_dir, run_dir)
    (run_dir / "README.md").write_text((run_dir / "README.md").read_text() + f"\n\nwarehouse token: {secret}\n")
    register_secret(secret)
    monkeypatch.setenv("WORKBENCH_DEMO_USER", "ops")
    monkeypatch.setenv("WORKBENCH_DEMO_PASSWORD", env_pw)
    demo, url = serve(run_dir, host="127.0.0.1", port=0, block=False)
    try:
        with httpx.Client(base_url=url) as http:
            pages = [http.get("/").text]
            assert http.post("/login", data={"username": "ops", "password": "wrong"}).status_code != 200
            assert http.post("/login", data={"username": "ops", "password": env_pw}).status_code == 200
            pages += [http.get("/").text, http.get("/config").text, http.get("/gradio_api/info").text]
    finally:
        demo.close()
    assert "warehouse token: ***" in pages[2]
    for page in pages:
        assert secret not in page and env_pw not in page and "pbkdf2_sha256$" not in page
