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
