#!/usr/bin/env python
"""Copy the papermill pipeline notebooks (`nbs/pipelines/*.ipynb`, the source) into the package
(`credit_risk_nb/pipelines/`), so `crnb_train` and `crnb_retrain` find them in any install, editable or not.

    python tools/sync_pipelines.py          # copy, and delete package copies whose source is gone
    python tools/sync_pipelines.py --check  # change nothing; exit 1 when the package copies are out of date

CI runs it beside `nbdev_export`, so a stale package copy shows up in the "nothing changed" check."""
import argparse, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC, DEST = ROOT/'nbs'/'pipelines', ROOT/'credit_risk_nb'/'pipelines'


def sync(src: Path = SRC, dest: Path = DEST, check: bool = False) -> list[str]:
    "Make `dest` hold exactly the notebooks in `src`, byte for byte; return what changed (or would change)."
    sources = {p.name: p.read_bytes() for p in sorted(src.glob('*.ipynb'))}
    if not sources: raise SystemExit(f'no pipeline notebooks in {src}')
    changes = [f'update {n}' for n, b in sources.items() if not (dest/n).exists() or (dest/n).read_bytes() != b]
    changes += [f'delete {p.name}' for p in sorted(dest.glob('*.ipynb')) if p.name not in sources]
    if not check:
        dest.mkdir(parents=True, exist_ok=True)
        for n, b in sources.items():
            if f'update {n}' in changes: (dest/n).write_bytes(b)
        for p in dest.glob('*.ipynb'):
            if p.name not in sources: p.unlink()
    return changes


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--check', action='store_true', help='change nothing; exit 1 when the package copies are out of date')
    a = ap.parse_args()
    changes = sync(check=a.check)
    for c in changes: print(('out of date: ' if a.check else '') + c + f' ({DEST.relative_to(ROOT)})')
    if a.check and changes: sys.exit(1)
