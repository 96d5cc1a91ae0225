"""The promotion gate a validator would sign off, through the retrain pipeline on German Credit copies: shifted, degraded,
re-used rows, an overlapping holdout and fixed floors; then monitoring by the version that decided."""
import json, subprocess
import numpy as np, pandas as pd, pytest

pytestmark = pytest.mark.slow

def _write(path, lines):
    path.write_text('\n'.join(lines) + '\n'); return str(path)

@pytest.fixture
def german_parts(tmp_path):
    "German Credit's own lines, shuffled: A (400, the first champion's), B (400, new), C (200, never trained on)."
    from credit_risk_nb.config import package_dir
    lines = (package_dir()/'data'/'german.data').read_text().splitlines()
    lines = [lines[i] for i in np.random.default_rng(0).permutation(len(lines))]
    return lines[:400], lines[400:800], lines[800:]

def _shift_amount(line, factor):
    "German Credit line with its credit amount (5th field) multiplied by `factor`."
    f = line.split(' ')
    f[4] = str(int(int(f[4]) * factor))
    return ' '.join(f)

def _retrain(tmp_path, name, **params):
    from credit_risk_nb.cli import run_pipeline
    return run_pipeline('retrain', str(tmp_path/f'{name}.ipynb'), progress=False, seed=len(name), min_holdout_rows=50, **params)

def _versions(client):
    return sorted(int(v.version) for v in client.search_model_versions("name='crnb_german_credit'"))

def test_gate_blocks_what_a_validator_would(crnb_home, tmp_path, german_parts):
    from mlflow import MlflowClient
    from papermill.exceptions import PapermillExecutionError
    from credit_risk_nb.fit import row_hashes
    from credit_risk_nb.datasets import load_dataset
    from credit_risk_nb.tracking import use_store, alias_history
    A, B, C = german_parts
    holdout = _write(tmp_path/'C.data', C)
    first = _retrain(tmp_path, 'a', data_path=_write(tmp_path/'A.data', A))
    assert first['gate']['promoted'] and first['gate']['holdout']['overlap'] == {'challenger': 0}
    use_store(experiment='check'); client = MlflowClient()

    # the new file re-uses the champion's rows: its own test split loses them, and the gate judges on the rest
    both = _write(tmp_path/'AB.data', A + B)
    reused = _retrain(tmp_path, 'ab', data_path=both, auc_tolerance=1, brier_tolerance=1, ece_tolerance=1, fairness_tolerance=1)
    checked = reused['gate']['holdout']
    assert checked['overlap']['champion'] > 20 and checked['kept'] == checked['rows'] - checked['overlap']['champion'], checked
    assert reused['gate']['promoted'], [c['detail'] for c in reused['gate']['checks'] if c['passed'] is False]  # loose tolerances: only the holdout is under test here
    champion_rows = set(row_hashes(load_dataset('german_credit', tmp_path/'A.data')[0], 'german_credit'))
    test_rows = row_hashes(load_dataset('german_credit', both)[0], 'german_credit')
    assert champion_rows & set(test_rows)  # the overlap is real: A is inside AB

    # a shifted population: credit amounts x 2.5 in the new file; blocked on PSI, whatever the rest
    shifted = _retrain(tmp_path, 'shift', data_path=_write(tmp_path/'shift.data', [_shift_amount(l, 2.5) for l in A + B]), holdout_path=holdout,
                       auc_tolerance=1, brier_tolerance=1, ece_tolerance=1, fairness_tolerance=1)
    gate = shifted['gate']
    assert not gate['promoted'] and gate['failed'] == ['psi'], gate['failed']
    assert 'promotion blocked' in next(c['detail'] for c in gate['checks'] if c['check'] == 'psi')
    # the same with an override: promoted, and who and why are on record
    override = _retrain(tmp_path, 'shift2', data_path=str(tmp_path/'shift.data'), holdout_path=holdout, auc_tolerance=1, brier_tolerance=1,
                        ece_tolerance=1, fairness_tolerance=1, allow_drift='bigger loans are the new product (committee 2026-11)')
    assert override['gate']['promoted'] and override['gate']['override']['reason'].startswith('bigger loans')
    version = override['gate']['challenger']
    assert 'drift override by' in alias_history('crnb_german_credit', version)[-2]['reason']

    # a degraded copy (shuffled outcomes) on rows neither model saw: fails on ranking
    rng = np.random.default_rng(1)
    labels = rng.permutation([l.rsplit(' ', 1)[1] for l in A + B])
    degraded = _retrain(tmp_path, 'noise', data_path=_write(tmp_path/'noise.data', [l.rsplit(' ', 1)[0] + ' ' + y for l, y in zip(A + B, labels)]),
                        holdout_path=holdout)
    assert not degraded['gate']['promoted'] and 'roc_auc' in degraded['gate']['failed'], degraded['gate']['failed']

    # after a bad champion, relative checks pass anything: the fixed floor does not
    floor = _retrain(tmp_path, 'floor', data_path=str(tmp_path/'noise.data'), holdout_path=holdout, auc_tolerance=1, brier_tolerance=1,
                     ece_tolerance=1, fairness_tolerance=1, min_roc_auc=0.65, allow_drift='testing the floor')
    checks = {c['check']: c['passed'] for c in floor['gate']['checks']}
    assert not floor['gate']['promoted'] and checks['roc_auc'] and not checks['floor:roc_auc'], checks

    # a holdout file that overlaps a training set is refused before anything is registered
    before = _versions(client)
    with pytest.raises(PapermillExecutionError, match='shares applicants'):
        _retrain(tmp_path, 'overlap', data_path=both, holdout_path=_write(tmp_path/'bad_holdout.data', A[:150]))
    assert _versions(client) == before
    champion = client.get_model_version_by_alias('crnb_german_credit', 'champion').version
    assert str(champion) == str(version)
    import mlflow
    report = json.loads(mlflow.artifacts.load_text(f"runs:/{client.get_model_version('crnb_german_credit', str(champion)).run_id}/gate_report.json"))
    assert report['promoted'] and report['override']['by']


def test_drift_by_the_version_that_decided(crnb_home, tmp_path, german_parts):
    "Decisions of two versions in the log: `crnb_drift` compares each with its own reference (two reports)."
    from credit_risk_nb.decisions import DecisionLog, decision_rows
    from credit_risk_nb.tracking import load_scorer, raw_rows
    from credit_risk_nb.datasets import load_dataset
    A, B, C = german_parts
    for name, lines in (('one', A), ('two', A + B)):
        _retrain(tmp_path, name, data_path=_write(tmp_path/f'{name}.data', lines), holdout_path=_write(tmp_path/'C.data', C),
                 auc_tolerance=1, brier_tolerance=1, ece_tolerance=1, fairness_tolerance=1)
    applicants = raw_rows(load_dataset('german_credit', tmp_path/'C.data')[0], load_scorer('models:/crnb_german_credit/1').spec.columns).to_dict('records')
    log = DecisionLog()
    for version in ('1', '2'):
        scorer = load_scorer(f'models:/crnb_german_credit/{version}')
        for i, a in enumerate(applicants[:60]): log.record(decision_rows(f"v{version}-{i}", [a], scorer.score([a]), 'crnb_german_credit', version))
    out = subprocess.run(['crnb_drift', '--output', str(tmp_path/'drift.md'), '--no_mlflow'], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'Drift of crnb_german_credit version 1 on 60 applicants' in out.stdout and 'Drift of crnb_german_credit version 2 on 60 applicants' in out.stdout
    assert (tmp_path/'drift_crnb_german_credit_v1.md').exists() and (tmp_path/'drift_crnb_german_credit_v2.md').exists()
