"Shared pytest fixtures: every test gets its own throwaway CRNB_HOME (MLflow store, artifacts, decision log)."
import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get('CRNB_SHARED_DATA', ROOT.parent/'shared'/'data'))

def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: real training on the big files, servers, load tests (still run in CI)')

@pytest.fixture
def crnb_home(tmp_path, monkeypatch):
    "A fresh, empty project store for one test."
    monkeypatch.setenv('CRNB_HOME', str(tmp_path/'crnb'))
    monkeypatch.setenv('MLFLOW_DISABLE_TELEMETRY', 'true')
    monkeypatch.delenv('MLFLOW_TRACKING_URI', raising=False)
    monkeypatch.delenv('CRNB_DATABASE_URL', raising=False)
    monkeypatch.delenv('MLFLOW_REGISTRY_URI', raising=False)
    from credit_risk_nb.tracking import use_tracking
    use_tracking()  # MLflow's in-process tracking and registry URIs: this test's store, not an earlier test's
    return tmp_path/'crnb'

@pytest.fixture
def shared_data():
    "Folder of the team's shared credit data sets (skips the test where it is absent)."
    if not (SHARED/'credit_risk_dataset.csv').exists():
        (pytest.fail if os.environ.get('CI') else pytest.skip)(f'shared data not found at {SHARED}')
    return SHARED
