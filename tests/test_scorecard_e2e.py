"""The classic scorecard as a credit team uses it: `crnb_train --model scorecard` registers it, `crnb_serve` answers with a
grade and reason codes, `crnb_export_sql` of the registered model answers as the API in SQLite, and
`/explain?recourse=true` suggests a change that the API then approves."""
import os, sqlite3, subprocess, sys
from pathlib import Path
import pandas as pd, pytest, httpx
from test_api_server import Server, MODEL

BIN = Path(sys.executable).parent


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    "A CRNB_HOME whose champion is a scorecard trained by `crnb_train`, served by `crnb_serve`."
    home = tmp_path_factory.mktemp('crnb_scorecard')
    env = {k: v for k, v in os.environ.items() if k not in ('MLFLOW_TRACKING_URI', 'CRNB_DATABASE_URL', 'CRNB_MODEL_NAME', 'CRNB_MODEL_URI')}
    env.update(CRNB_HOME=str(home), MLFLOW_DISABLE_TELEMETRY='true')
    out = subprocess.run([str(BIN/'crnb_train'), '--model', 'scorecard', '--cv_repeats', '0'], cwd=home, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    srv = Server(env, [str(BIN/'crnb_serve'), '--model_uri', f'models:/{MODEL}@champion'])
    yield dict(env=env, home=home, url=srv.url)
    srv.stop()


def applicants(n:int) -> list:
    "`n` German Credit applicants as the API receives them (the embedded file's raw rows)."
    from credit_risk_nb.datasets import load_dataset, german_credit
    frame = load_dataset('german_credit')[0].sample(n, random_state=3)
    names = [f.name for f in german_credit.features]
    return [{k: (v if isinstance(v, str) else float(v)) for k, v in r.items()} for r in frame[names].to_dict('records')]


def test_registered_scorecard_answers_in_api_and_sql(served):
    rows = applicants(60)
    answers = [httpx.post(f"{served['url']}/predict", json=r, timeout=30).json() for r in rows]
    from mlflow import MlflowClient
    run_ids = {a['model']['run_id'] for a in answers}
    assert len(run_ids) == 1 and MlflowClient(f"sqlite:///{served['home']}/mlflow.db").get_run(run_ids.pop()).data.tags['model'] == 'scorecard'
    assert all(a['grade'] for a in answers) and {'approve', 'decline'} == {a['decision'] for a in answers}
    assert all(len(a['reasons']) <= 4 for a in answers) and any(a['reasons'] for a in answers)
    out = subprocess.run([str(BIN/'crnb_export_sql'), f'models:/{MODEL}@champion', '--dialect', 'sqlite', '--keep', 'row_id'],
                         cwd=served['home'], env=served['env'], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    with sqlite3.connect(':memory:') as db:
        pd.DataFrame(rows).assign(row_id=range(len(rows))).to_sql('applicants', db, index=False)
        sql = pd.read_sql(out.stdout.strip().rstrip(';'), db).sort_values('row_id')
    assert sql.decision.tolist() == [a['decision'] for a in answers]
    assert sql.grade.tolist() == [a['grade'] for a in answers]
    assert (sql.pd - [a['pd'] for a in answers]).abs().max() < 1e-6  # the API rounds nothing; JSON floats round-trip
    assert (sql.points - [a['points'] for a in answers]).abs().max() < 1e-6


def test_recourse_gets_approved(served):
    from credit_risk_nb.datasets import german_credit
    fixed = [f.name for f in german_credit.features if not f.actionable]
    declined = [r for r in applicants(200) if httpx.post(f"{served['url']}/predict", json=r, timeout=30).json()['decision'] == 'decline'][:8]
    assert declined
    suggested = 0
    for row in declined:
        answer = httpx.post(f"{served['url']}/explain?recourse=true", json=row, timeout=60)
        assert answer.status_code == 200, answer.text
        recourse = answer.json()['recourse']
        if recourse is None: continue  # nothing within the ranges gets this applicant approved
        suggested += 1
        changed = recourse['applicant']
        assert {k: changed[k] for k in fixed} == {k: row[k] for k in fixed}  # protected and non-actionable fields never change
        assert set(recourse['changes']) <= {f.name for f in german_credit.features if f.actionable}
        again = httpx.post(f"{served['url']}/predict", json=changed, timeout=30).json()
        assert again['decision'] == 'approve' and again['pd'] == pytest.approx(recourse['pd'])
    assert suggested >= 1
