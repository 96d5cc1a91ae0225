"""Grow a real credit data set to N rows, for the scale benchmarks only (never for model quality claims).

    python bench/make_data.py --rows 1000000                # -> bench/data/credit_risk_1000000/part.NNN.parquet
    python bench/make_data.py --rows 300000 --single --out bench/data/score.parquet

Source: the Kaggle "Credit Risk Dataset" (32,581 loans) in ../shared/data/credit_risk_dataset.csv. Each output row
is a row drawn with replacement (bootstrap) from the source, then perturbed so that rows are not exact copies
(validation drops exact duplicates) while every field keeps its meaning and its link to the outcome:

- person_income: x (1 + N(0, 0.02)), rounded to whole units;
- loan_amnt: x (1 + N(0, 0.02)), rounded to 25;
- loan_int_rate: + N(0, 0.10) percentage points, rounded to 2 decimals (missing stays missing);
- person_age, person_emp_length, cb_person_cred_hist_length: + one of -1, 0, +1 (probabilities 0.15, 0.7,
  0.15) when the value lies in the spec's range, clipped to that range; implausible source values (ages over
  100, employment over 60 years) are kept as they are, so the validation still finds and counts them;
- loan_percent_income: recomputed from the perturbed amount and income, rounded to 2 decimals as in the source;
- categorical fields and the outcome `loan_status`: unchanged; blanks stay blank.

The figures measured on grown data describe cost (time, memory, throughput), not accuracy: a bootstrap repeats
the same 32,581 applicants, so metrics on it are optimistic. Output: Parquet (typed: numbers as float64, codes
as strings, the outcome as int64), `rows_per_file` rows a file, written file by file (bounded memory). Data is
written under bench/data/, which git ignores; never commit it.
"""
from __future__ import annotations
import argparse, sys
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent/'shared'/'data'/'credit_risk_dataset.csv'
JITTER_INT = ['person_age', 'person_emp_length', 'cb_person_cred_hist_length']

def read_source(path=SOURCE) -> pd.DataFrame:
    "The source file, typed: numbers as float64 (blank -> NaN), codes as str, outcome as int64."
    from credit_risk_nb.datasets import credit_risk
    raw = pd.read_csv(path)
    for f in credit_risk.features:
        raw[f.name] = raw[f.name].astype('float64') if f.kind == 'numeric' else raw[f.name].astype(str)
    raw['loan_status'] = raw['loan_status'].astype('int64')
    return raw[credit_risk.columns + ['loan_status']]

def grow(source:pd.DataFrame, rows:int, seed:int=0) -> pd.DataFrame:
    "`rows` rows bootstrapped from `source`, perturbed as described in the module docstring."
    from credit_risk_nb.datasets import credit_risk
    rng = np.random.default_rng(seed)
    out = source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    out['person_income'] = np.round(out.person_income*(1 + rng.normal(0, 0.02, rows)))
    out['loan_amnt'] = np.maximum(25, np.round(out.loan_amnt*(1 + rng.normal(0, 0.02, rows))/25)*25)
    out['loan_int_rate'] = np.round(np.clip(out.loan_int_rate + rng.normal(0, 0.10, rows), 0, 100), 2)
    for c in JITTER_INT:
        f, v = credit_risk[c], out[c].to_numpy()
        inside = (v >= f.min) & (v <= f.max)
        step = rng.choice([-1, 0, 1], rows, p=[0.15, 0.7, 0.15])
        out[c] = np.where(inside, np.clip(v + step, f.min, f.max), v)
    out['loan_percent_income'] = np.round(out.loan_amnt/out.person_income, 2)
    return out

def make(rows:int, out:Path|None=None, rows_per_file:int=500_000, single:bool=False, seed:int=0, quiet:bool=False) -> Path:
    "Write `rows` grown rows as a Parquet folder (or one file with `single`); returns the path. Reuses a finished one."
    out = Path(out or ROOT/'bench'/'data'/f'credit_risk_{rows}{".parquet" if single else ""}')
    done = out.with_name(out.name + '.done')
    if done.exists() and out.exists(): return out
    source = read_source()
    if single:
        out.parent.mkdir(parents=True, exist_ok=True)
        import pyarrow as pa, pyarrow.parquet as pq
        writer = None
        for i, start in enumerate(range(0, rows, rows_per_file)):
            table = pa.Table.from_pandas(grow(source, min(rows_per_file, rows - start), seed + i), preserve_index=False)
            writer = writer or pq.ParquetWriter(out, table.schema)
            writer.write_table(table, row_group_size=100_000)
        writer.close()
    else:
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob('part.*.parquet'): old.unlink()
        for i, start in enumerate(range(0, rows, rows_per_file)):
            grow(source, min(rows_per_file, rows - start), seed + i).to_parquet(out/f'part.{i:03d}.parquet', index=False, row_group_size=100_000)
    done.touch()
    if not quiet: print(f"{rows:,} rows -> {out}")
    return out

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rows', type=int, required=True, help='rows to write')
    p.add_argument('--out', help='output folder (or file with --single); default bench/data/credit_risk_<rows>')
    p.add_argument('--rows_per_file', type=int, default=500_000, help='rows in each Parquet file (and per grown block)')
    p.add_argument('--single', action='store_true', help='one Parquet file instead of a folder')
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    make(a.rows, Path(a.out) if a.out else None, a.rows_per_file, a.single, a.seed)
