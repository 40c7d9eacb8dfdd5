"""The verification benchmark run through the verifier of an earlier commit (its ``verify(text, passages, embed,
sentence_vectors)``), for before/after tables: ``python benchmarks/verifier_baseline.py feb894d [--data-dir D]``.

Only that commit's ``assistant/verify.py`` is taken; it runs against today's other modules, which is how the
"before" table of docs/calibration.md was made (the previous verifier's helpers have not changed since).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

from assistant.benchmark import find_collections
from assistant.settings import Settings
from assistant.verification_bench import CollectionClaims, VerificationReport, outcome_of
from assistant.verify import Judgement

BENCHMARKS = Path(__file__).resolve().parent


def old_verifier(revision: str):
    code = subprocess.run(["git", "show", f"{revision}:assistant/verify.py"], capture_output=True, text=True,
                          check=True, cwd=BENCHMARKS.parent).stdout
    path = Path(tempfile.mkdtemp()) / "old_verify.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_verify", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_verify"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    old = old_verifier(args.revision)
    settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    report, embedder = VerificationReport(), None
    for collection in find_collections(BENCHMARKS):
        claims = CollectionClaims(collection, settings, embedder)
        embedder = claims.bot.embedder
        for row in claims.rows:
            text, shown, vectors = claims.prepared(row)
            result = old.verify(text, shown, embedder.query_vector, vectors)
            judged = [Judgement(k.text, (), "kept") for k in result.kept]
            judged += [Judgement(t, (), "dropped", why) for t, why in result.dropped]
            report.direct.append(outcome_of(claims.name, row, judged, lambda j: set(), set()))
    print(report.table())


if __name__ == "__main__":
    main()
