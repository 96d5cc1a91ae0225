"""MLflow pages a credit analyst can use: model-training experiments, registry descriptions from the model card, runs named
by data set, model and time, no local paths or home folder in what a run records. Real SQLite store in a tmp folder."""
import json, re, shutil
from pathlib import Path
import pytest
import nbformat
from mlflow import MlflowClient
from credit_risk_nb import config
from credit_risk_nb.pipeline import prepare, train_and_log, register_with_card
from credit_risk_nb.tracking import use_store, log_notebook

@pytest.fixture(scope='module')
def registered(tmp_path_factory):
    "One German Credit model trained from a copy of the file in a tmp folder, logged and registered in a fresh store."
    folder = tmp_path_factory.mktemp('tracking')
    data_file = folder/'applications'/'german.data'
    data_file.parent.mkdir()
    shutil.copy(config.package_dir()/'data'/'german.data', data_file)
    with pytest.MonkeyPatch.context() as env:
        env.setenv('CRNB_HOME', str(folder/'crnb'))
        env.setenv('MLFLOW_DISABLE_TELEMETRY', 'true')
        env.delenv('MLFLOW_TRACKING_URI', raising=False)
        experiment_id = use_store(experiment='crnb_german_credit')
        data = prepare('german_credit', str(data_file), seed=0)
        results = {'xgboost': train_and_log('xgboost', data, seed=0, params=dict(n_estimators=30))}
        yield dict(experiment_id=experiment_id, results=results, registered=register_with_card(results, 'crnb_german_credit', data),
                   data=data, client=MlflowClient(), folder=folder)

def test_experiment_opens_in_the_model_training_view(crnb_home):
    client = MlflowClient(config.tracking_uri())
    new = use_store(experiment='fresh')
    assert client.get_experiment(new).tags['mlflow.experimentKind'] == 'custom_model_development'
    old = client.create_experiment('made_before')  # e.g. by `mlflow.set_experiment` or an older version of the package
    assert 'mlflow.experimentKind' not in client.get_experiment(old).tags
    use_store(experiment='made_before')
    assert client.get_experiment(old).tags['mlflow.experimentKind'] == 'custom_model_development'

def test_registry_descriptions_come_from_the_model_card(registered):
    client, version = registered['client'], registered['registered']['version']
    metrics = registered['results']['xgboost'][2]
    about_version = client.get_model_version('crnb_german_credit', version).description
    about_model = client.get_registered_model('crnb_german_credit').description
    for about in (about_version, about_model):
        assert 'german_credit' in about and registered['data'].report.data_hash in about
        assert f"| roc_auc | {round(metrics['valid']['roc_auc'], 4)} | {round(metrics['test']['roc_auc'], 4)} |" in about, about
        assert 'Decline when PD >=' in about and 'Intended use' in about and 'Limits' in about
    assert about_model.startswith(f'**Champion: version {version}**')

def test_runs_are_named_by_data_set_model_and_time(registered):
    run = registered['client'].get_run(registered['results']['xgboost'][0])
    assert re.fullmatch(r'german_credit-xgboost-\d{4}-\d\d-\d\dT\d\d:\d\dZ', run.info.run_name), run.info.run_name

def test_no_local_path_or_home_folder_in_tags_and_params(registered):
    client, run_id = registered['client'], registered['results']['xgboost'][0]
    run = client.get_run(run_id)
    mv = client.get_model_version('crnb_german_credit', registered['registered']['version'])
    logged_model = client.get_logged_model(mv.source.removeprefix('models:/'))
    recorded = {**run.data.tags, **run.data.params, **logged_model.tags, **logged_model.params, **mv.tags,
                **client.get_registered_model('crnb_german_credit').tags, **client.get_experiment(registered['experiment_id']).tags,
                'version description': mv.description}
    assert run.data.tags['data_file'] == 'german.data' and run.data.tags['data_hash'] == registered['data'].report.data_hash
    for where in (str(registered['folder']), str(Path.home())):
        leaks = {k: v for k, v in recorded.items() if where in str(v)}
        assert not leaks, f"{where} recorded in {leaks}"

def test_executed_notebook_is_logged_as_html_without_the_home_folder(registered, tmp_path):
    executed = tmp_path/'train_20261125.ipynb'
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"data_path = {str(Path.home()/'loans.csv')!r}")]), executed)
    run_id = registered['results']['xgboost'][0]
    log_notebook(executed, [run_id], registered['client'])
    folder = Path(registered['client'].download_artifacts(run_id, 'notebook', str(tmp_path/'downloaded')))
    assert sorted(p.name for p in folder.iterdir()) == ['train_20261125.html', 'train_20261125.ipynb']
    page, notebook = (folder/'train_20261125.html').read_text(), (folder/'train_20261125.ipynb').read_text()
    assert '<html' in page.lower() and 'loans.csv' in page and json.loads(notebook)['cells']
    assert str(Path.home()) not in page + notebook
