"""The privacy promise, proven: the whole main job completes in a network namespace that has only loopback, and a
recorder of every connect()/sendto() of its process tree finds nothing but loopback."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration
_ADDR = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"')


def _namespace_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root for `unshare --net` (a fresh network namespace)"
    for tool in ("unshare", "strace", "ip"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (Debian: util-linux, strace, iproute2)"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"`unshare --net` is not permitted here: {probe.stderr.strip()}"


def contacted(trace: str) -> list[str]:
    """Every IPv4/IPv6 address named in a connect/sendto/sendmsg line of an ``strace -f`` log."""
    return [a or b for line in trace.splitlines() if re.search(r"\b(connect|sendto|sendmsg)\(", line)
            for a, b in _ADDR.findall(line)]


def test_contacted_reads_strace_lines():
    trace = ('12 connect(5, {sa_family=AF_INET, sin_port=htons(7860), sin_addr=inet_addr("127.0.0.1")}, 16) = 0\n'
             '13 connect(6, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
             'inet_pton(AF_INET6, "2a00::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH\n'
             '14 sendto(7, "x", 1, 0, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.53")}, 16) = 1\n'
             '15 connect(8, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = 0\n')
    assert contacted(trace) == ["127.0.0.1", "2a00::1", "10.0.0.53"]


@pytest.mark.skipif(_namespace_problem() is not None, reason=str(_namespace_problem()))
def test_main_job_runs_with_only_loopback_and_contacts_nothing_else(tmp_path):
    out, trace = tmp_path / "job.json", tmp_path / "connect.trace"
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(key, None)
    script = (f"ip link set lo up && exec strace -f -qq --seccomp-bpf -e trace=connect,sendto,sendmsg -o {trace} "
              f"{sys.executable} {REPO / 'tests' / 'integration' / 'offline_main_job.py'} {out}")
    done = subprocess.run(["unshare", "--net", "--", "sh", "-c", script], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=1800)
    log = out.with_suffix(".log")
    assert done.returncode == 0, done.stderr[-3000:] + (log.read_text()[-3000:] if log.exists() else "")
    result = json.loads(out.read_text())
    assert set(result["metrics"]) >= {"accuracy", "mcc"} and 0 <= result["metrics"]["accuracy"] <= 1
    assert result["cli"]["label"] in {"EI", "IE", "N"}, result["cli"]
    assert isinstance(result["rest"], dict) and result["rest"]["label"] == result["cli"]["label"], result["rest"]
    assert result["rest"]["p_EI"] == pytest.approx(result["cli"]["probabilities"]["EI"], abs=1e-6)
    assert "EI" in json.dumps(result["demo"]) or "donor" in json.dumps(result["demo"]), result["demo"]
    assert 0 < result["pretrain"].get("bits_per_base", 0) < 5, result["pretrain"]  # a pretraining run, offline too

    addresses = contacted(trace.read_text())
    outside = sorted({a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback})
    assert outside == [], f"the job tried to reach {outside} (see {trace})"
    assert addresses, "the recorder saw no connection at all: the demo was reached over loopback, so it must see one"
