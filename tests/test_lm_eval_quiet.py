"""lm-eval's own tqdm bars stay out of logs: it passes ``disable=`` explicitly, so TQDM_DISABLE
alone did not stop "Running loglikelihood requests" from reaching a captured run's output."""
from __future__ import annotations

from benchkit import ROOT, bench

BAR = "Running loglikelihood requests"


def _bar(desc: str) -> None:
    """Drive a bar exactly as lm-eval's HFLM does: its module's ``tqdm``, ``disable`` passed."""
    import lm_eval.models.huggingface as hf

    for _ in hf.tqdm(range(3), total=3, desc=desc, disable=False):
        pass


def test_lm_eval_bars_are_silenced_off_a_terminal(capfd, monkeypatch):
    from benchmarks.outdomain import _standard

    monkeypatch.setenv("TQDM_DISABLE", "1")
    _bar(BAR)  # what lm-eval does today: the environment default loses to its explicit argument
    assert BAR in capfd.readouterr().err
    with _standard._quiet():
        _bar(BAR)
    assert BAR not in capfd.readouterr().err
    _bar(BAR)  # and lm-eval's own tqdm is back afterwards
    assert BAR in capfd.readouterr().err


def test_standard_protocol_run_prints_no_lm_eval_bar(tmp_path):
    """The real suite through the CLI, output captured (not a terminal): no lm-eval bar in it."""
    r = bench("run", "--profile", "smoke", "--models", "base", "--suite", "outdomain", "--limit", "3",
              "--store", str(tmp_path / "store"), "--registry", str(ROOT / "registry.yaml"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "standard" in r.stdout + r.stderr
    assert BAR not in r.stdout + r.stderr and "Building contexts" not in r.stdout + r.stderr, r.stderr[-2000:]
