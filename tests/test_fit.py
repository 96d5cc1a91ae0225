"The one fit recipe reproduces the bundles of the four copies it replaced: same data, same seed, same PDs."
import json
from pathlib import Path
import numpy as np, pytest
from credit_risk_nb.pipeline import prepare, fit_scorer

REFERENCE = json.loads((Path(__file__).parent/'fixtures'/'reference_pds.json').read_text())
FILES = {'german_credit': None, 'credit_risk': 'credit_risk_dataset.csv', 'hmeq': 'hmeq.csv'}

@pytest.mark.parametrize('dataset', list(FILES))
def test_refactor_changes_no_number(dataset, shared_data):
    "PDs of the first 300 test applicants and the cutoff equal those saved before the refactor (fixtures/make_reference_pds.py)."
    data = prepare(dataset, FILES[dataset] and shared_data/FILES[dataset], seed=42)
    for kind in ('xgboost', 'logreg'):
        expected = REFERENCE[f'{dataset}/{kind}']
        scorer, metrics = fit_scorer(kind, data, seed=42)
        np.testing.assert_allclose(scorer.score(data.parts['test'].head(300))['pd'], expected['pd'], rtol=0, atol=1e-9)
        assert scorer.cutoff == pytest.approx(expected['cutoff'], abs=1e-12)
        assert metrics['test']['roc_auc'] == pytest.approx(expected['roc_auc'], abs=1e-12)
        assert scorer.reference is not None and scorer.provenance.dataset == data.spec.name

def test_missing_indicator_lifts_logreg(shared_data):
    "HMEQ's DEBTINC is unknown for a fifth of applicants, who default far more often: the flag its spec declares (`indicator: true`) lifts the logistic model's cross-validated ROC-AUC by over 0.05 (0.80 -> 0.89)."
    from dataclasses import replace
    from credit_risk_nb.datasets import load_dataset, hmeq
    from credit_risk_nb.fit import repeated_cv
    assert hmeq['DEBTINC'].indicator
    frame, _ = load_dataset(hmeq, shared_data/'hmeq.csv')
    without = replace(hmeq, features=[replace(f, indicator=False) for f in hmeq.features])
    auc = {s['DEBTINC'].indicator: repeated_cv(frame, s, 'logreg', n_repeats=1, calibration=('platt',))['mean']['roc_auc'] for s in (hmeq, without)}
    assert auc[True] > auc[False] + 0.05, auc
