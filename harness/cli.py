"""The ``bench`` command line. Exit codes: 0 ok, 1 a run failed, 2 bad input."""
from __future__ import annotations

import argparse
import sqlite3
import os
import sys
from pathlib import Path

from core.errors import BadInput, BenchError

EPILOG = "Exit codes: 0 ok, 1 a run failed, 2 bad input."


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", default=None,
                   help="registry file (default: ./registry.yaml, else the copy a run left in the store)")
    p.add_argument("--store", default="runs", help="checkpoints + results database (default: ./runs)")
    p.add_argument("--profile", default=None, help="tiny (default) | smoke | thesis | any registry profile "
                   "(report, samples: the store's profiles)")
    p.add_argument("--device", default=None, help="auto (default) | cpu | cuda | cuda:N")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got '{text}'")
    return value


def _generation(p: argparse.ArgumentParser) -> None:
    """Overrides of the profile's generation settings, recorded in the generation key."""
    p.add_argument("--batch-size", type=_positive, default=None, help="generation batch size")
    p.add_argument("--max-new-tokens", type=_positive, default=None, help="generation length limit")
    p.add_argument("--seed", type=int, default=None, help="RNG seed for sampled generations")


def parser() -> argparse.ArgumentParser:
    from core import __version__

    ap = argparse.ArgumentParser(prog="bench", description="grpo-bench: train GRPO variants on demand, "
                                 "evaluate them on suites, compare.", epilog=EPILOG)
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.required = True

    def cmd(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG)
        _common(p)
        return p

    cmd("models", "list the registry's models with checkpoint status")
    cmd("suites", "list suites, protocols and data sources")
    p = cmd("plan", "show what would be trained and evaluated (no work done)")
    p.add_argument("--models", default="all")
    p.add_argument("--suite", default="all")
    p.add_argument("--json", action="store_true")
    _generation(p)
    p = cmd("train", "produce a checkpoint (and its missing parents) now")
    p.add_argument("name")
    p.add_argument("--processes", type=_positive, default=1, help="data-parallel training processes: runs this "
                   "command under `accelerate launch --multi_gpu --num_processes N` (one per GPU; on the CPU, "
                   "gloo); the recipe's global batch and optimizer steps stay the same")
    p = cmd("run", "train what is missing, then evaluate models on suites")
    p.add_argument("--models", default="all", help="comma-separated names or 'all'")
    p.add_argument("--suite", default="indomain", help="indomain | outdomain | bfcl | all (comma-separated)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N items per suite")
    p.add_argument("--jobs", default=None, help="worker processes for independent trainings and models: N, or "
                   "auto (one per CPU core up to 4; 1 on a GPU); default: $BENCH_JOBS, else the profile's jobs. "
                   "Figures do not depend on it")
    _generation(p)
    p = cmd("samples", "per-item records (prompt, completion, target, scores, judge verdict) as JSONL "
            "in lm-eval's --log_samples layout")
    p.add_argument("--models", default="all", help="comma-separated names or 'all'")
    p.add_argument("--suite", default="all", help="comma-separated suites or 'all'")
    p.add_argument("--protocol", default="all", help="comma-separated protocols or 'all'")
    p.add_argument("--status", action="append", choices=("correct", "incorrect", "failed"), default=None,
                   help="only these items (repeatable)")
    p.add_argument("--out", default=None, help="FILE.jsonl, or a folder (MODEL/samples_SUITE-PROTOCOL.jsonl); "
                   "default: stdout")
    p = sub.add_parser("init", help="write a starter registry.yaml", description="write a starter registry.yaml "
                       "(the one shipped with grpo-bench)", epilog=EPILOG)
    p.add_argument("path", nargs="?", default="registry.yaml")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p = cmd("report", "comparison tables from the results store (never re-runs a model)")
    p.add_argument("--out", default=None, help="folder for the report files (default: STORE/reports)")
    p.add_argument("--thesis", action="store_true",
                   help="the thesis's three tables: published figures beside reproduced ones and their difference")
    p.add_argument("--format", action="append", default=None, metavar="FMT",
                   help="md | latex | csv | json | html; repeatable or comma-separated (default: md,csv)")
    p = cmd("chat", "the thesis test script: five fixed word problems with tag checks, then a prompt loop")
    p.add_argument("name", help="registry model (trained first if missing)")
    p.add_argument("--once", action="store_true", help="answer the five fixed problems only, no prompt loop")
    p = cmd("perf", "performance benchmarks, printed as ratios measured side by side in one run")
    p.add_argument("--quick", action="store_true", help="small sizes (< 2 min): checks that it runs")
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    p.add_argument("--only", default=None, metavar="KEYS",
                   help="comma-separated measurements to run: batching, decode, lm-eval, lm-eval-wall, lora, vllm, "
                        "jobs, cached, grpo, memory (default: all; --quick leaves out vllm and jobs)")
    p = cmd("reproduce", "compare this store's report figures with a published snapshot (the demo's last step)")
    p.add_argument("expected", help="the snapshot (JSON) to compare with, e.g. docs/demo/expected.json")
    p.add_argument("--report", default=None, help="the report.json to read (default: STORE/reports/report.json)")
    p.add_argument("--write", action="store_true",
                   help="publish this run's figures as this machine type's set instead of comparing "
                        "(other machines' sets are kept while the fingerprints are the same)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # library tqdm bars (lm-eval, datasets) off; ours are rich. The hub's download bars stay: they
    # pass disable=None explicitly, which TQDM_DISABLE (a default) does not override
    os.environ.setdefault("TQDM_DISABLE", "1")
    if getattr(args, "device", None):
        from core.device import ENV

        os.environ[ENV] = args.device
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from core.device import configure_process

        configure_process()  # the thread policy, before torch is imported
        if getattr(args, "store", None) is not None and not args.store.strip():
            # "" resolves to the working directory: the store and its reports would land in the repository
            raise BadInput("--store is empty (give a folder, e.g. --store runs)")
        from core.launch import launched

        if launched() and args.cmd != "train":  # only training is data-parallel; N copies of the rest would race
            raise BadInput(f"bench {args.cmd} runs in one process; under accelerate launch / torchrun only "
                           "`bench train` does (train there, then run this without the launcher)")
        from . import commands

        return getattr(commands, f"cmd_{args.cmd}")(args) or 0
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bench: interrupted (stored results are kept; re-run to resume)", file=sys.stderr)
        return 130
    except OSError as exc:  # disk full, file-size limit, permissions: the environment, not a bug
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    except MemoryError:
        print("bench: error: out of memory (try a smaller --limit or generation batch size)", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:  # garbage pages, a truncated file: the store, not a bug
        from core.results import damaged

        print(f"bench: error: {damaged(Path(getattr(args, 'store', 'runs')) / 'bench.sqlite', exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
