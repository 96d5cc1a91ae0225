"`crnb_export_sql`: the SQL of a bundle, run in SQLite and PostgreSQL on 10,000 applicants (missing, out-of-range and unknown values included), answers as the Python Scorer does."
import os, sqlite3, subprocess, sys
from dataclasses import replace
import numpy as np, pandas as pd, pytest
from credit_risk_nb.datasets import load_dataset, german_credit
from credit_risk_nb.features import Encoder
from credit_risk_nb.models import split, fit_model, Calibrator
from credit_risk_nb.evaluation import cost_cutoff
from credit_risk_nb.scoring import Scorer
from credit_risk_nb.grades import fit_scale
from credit_risk_nb.batch import score_frame
from credit_risk_nb.sqlexport import export_sql, crnb_export_sql

OPTIONAL = ['duration', 'credit_amount', 'savings', 'age']  # fields this variant of German Credit allows to be missing

@pytest.fixture(scope='module')
def data():
    "German Credit with some fields optional (and missing in 8% of the training rows), split."
    spec = replace(german_credit, features=[replace(f, missing=True) if f.name in OPTIONAL else f for f in german_credit.features])
    frame = load_dataset('german_credit')[0]
    rng = np.random.default_rng(0)
    for c in OPTIONAL: frame[c] = frame[c].where(rng.random(len(frame)) > 0.08)
    return spec, split(frame, spec.target)

def bundle(spec, parts, kind, calibration) -> Scorer:
    "A bundle of model `kind`, calibrated by `calibration`, with a master scale."
    enc = Encoder.fit(spec, parts['train'])
    X, y = {k: enc.matrix(v) for k, v in parts.items()}, {k: v[spec.target].to_numpy() for k, v in parts.items()}
    model = fit_model(kind, enc, X['train'], y['train'], X['valid'], y['valid'])
    calibrator = Calibrator.fit(model.margin(X['valid']), y['valid'], methods=(calibration,))
    pd_valid = calibrator(model.margin(X['valid']))
    return Scorer(enc, model, calibrator, cost_cutoff(y['valid'], pd_valid, spec.cost_fn, spec.cost_fp), scale=fit_scale(pd_valid, y['valid']))

def applicants(spec, frame, n=10_000, seed=1) -> pd.DataFrame:
    "`n` applicants resampled from `frame`, numbers perturbed; some values missing, out of range or unknown codes."
    rng = np.random.default_rng(seed)
    rows = frame.sample(n, replace=True, random_state=seed).drop(columns=spec.target).reset_index(drop=True)
    for f in spec.features:
        if f.kind == 'numeric':
            x = rows[f.name].astype('float64')*rng.lognormal(0, 0.2, n)
            x = (x.round() if f.integer else x.round(2)).clip(f.min, f.max)
            x[rng.random(n) < 0.005] = f.max + 1 if f.max is not None else x.max()*10
            x[rng.random(n) < 0.005] = f.min - 1 if f.min is not None else -1
            rows[f.name] = x
        else:
            rows[f.name] = rows[f.name].astype(object).where(rng.random(n) > 0.002, 'A999')
        rows.loc[rng.random(n) < (0.05 if f.missing else 0.005), f.name] = np.nan
    return rows.assign(row_id=np.arange(n))

def in_database(rows, sql, backend) -> pd.DataFrame:
    "Load `rows` as table `applicants` into a fresh database of `backend` and run `sql` there."
    if backend == 'sqlite':
        with sqlite3.connect(':memory:') as db:
            rows.to_sql('applicants', db, index=False)
            return pd.read_sql(sql, db)
    url = os.environ.get('CRNB_TEST_PG_URL')
    if not url: (pytest.fail if os.environ.get('CI') else pytest.skip)('CRNB_TEST_PG_URL not set: `. .ci/services` starts PostgreSQL')
    import sqlalchemy as sa
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            rows.to_sql('applicants', conn, index=False, if_exists='replace')
            return pd.read_sql(sa.text(sql), conn)
    finally: engine.dispose()

@pytest.mark.parametrize('backend', ['sqlite', 'postgresql'])
@pytest.mark.parametrize('calibration', ['platt', 'isotonic'])
def test_scorecard_sql_answers_as_python(data, backend, calibration):
    spec, parts = data
    scorer = bundle(spec, parts, 'scorecard', calibration)
    rows = applicants(spec, pd.concat(parts.values()))
    python = score_frame(rows, scorer, keep=['row_id'])
    sql = in_database(rows, export_sql(scorer, backend, keep=['row_id']), backend).sort_values('row_id').reset_index(drop=True)
    ok = python.error.isna().to_numpy()
    assert 0.5 < ok.mean() < 0.9 and {'approve', 'decline', 'invalid'} == set(python.decision)  # every case is there
    assert rows.loc[ok, OPTIONAL].isna().any(axis=None)  # missing values scored (their own bins)
    assert (sql.decision == python.decision).all()
    assert (sql.error.fillna('') == python.error.fillna('')).all()
    np.testing.assert_allclose(sql.pd[ok], python.pd[ok], rtol=0, atol=1e-9)
    np.testing.assert_allclose(sql.points[ok], python.points[ok], rtol=0, atol=1e-9)
    assert sql.pd[~ok].isna().all() and sql.grade[~ok].isna().all()
    assert sql.grade[ok].tolist() == scorer.grades(python.pd[ok].to_numpy())

def test_crnb_export_sql(data, tmp_path, capsys):
    "The console script on bundle folders: a logistic model's SELECT runs in SQLite; XGBoost is refused, exit status 2, with what to do."
    spec, parts = data
    linear = bundle(spec, parts, 'logreg', 'platt')
    linear.save(tmp_path/'logreg')
    rows = applicants(spec, pd.concat(parts.values()), n=500)
    out = subprocess.run(['crnb_export_sql', str(tmp_path/'logreg'), '--dialect', 'sqlite', '--keep', 'row_id', '--output', 'score.sql'],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and 'score.sql' in out.stdout, out.stderr
    sql = in_database(rows, (tmp_path/'score.sql').read_text().rstrip().rstrip(';'), 'sqlite').sort_values('row_id')
    assert (sql.decision.to_numpy() == score_frame(rows, linear).decision.to_numpy()).all()
    enc = linear.encoder
    trees = fit_model('xgboost', enc, enc.matrix(parts['train']), parts['train'][spec.target], enc.matrix(parts['valid']), parts['valid'][spec.target], n_estimators=10)
    Scorer(enc, trees, linear.calibrator, linear.cutoff).save(tmp_path/'xgboost')
    with pytest.raises(SystemExit) as exit: crnb_export_sql(str(tmp_path/'xgboost'))  # in this process: one interpreter start is enough
    message = capsys.readouterr().err
    assert exit.value.code == 2 and 'xgboost model has no SQL form' in message and 'To fix: export a scorecard' in message, message
