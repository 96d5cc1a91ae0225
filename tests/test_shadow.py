"""Replicas that follow the champion and a shadow challenger, as users run them: `crnb_serve` (uvicorn, two workers)
on a real SQLite MLflow store in a throwaway CRNB_HOME; the decision log exported as `crnb_log` does, and `crnb_shadow`."""
import subprocess, sys, time
import numpy as np, pandas as pd, pytest, httpx
from test_api_server import Server, applicants, store, MODEL, BIN  # noqa: F401 (the `store` fixture)


@pytest.fixture(scope='module')
def two(store):
    "Version 1 (XGBoost) champion, version 2 (logistic regression) challenger."
    from credit_risk_nb.tracking import register, move_alias
    from credit_risk_nb.pipeline import train_and_log
    run_id, _, _ = train_and_log('logreg', store['data'], seed=0)
    assert register(run_id, MODEL)['version'] == '2'
    move_alias(MODEL, 'champion', '1', 'test: version 1 serves')
    return store


@pytest.fixture(scope='module')
def server(two):
    "`crnb_serve` with two workers that follow the champion and the challenger as shadow."
    srv = Server(two['env'], [str(BIN/'crnb_serve'), '--workers', '2', '--follow', '1', '--shadow', 'challenger'])
    yield srv
    srv.stop()


def cli(*args) -> str:
    r = subprocess.run([str(BIN/args[0]), *args[1:]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.mark.slow
def test_shadow_is_logged_and_reported(server, two, tmp_path):
    "Every decision holds both models' PDs; the answers show only the champion's; the report matches the exported log."
    from credit_risk_nb.decisions import DecisionLog
    from credit_risk_nb.backtest import shadow_report
    from credit_risk_nb import drift
    rows = applicants(two, 60, seed=3)
    answers = [httpx.post(f'{server.url}/predict', json=r, timeout=30) for r in rows[:30]]
    answers.append(httpx.post(f'{server.url}/predict/batch', json=dict(applicants=rows[30:]), timeout=30))
    assert all(a.status_code == 200 and a.json()['model']['version'] == '1' and 'shadow' not in a.text for a in answers)
    assert httpx.get(f'{server.url}/model').json()['shadow']['version'] == '2'
    log = DecisionLog()
    for _ in range(100):  # the shadow scores after the answers: wait for it, a bounded while
        if log.query()['shadow_pd'].notna().sum() == 60: break
        time.sleep(0.1)
    log.export(tmp_path/'log.csv')  # what `crnb_log` writes
    d = pd.read_csv(tmp_path/'log.csv', dtype={'model_version': str, 'shadow_version': str})
    assert len(d) == 60 and d['shadow_pd'].notna().all() and (d['shadow_version'] == '2').all() and (d['model_version'] == '1').all()
    ref = drift.numeric_bins(d['pd'], 10)
    expected = dict(n=60, agreement=(d['decision'] == d['shadow_decision']).mean(),
                    approval_rate_difference=(d['shadow_decision'] == 'approve').mean() - (d['decision'] == 'approve').mean(),
                    pd_correlation=np.corrcoef(d['pd'], d['shadow_pd'])[0, 1], psi=drift.psi(ref['shares'], drift.bin_shares(ref, d['shadow_pd'])))
    out = cli('crnb_shadow', '--output', str(tmp_path/'shadow.md'))
    printed = dict(l.split() for l in out.splitlines() if l.split() and l.split()[0] in expected)
    for k, v in expected.items(): assert abs(float(printed[k]) - v) <= 1e-4, (k, printed[k], v, out)
    assert 0 < expected['pd_correlation'] < 1 and 'No outcomes yet' in (tmp_path/'shadow.md').read_text()
    print(out)
    y = np.arange(60) % 4 == 0
    log.record_outcomes(pd.DataFrame(dict(request_id=d['request_id'], defaulted=y)))
    tested = shadow_report(log)['backtest'].set_index('model')
    assert abs(tested.loc['shadow', 'brier'] - np.mean((d['shadow_pd'] - y)**2)) < 1e-9 and tested.loc['champion', 'n'] == 60


@pytest.mark.slow
def test_workers_follow_the_champion(server, two):
    "Two workers with --follow 1: both swap in the new champion (and shadow) with no failed request meanwhile."
    from credit_risk_nb.tracking import move_alias
    row, latest, answered = applicants(two, 1)[0], {}, []
    try:
        move_alias(MODEL, 'champion', '2', 'test: follow')
        move_alias(MODEL, 'challenger', '1', 'test: follow')
        for _ in range(600):  # bounded: about a minute at most
            r = httpx.post(f'{server.url}/predict', json=row, timeout=30)
            assert r.status_code == 200, r.text
            answered.append(r.json()['model']['version'])
            m = httpx.get(f'{server.url}/model', timeout=30).json()
            latest[m['pid']] = (m['version'], m['shadow']['version'])
            if len(latest) == 2 and set(latest.values()) == {('2', '1')}: break
            time.sleep(0.1)
        assert len(latest) == 2 and set(latest.values()) == {('2', '1')}, (latest, server.output())
        assert answered[-1] == '2' and set(answered) <= {'1', '2'}
    finally:
        move_alias(MODEL, 'champion', '1', 'test: back'); move_alias(MODEL, 'challenger', '2', 'test: back')
