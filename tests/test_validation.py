"The master scale and the validation report on every built-in data set: 7+ grades plus default, a grade in every score, per-grade tests, breaks of monotonicity reported."
import numpy as np, pytest
from credit_risk_nb.pipeline import prepare, fit_scorer
from credit_risk_nb.scoring import Scorer
from credit_risk_nb.validation import validate, findings, headline_metrics, write_validation_report

files = {'german_credit': None, 'hmeq': 'hmeq.csv', 'credit_risk': 'credit_risk_dataset.csv'}

@pytest.mark.parametrize('name', list(files))
def test_grades_and_validation(name, request, tmp_path):
    "Fit by the pipeline's recipe on each built-in data set (the shared files where they are), then grade and validate."
    path = None if files[name] is None else str(request.getfixturevalue('shared_data')/files[name])
    data = prepare(name, path)
    scorer, _ = fit_scorer('xgboost', data, params=dict(n_estimators=150))
    scale = scorer.scale
    assert len(scale.labels) >= 7 and scale.grades[-1] == 'D' and min(scale.pd) >= 0.0003
    assert np.all(np.diff(scale.pd) >= 0)
    scored = scorer.score(data.parts['test'])
    assert scored['grade'] == scale.grade(scored['pd']) and all(isinstance(g, str) for g in scored['grade'])
    assert Scorer.load(scorer.save(tmp_path/'bundle')).score(data.parts['test'].head(50))['grade'] == scored['grade'][:50]
    result = validate(scorer, data.parts['test'], monitoring=data.parts['valid'])
    grades, d = result['grades'], result['discrimination']
    assert grades['n'].sum() == len(data.parts['test']) and grades['defaults'].sum() == data.parts['test'][data.spec.target].sum()
    assert set(grades.loc[grades['n'] > 0, 'light']) <= {'green', 'yellow', 'red'} and (grades.loc[grades['n'] == 0, 'light'] == '').all()
    assert d['auc_low'] < d['roc_auc'] < d['auc_high'] and d['roc_auc'] > 0.7
    assert bool(result['monotone']) == any(f.startswith('Default rates not monotone') for f in findings(result))  # reported, never hidden
    assert result['stability']['psi'].lt(0.25).all(), result['stability']  # same population: the grade distribution holds
    metrics = headline_metrics(result)
    assert metrics['validation_green_grades'] + metrics['validation_yellow_grades'] + metrics['validation_red_grades'] == (grades['n'] > 0).sum()
    paths = write_validation_report(result, tmp_path)
    text = paths['md'].read_text()
    for g in grades.loc[grades['n'] > 0, 'grade']: assert f'| {g} |' in text
    assert 'Overrides and limitations' in text and list(tmp_path.glob('validation_report_*.png'))
    print(data.spec.name, grades.query('n > 0')[['grade', 'grade_pd', 'n', 'default_rate', 'jeffreys_p', 'light']].round(4).to_string(index=False), result['monotone'])
