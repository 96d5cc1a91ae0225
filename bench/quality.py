"""Model quality side by side: this project's models against the libraries a credit team would try, on the same folds.

    python bench/quality.py --docs nbs/bench_quality.md     # all data sets, ~15 minutes on 2 cores
    python bench/quality.py --sets german --trials 5 --folds german=1x5   # a quick look
    python bench/quality.py --sets kaggle & python bench/quality.py --sets hmeq; python bench/quality.py --docs ...  # sets in parallel, then the page from the cache

Data sets (from ../shared/data): German Credit, Kaggle credit_risk with all fields and without the lender's
`loan_grade` and `loan_int_rate`, HMEQ. Folds: `fit.cv_folds` (repeated stratified k-fold), the same folds for
every model. Every model sees the same inputs: the project's encoder matrix of the fold's training rows (spec
fields, engineered ratios, missing-value flags; categoricals as codes, missing as NaN), fitted inside the fold.

- xgboost, logreg, scorecard: the project's own `fit.fit_bundle` (fit on 80% of the fold's training rows, early
  stopping, calibration and cutoff on the other 20%; XGBoost's trees then fitted again on all the fold's training
  rows, the refit `crnb_train` does), monotone constraints on; the PD is the calibrated one.
- xgboost tuned: the same with the parameters of `tuning.tune` (`--trials` trials, 3 folds) run once per data set
  on the training rows of the first fold; the first fold is strictly nested, later folds share rows with that
  search (mildly optimistic for them).
- LightGBM: default parameters, early stopping (100 rounds) on the same 20%; CatBoost: defaults, all fold
  training rows; HistGradientBoosting: scikit-learn defaults (its own early stopping above 10,000 rows);
  FLAML AutoML: `--budget` seconds per fold, ROC-AUC, all fold training rows. Peers' PDs are their own
  probabilities (no extra calibration). All models train on 2 threads.
"""
from __future__ import annotations
import argparse, os, platform, sys, time, warnings
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before any OpenMP library loads: spinning threads cost 30x on a shared machine
from pathlib import Path
import numpy as np, pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent/'shared'/'data'
os.environ.setdefault('MLFLOW_DISABLE_TELEMETRY', 'true')
warnings.filterwarnings('ignore')
from credit_risk_nb.datasets import load_dataset, get_spec
from credit_risk_nb.features import Encoder
from credit_risk_nb.fit import cv_folds, holdout, fit_bundle
from credit_risk_nb.models import model_types
from credit_risk_nb.evaluation import expected_calibration_error
from credit_risk_nb.tuning import tune
from sklearn.metrics import roc_auc_score

SETS = {'german': ('german_credit', None, ()), 'kaggle': ('credit_risk', 'credit_risk_dataset.csv', ()),
        'kaggle_no_grade_rate': ('credit_risk', 'credit_risk_dataset.csv', ('loan_grade', 'loan_int_rate')),
        'hmeq': ('hmeq', 'hmeq.csv', ())}
THREADS = 2

def project(kind, params=None):
    "A fit function for the project's model `kind` (the whole bundle: encoder, model, calibrator, cutoff)."
    def fit(spec, train, drop, seed):
        fit_part, valid_part = holdout(train, spec, 0.2, seed)
        scorer = fit_bundle(spec, fit_part, valid_part, kind, drop, seed, {**(params or {}), 'nthread': THREADS} if kind == 'xgboost' else None, reference=False)
        return lambda rows: scorer.score(rows, reasons=False)['pd']
    return fit

def peer(make):
    "A fit function for a peer library: `make(X, y, X_valid, y_valid, categorical, seed)` -> predict_proba(X) -> PD."
    def fit(spec, train, drop, seed):
        fit_part, valid_part = holdout(train, spec, 0.2, seed)
        enc = Encoder.fit(spec, train, drop=list(drop))
        y = lambda rows: rows[spec.target].to_numpy()
        cat = np.array([k == 'categorical' for k in enc.kinds])
        predict = make(enc, enc.matrix(train), y(train), enc.matrix(fit_part), y(fit_part), enc.matrix(valid_part), y(valid_part), cat, seed)
        return lambda rows: predict(enc.matrix(rows))
    return fit

def lightgbm(enc, X, y, X_fit, y_fit, X_valid, y_valid, cat, seed):
    import lightgbm as lgb
    model = lgb.LGBMClassifier(n_estimators=2000, random_state=seed, n_jobs=THREADS, verbose=-1)
    model.fit(X_fit, y_fit, eval_set=[(X_valid, y_valid)], categorical_feature=[int(j) for j in np.flatnonzero(cat)],
              callbacks=[lgb.early_stopping(100, verbose=False)])
    return lambda X_: model.predict_proba(X_)[:, 1]

def catboost(enc, X, y, X_fit, y_fit, X_valid, y_valid, cat, seed):
    from catboost import CatBoostClassifier
    frame = lambda X_: pd.DataFrame({j: (pd.Series(X_[:, j]).fillna(-1).astype(int).astype(str) if cat[j] else X_[:, j]) for j in range(X_.shape[1])})
    model = CatBoostClassifier(random_seed=seed, thread_count=THREADS, verbose=False, allow_writing_files=False)
    model.fit(frame(X), y, cat_features=list(np.flatnonzero(cat)))
    return lambda X_: model.predict_proba(frame(X_))[:, 1]

def hist_gb(enc, X, y, X_fit, y_fit, X_valid, y_valid, cat, seed):
    from sklearn.ensemble import HistGradientBoostingClassifier
    model = HistGradientBoostingClassifier(categorical_features=cat, random_state=seed).fit(X, y)
    return lambda X_: model.predict_proba(X_)[:, 1]

def flaml(budget):
    def make(enc, X, y, X_fit, y_fit, X_valid, y_valid, cat, seed):
        from flaml import AutoML
        frame = lambda X_: pd.DataFrame({c: (pd.Categorical(X_[:, j]) if cat[j] else X_[:, j]) for j, c in enumerate(enc.columns)})
        automl = AutoML()
        automl.fit(frame(X), y, task='classification', metric='roc_auc', time_budget=budget, seed=seed, n_jobs=THREADS, verbose=0)
        return lambda X_: automl.predict_proba(frame(X_))[:, 1]
    return make

def tuned_params(spec, frame, drop, fold, trials, seed) -> dict:
    "Best parameters of `tuning.tune` on the first fold's training rows (3 inner folds)."
    study = tune(frame.iloc[fold[0]].reset_index(drop=True), spec, trials, seed, drop, n_splits=3, fixed=dict(nthread=THREADS))
    return study.best_params

def run_set(name, trials, budget, n_repeats, n_splits, seed, models):
    spec_name, file, drop = SETS[name]
    spec = get_spec(spec_name)
    frame, _ = load_dataset(spec, DATA/file if file else None)
    folds = cv_folds(frame, spec, n_splits, n_repeats, seed)
    t = time.time(); best = tuned_params(spec, frame, drop, folds[0], trials, seed) if 'xgboost tuned' in models else {}
    print(f"{name}: {len(frame):,} rows, {len(folds)} folds; tuned in {time.time() - t:.0f} s: {best}", flush=True)
    fits = {'xgboost': project('xgboost'), 'xgboost tuned': project('xgboost', best), 'logreg': project('logreg'),
            'scorecard': project('scorecard'), 'LightGBM': peer(lightgbm), 'CatBoost': peer(catboost),
            'HistGradientBoosting': peer(hist_gb), f'FLAML ({budget:g} s)': peer(flaml(budget))}
    rows = []
    for model, fit in fits.items():
        if model.split(' (')[0] not in models or (model == 'scorecard' and 'scorecard' not in model_types): continue
        try:
            for i, (tr, te) in enumerate(folds):
                t = time.time()
                predict = fit(spec, frame.iloc[tr], drop, seed + i)
                seconds = time.time() - t
                y, p = frame[spec.target].to_numpy()[te], np.asarray(predict(frame.iloc[te]), 'float64')
                rows.append(dict(data=name, model=model, fold=i, roc_auc=roc_auc_score(y, p), brier=float(np.mean((p - y)**2)),
                                 ece=expected_calibration_error(y, p), fit_s=seconds))
        except Exception as e:  # a model that cannot run here is named, not fatal (e.g. a kind still being built)
            print(f"  {model:22s} skipped: {type(e).__name__}: {e}", flush=True)
            rows = [x for x in rows if x['model'] != model]
            continue
        r = pd.DataFrame([x for x in rows if x['model'] == model])
        print(f"  {model:22s} ROC-AUC {r.roc_auc.mean():.4f} ± {r.roc_auc.std():.4f}  fit {r.fit_s.mean():.1f} s/fold", flush=True)
    return pd.DataFrame(rows), best

def summary(folds:pd.DataFrame) -> pd.DataFrame:
    "Per data set and model: ROC-AUC mean, sd and standard error over the folds, Brier, ECE, fit seconds per fold; and whether it ties the best."
    g = folds.groupby(['data', 'model'], sort=False)
    out = g.agg(roc_auc=('roc_auc', 'mean'), sd=('roc_auc', 'std'), brier=('brier', 'mean'), ece=('ece', 'mean'), fit_s=('fit_s', 'mean'), folds=('fold', 'size')).reset_index()
    out['se'] = out['sd']/np.sqrt(out['folds'])
    best = out.groupby('data')['roc_auc'].transform('max')
    out['vs_best'] = np.where(out['roc_auc'] >= best - out['se'], 'tie/best', 'behind')
    return out[['data', 'model', 'roc_auc', 'sd', 'se', 'brier', 'ece', 'fit_s', 'vs_best']]

def plot(table:pd.DataFrame, path:Path):
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    sets = list(dict.fromkeys(table['data']))
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2*len(sets), 3.6), squeeze=False)
    for ax, name in zip(axes[0], sets):
        t = table[table['data'] == name]
        ax.errorbar(t['roc_auc'], range(len(t)), xerr=t['sd'], fmt='o', capsize=3)
        ax.set_yticks(range(len(t)), t['model']); ax.invert_yaxis()
        ax.set(title=name, xlabel='ROC-AUC (mean ± sd over folds)')
    fig.tight_layout(); fig.savefig(path, dpi=110)

CACHE = ROOT/'bench'/'data'/'quality_cache'

def cached(name, a, n_repeats, n_splits):
    "`run_set` of data set `name`, kept in bench/data/quality_cache/ (git ignores it) and reused unless --fresh: sets can run in separate processes."
    import json
    key = CACHE/f"{name}_{n_repeats}x{n_splits}_t{a.trials}_b{a.budget:g}_s{a.seed}_{a.models.replace(' ', '').replace(',', '+')}"
    if not a.fresh and key.with_suffix('.csv').exists():
        return pd.read_csv(key.with_suffix('.csv')), json.loads(key.with_suffix('.json').read_text()), True
    folds, best = run_set(name, a.trials, a.budget, n_repeats, n_splits, a.seed, a.models.split(','))
    CACHE.mkdir(parents=True, exist_ok=True)
    folds.to_csv(key.with_suffix('.csv'), index=False); key.with_suffix('.json').write_text(json.dumps(best))
    return folds, best, False

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sets', default=','.join(SETS), help='comma-separated: ' + ', '.join(SETS))
    ap.add_argument('--models', default='xgboost,xgboost tuned,logreg,scorecard,LightGBM,CatBoost,HistGradientBoosting,FLAML')
    ap.add_argument('--trials', type=int, default=10, help='Optuna trials for xgboost tuned (per data set)')
    ap.add_argument('--budget', type=float, default=10, help="FLAML's time budget per fold, seconds")
    ap.add_argument('--folds', default='german=2x5,hmeq=1x5,kaggle=1x3,kaggle_no_grade_rate=1x3', help='repeats x folds per data set')
    ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--fresh', action='store_true', help='measure again, ignoring bench/data/quality_cache/')
    ap.add_argument('--docs', help='write the Markdown page here (and its plot beside it, under images/)')
    a = ap.parse_args()
    folds = {k: tuple(map(int, v.split('x'))) for k, v in (kv.split('=') for kv in a.folds.split(',') if kv)}
    started, results = time.time(), [cached(s, a, *folds.get(s, (1, 5))) for s in a.sets.split(',')]
    folds, tuned = pd.concat([r[0] for r in results]), {s: r[1] for s, r in zip(a.sets.split(','), results)}
    table = summary(folds)
    from credit_risk_nb.reports import md_table
    text = md_table(table.round(dict(roc_auc=4, sd=4, se=4, brier=4, ece=4, fit_s=1)))
    print(text, f"\nTotal {time.time() - started:.0f} s", sep='\n')
    if a.docs: write_docs(Path(a.docs), text, table, tuned, a, time.time() - started, [s for s, r in zip(a.sets.split(','), results) if r[2]])

def write_docs(path:Path, text:str, table:pd.DataFrame, tuned:dict, a, seconds:float, from_cache:list=()):
    import xgboost, lightgbm, catboost, flaml, sklearn
    (path.parent/'images').mkdir(exist_ok=True)
    plot(table, path.parent/'images'/'bench_quality.png')
    versions = f"xgboost {xgboost.__version__}, LightGBM {lightgbm.__version__}, CatBoost {catboost.__version__}, FLAML {flaml.__version__}, scikit-learn {sklearn.__version__}"
    took = (f"sets {', '.join(from_cache)} measured by earlier runs and read from bench/data/quality_cache/" if from_cache else f"{seconds/60:.0f} minutes")
    page = [f"# Model quality benchmark", "> This project's models against LightGBM, CatBoost, HistGradientBoosting and FLAML on the same cross-validation folds.", "",
            f"Latest run of `python bench/quality.py --docs {path}` ({time.strftime('%Y-%m-%d')}, {took}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {versions}; load average {os.getloadavg()[0]:.1f} at the end):", "",
            text, "", "![ROC-AUC by model and data set](images/bench_quality.png)", "",
            "`sd`: standard deviation of ROC-AUC over the folds; `se` = sd/sqrt(folds); `vs_best`: within one standard error of the best mean ROC-AUC of the data set "
            "(a tie) or behind. Brier and ECE (expected calibration error, 10 quantile bins) are means over the folds; `fit_s`: seconds to fit one fold.", "",
            "Tuned XGBoost parameters (per data set):", "", *[f"- {s}: `{p}`" for s, p in tuned.items()], "", *__doc__.split('\n\n', 1)[1].splitlines()]
    path.write_text('\n'.join(page) + '\n')

if __name__ == '__main__': main()
