"""How training and batch scoring cost grows with data: single process against a Dask LocalCluster.

    python bench/scale.py                              # 100k, 1M, 5M rows; writes nbs/bench_scale.md and the plot
    python bench/scale.py --sizes 100000,1000000       # what fits in the time you have

Data: grown from the Kaggle credit_risk file by bench/make_data.py (bootstrap + documented noise), as Parquet
folders of 500,000-row files under bench/data/ (git ignores it). Each measurement runs in a fresh child process so
that peak memory is its own; a sampler thread reads the resident memory of the child and all its descendants (the
Dask scheduler's workers and nannies) every 0.1 s.

- local: one process, the `pipeline` path: read the folder with pandas, `validate`, stratified split,
  `fit_scorer('xgboost')` (XGBoost on all cores).
- dask: `distributed.prepare_dask` + `fit_scorer_dask('xgboost')` on a LocalCluster of 2 workers x 1 thread
  (this machine has 2 cores), driver included.
Each (rows, engine) result is kept in bench/data/scale_cache/ and reused by the next run (`--fresh` measures again),
so sizes can be added one at a time. Both use the same XGBoost parameters (the project defaults with at most `--n_estimators` trees, early stopping on
the validation part) and report load (read + validate + split), fit (encoder, XGBoost, calibrator, cutoff, test
metrics) and total seconds.

Batch scoring: `score_file` (Parquet in, Parquet out, PD + decision + points, no reasons) on a single file of
`--score_rows` rows, against raw `Booster.inplace_predict` on the same rows already encoded as a float32 matrix
(the floor: no reading, no checks, no calibration, no writing), in the same process.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, tempfile, threading, time
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'bench'))
os.environ.setdefault('MLFLOW_DISABLE_TELEMETRY', 'true')

class PeakMemory:
    "Sample the RSS of this process and its descendants: peak of any one process and peak of their sum (bytes)."
    def __init__(self, every:float=0.1): self.every, self.per_process, self.total, self._stop = every, 0, 0, threading.Event()
    def _run(self):
        import psutil
        me = psutil.Process()
        while not self._stop.is_set():
            rss = []
            for p in [me] + me.children(recursive=True):
                try: rss.append(p.memory_info().rss)
                except psutil.Error: pass
            self.per_process, self.total = max(self.per_process, max(rss)), max(self.total, sum(rss))
            self._stop.wait(self.every)
    def __enter__(self): self._thread = threading.Thread(target=self._run, daemon=True); self._thread.start(); return self
    def __exit__(self, *exc): self._stop.set(); self._thread.join()

def child_local(path:str, n_estimators:int) -> dict:
    from credit_risk_nb.datasets import credit_risk, validate
    from credit_risk_nb.distributed import as_text, data_files
    from credit_risk_nb.models import split
    from credit_risk_nb.pipeline import Prepared, fit_scorer
    spec = credit_risk
    with PeakMemory() as mem:
        start = time.perf_counter()
        raw = pd.concat([pd.read_parquet(f) for f in data_files(path)], ignore_index=True)
        frame, report = validate(as_text(raw, spec.columns + [spec.target]), spec)
        del raw
        data = Prepared(spec, frame, report, split(frame, spec.target, 42), path)
        loaded = time.perf_counter()
        scorer, metrics = fit_scorer('xgboost', data, params=dict(n_estimators=n_estimators))
        done = time.perf_counter()
    return dict(load_s=loaded - start, fit_s=done - loaded, total_s=done - start, rows_kept=report.rows_kept,
                trees=scorer.model.booster.num_boosted_rounds(), test_auc=metrics['test']['roc_auc'],
                peak_process_mb=mem.per_process/2**20, peak_total_mb=mem.total/2**20)

def child_dask(path:str, n_estimators:int, workers:int) -> dict:
    from credit_risk_nb.distributed import dask_client, prepare_dask, fit_scorer_dask
    with PeakMemory() as mem, dask_client(n_workers=workers) as client:
        start = time.perf_counter()
        data = prepare_dask('credit_risk', path)
        loaded = time.perf_counter()
        scorer, metrics = fit_scorer_dask('xgboost', data, client, params=dict(n_estimators=n_estimators))
        done = time.perf_counter()
    return dict(load_s=loaded - start, fit_s=done - loaded, total_s=done - start, rows_kept=data.report.rows_kept,
                trees=scorer.model.booster.num_boosted_rounds(), test_auc=metrics['test']['roc_auc'],
                peak_process_mb=mem.per_process/2**20, peak_total_mb=mem.total/2**20)

def child_score(path:str, train_path:str, chunk_rows:int) -> dict:
    from credit_risk_nb.datasets import credit_risk
    from credit_risk_nb.batch import score_file, clean_rows
    from credit_risk_nb.pipeline import prepare, fit_scorer, Prepared
    from credit_risk_nb.models import split
    from credit_risk_nb.datasets import validate
    from credit_risk_nb.distributed import as_text, data_files
    spec = credit_risk
    raw = pd.concat([pd.read_parquet(f) for f in data_files(train_path)], ignore_index=True)
    frame, report = validate(as_text(raw, spec.columns + [spec.target]), spec)
    scorer, _ = fit_scorer('xgboost', Prepared(spec, frame, report, split(frame, spec.target, 42), train_path), params=dict(n_estimators=300))
    with tempfile.TemporaryDirectory() as d:
        summary = score_file(scorer, path, Path(d)/'scored.parquet', chunk_rows=chunk_rows, progress=False)
        scored_rows = len(pd.read_parquet(Path(d)/'scored.parquet', columns=['row']))
    rows = pd.read_parquet(path)
    clean, error = clean_rows(rows, scorer.encoder)
    X = scorer.matrix(clean)
    booster = scorer.model.booster
    booster.inplace_predict(X[:1000])
    start = time.perf_counter(); booster.inplace_predict(X); raw_s = time.perf_counter() - start
    return dict(rows=summary['rows'], scored_rows=scored_rows, invalid=summary['invalid'], trees=booster.num_boosted_rounds(),
                score_file_s=summary['seconds'], score_file_rows_s=summary['rows']/summary['seconds'],
                inplace_predict_s=raw_s, inplace_predict_rows_s=len(X)/raw_s)

def run_child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, '--child', *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode: raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])

def plot(table:pd.DataFrame, path:Path):
    from matplotlib.figure import Figure
    from credit_risk_nb.reports import png_bytes
    fig = Figure(figsize=(6, 4), layout='tight')
    ax = fig.subplots()
    for engine, style in (('local', 'o-'), ('dask', 's-')):
        t = table[table.engine == engine]
        ax.plot(t.rows, t.total_s, style, label=f'{engine}: total')
        ax.plot(t.rows, t.fit_s, style.replace('-', '--'), alpha=0.6, label=f'{engine}: fit only')
    ax.set(xscale='log', yscale='log', xlabel='rows (grown credit_risk data)', ylabel='seconds', title='Training time against rows (2 cores)')
    ax.grid(True, which='both', alpha=0.3); ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(fig))

def report(table:pd.DataFrame, ratios:pd.DataFrame, scoring:dict, args) -> str:
    from credit_risk_nb.reports import md_table
    shown = table.assign(rows=table.rows.map('{:,}'.format)).round(dict(load_s=1, fit_s=1, total_s=1, test_auc=4, peak_process_mb=0, peak_total_mb=0)).astype({'peak_process_mb': int, 'peak_total_mb': int})
    import platform, xgboost, dask
    goal_time = ratios.time_ratio.iloc[-1] <= 1.5
    goal_mem = ratios.memory_ratio.iloc[-1] < 1
    score_ratio = scoring['score_file_rows_s']/scoring['inplace_predict_rows_s']
    lines = [
        '# Scale benchmarks', '',
        '> Training time and peak memory from 100,000 rows up, single process against a Dask `LocalCluster`, and batch',
        '> scoring throughput against raw `Booster.inplace_predict`. Written by `python bench/scale.py`.', '',
        '**The figures come from grown data**: `bench/make_data.py` bootstraps the 32,581 loans of the Kaggle',
        '"Credit Risk Dataset" to N rows and perturbs them (income and amount by 2%, rate by 0.1 points, ages and',
        'lengths by a year; the module docstring lists the noise). They measure cost, not model quality: a bootstrap',
        'repeats the same applicants, so its test ROC-AUC is optimistic.', '',
        f'Machine: {os.cpu_count()} cores, {_memory_gib():.0f} GiB; Python {platform.python_version()}, XGBoost {xgboost.__version__}, '
        f'Dask {dask.__version__}. XGBoost: project defaults with at most {args.n_estimators} trees, early stopping on the validation part; '
        f'local = one process on all cores; dask = LocalCluster of {args.workers} workers x 1 thread plus the driver.', '',
        '## Training', '',
        'load = read + validate + split; fit = encoder, XGBoost, calibrator, cutoff and test metrics. Peak memory is the',
        'largest resident set of any one process (driver or worker) and of all of them together, sampled every 0.1 s.', '',
        md_table(shown[['rows', 'engine', 'load_s', 'fit_s', 'total_s', 'trees', 'test_auc', 'peak_process_mb', 'peak_total_mb']]), '',
        'Ratios, dask / local (time: total seconds; memory: peak of one process):', '',
        md_table(ratios.assign(rows=ratios.rows.map('{:,}'.format)).round(2)), '',
        '![Training time against rows](images/bench_scale.png)', '',
        '## Batch scoring', '',
        f"`score_file` on one Parquet file of {scoring['rows']:,} rows ({args.chunk_rows:,}-row chunks, no reasons): "
        f"{scoring['scored_rows']:,} rows written, {scoring['invalid']:,} invalid. Raw `Booster.inplace_predict` on the same rows, "
        f"already encoded, same {scoring['trees']}-tree model, same run:", '',
        md_table(pd.DataFrame([dict(path='score_file (read, check, encode, PD, decision, points, write)', seconds=round(scoring['score_file_s'], 2), rows_per_s=f"{scoring['score_file_rows_s']:,.0f}"),
                      dict(path='Booster.inplace_predict (encoded matrix in memory)', seconds=round(scoring['inplace_predict_s'], 2), rows_per_s=f"{scoring['inplace_predict_rows_s']:,.0f}")])), '',
        f"score_file reaches **{score_ratio:.0%}** of raw `inplace_predict` (goal: at least 50%). Both are measured once on a",
        "shared 2-core machine; across runs the ratio has ranged from 55% to 109% (raw `inplace_predict` over a whole",
        '1M-row matrix is itself noisy here), so read it as "within a factor of two of the bare model", not to the percent.', '',
        '## Against the goals', '',
        f"- Dask within 1.5 times the single-process time at the largest size ({table.rows.max():,} rows): "
        f"**{'met' if goal_time else 'not met'}** (ratio {ratios.time_ratio.iloc[-1]:.2f}).",
        f"- Lower peak memory per process with Dask: **{'met' if goal_mem else 'not met'}** (ratio {ratios.memory_ratio.iloc[-1]:.2f}).",
        f"- Batch scoring at least 50% of raw `inplace_predict`: **{'met' if score_ratio >= 0.5 else 'not met'}** ({score_ratio:.0%}).", '',
        '## What limits the numbers', '',
        '- Two cores: the LocalCluster\'s two single-threaded workers share the same two cores as the single process, so',
        '  Dask has no extra hardware here. Below about a million rows its fixed costs dominate (starting workers, task',
        '  scheduling, the collective between workers, collecting the validation part into the driver). Above that it has',
        '  been faster on this machine: each worker builds its histograms from its own half of the data in a',
        '  `DaskQuantileDMatrix` (bins, not a float copy), while the single process uses a `DMatrix` and two threads. On a',
        '  real cluster the data and the work spread over more machines.',
        '- Memory: the largest single process is smaller with Dask (each worker holds its share of the data, the driver',
        '  the validation part), but the processes together hold more than one process would: every worker carries its',
        '  own Python, pandas and XGBoost, and the driver keeps the validation part. Per-process memory is what decides',
        '  whether a data set fits a machine, so that is the goal measured.',
        '- Duplicates: the single process drops exact duplicates across the whole data set, Dask within each partition',
        '  (a global check would shuffle every row), so Dask may keep a few more rows; at 5,000,000 grown rows that was',
        '  175 rows (4,999,172 kept against 4,998,997).',
        '- Validation (text checks per field, the same `validate` as a single file) is most of "load"; Parquet columns are',
        '  turned back into text through Arrow before it, which is cheap next to the checks.',
        '- Batch scoring does more than the model: it reads the file, checks every field against the spec (one invalid row',
        '  must not stop a batch), encodes, calibrates and writes PD, decision and points, in one process.', '',
    ]
    return '\n'.join(lines)

def _memory_gib() -> float:
    import psutil; return psutil.virtual_memory().total/2**30

def main(args):
    from make_data import make
    sizes = [int(s) for s in args.sizes.split(',')]
    rows = []
    for n in sizes:
        path = make(n, quiet=True)
        for engine in ('local', 'dask'):
            cache = ROOT/'bench'/'data'/'scale_cache'/f'{n}_{engine}_{args.n_estimators}_{args.workers}.json'
            if cache.exists() and not args.fresh: r = json.loads(cache.read_text())
            else:
                r = run_child('local', path, args.n_estimators) if engine == 'local' else run_child('dask', path, args.n_estimators, args.workers)
                cache.parent.mkdir(parents=True, exist_ok=True); cache.write_text(json.dumps(r))
            rows.append(dict(rows=n, engine=engine, **r))
            print(f"{n:>10,} {engine:5s} load {r['load_s']:6.1f}s fit {r['fit_s']:6.1f}s total {r['total_s']:6.1f}s trees {r['trees']:4d} "
                  f"auc {r['test_auc']:.4f} peak/process {r['peak_process_mb']:7.0f} MB total {r['peak_total_mb']:7.0f} MB", flush=True)
    table = pd.DataFrame(rows)
    wide = table.pivot(index='rows', columns='engine')
    ratios = pd.DataFrame({'rows': wide.index, 'time_ratio': (wide.total_s.dask/wide.total_s.local).to_numpy(),
                           'fit_time_ratio': (wide.fit_s.dask/wide.fit_s.local).to_numpy(),
                           'memory_ratio': (wide.peak_process_mb.dask/wide.peak_process_mb.local).to_numpy(),
                           'total_memory_ratio': (wide.peak_total_mb.dask/wide.peak_total_mb.local).to_numpy()})
    print(); print(table.round(3).to_string(index=False)); print(); print(ratios.round(3).to_string(index=False))
    score_path = make(args.score_rows, ROOT/'bench'/'data'/f'score_{args.score_rows}.parquet', single=True, seed=99, quiet=True)
    scoring = run_child('score', score_path, make(sizes[0], quiet=True), args.chunk_rows)
    print(f"\nscore_file: {scoring['score_file_rows_s']:,.0f} rows/s; inplace_predict: {scoring['inplace_predict_rows_s']:,.0f} rows/s; "
          f"ratio {scoring['score_file_rows_s']/scoring['inplace_predict_rows_s']:.0%}; rows {scoring['rows']:,} -> {scoring['scored_rows']:,}")
    if args.out:
        plot(table, ROOT/'nbs'/'images'/'bench_scale.png')
        Path(args.out).write_text(report(table, ratios, scoring, args))
        (ROOT/'bench'/'data').mkdir(parents=True, exist_ok=True)
        table.to_csv(ROOT/'bench'/'data'/'scale_results.csv', index=False)
        print(f"\nWrote {args.out} and nbs/images/bench_scale.png")

if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--child':
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == 'local': result = child_local(rest[0], int(rest[1]))
        elif kind == 'dask': result = child_dask(rest[0], int(rest[1]), int(rest[2]))
        else: result = child_score(rest[0], rest[1], int(rest[2]))
        print(json.dumps(result, default=float)); sys.exit(0)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sizes', default='100000,1000000,5000000', help='comma-separated row counts')
    p.add_argument('--n_estimators', type=int, default=300, help='most XGBoost trees (early stopping decides)')
    p.add_argument('--workers', type=int, default=2, help='LocalCluster workers (1 thread each)')
    p.add_argument('--score_rows', type=int, default=1_000_000, help='rows of the batch-scoring file')
    p.add_argument('--chunk_rows', type=int, default=100_000, help='score_file chunk size')
    p.add_argument('--fresh', action='store_true', help='measure again instead of reusing bench/data/scale_cache/')
    p.add_argument('--out', default=str(ROOT/'nbs'/'bench_scale.md'), help="markdown page to write ('' to skip)")
    main(p.parse_args())
