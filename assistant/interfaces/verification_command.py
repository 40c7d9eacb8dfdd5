"""`assistant eval BENCHMARK_FOLDER --verification`: how well citation verification judges, per kind of sentence."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from pydantic import ValidationError

from assistant.interfaces.cli_support import _fail, err, out, visible
from assistant.verification_set import CLAIMS_FILE


def evaluate_verification(folder: Path, out_file: Path | None, data_dir: Path | None,
                          claims_file: str = CLAIMS_FILE) -> None:
    from assistant.benchmark import find_collections
    from assistant.settings import Settings
    from assistant.verification_bench import failures, run_verification

    try:
        settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
        report = run_verification(find_collections(folder), settings, claims_file=claims_file,
                                  progress=lambda step: err.print(f"[dim]{step}[/]"))
    except ValidationError as exc:
        raise _fail(f"invalid verification set or settings: {exc}", 2) from exc
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot run the verification benchmark {folder}: {exc}", 2) from exc
    if not report.direct:
        raise _fail(f"no collection of {folder} has a {claims_file}", 2)
    for line in failures(report.direct):
        out.print(f"[yellow]{visible(line)}[/]", highlight=False)
    out.print(report.table(), highlight=False)
    target = out_file or settings.data_dir / "eval" / "verification-latest.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(asdict(report), indent=1, ensure_ascii=False), encoding="utf-8")
    out.print(f"report {target}", highlight=False)
