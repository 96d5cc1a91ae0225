"The console scripts as users run them: real subprocesses in a folder of the user's, a throwaway CRNB_HOME, a real SQLite MLflow store."
import os, re, subprocess, sys
from pathlib import Path
import pytest
from mlflow import MlflowClient
from credit_risk_nb import config
from credit_risk_nb.datasets import specs

GERMAN = config.package_dir()/'data'/'german.data'

def run(args, cwd, **env):
    "Run a console script in `cwd` (the test's CRNB_HOME and MLflow settings come from the environment)."
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900, env={**os.environ, **env})

def message(out, prog='crnb_train') -> str:
    "The error message a user reads: stderr from the command's own line on (papermill's progress bar ends with \\r)."
    return out.stderr[out.stderr.index(f'{prog}: '):]

def registered_models() -> list:
    return MlflowClient(tracking_uri=config.tracking_uri()).search_registered_models()

def assert_user_error(out, *needles, prog='crnb_train'):
    "Exit 2, a few lines naming the problem, no traceback anywhere."
    assert out.returncode == 2, (out.returncode, out.stderr[-3000:])
    text = message(out, prog)
    assert 'Traceback' not in out.stdout + out.stderr, out.stderr[-3000:]
    assert len(text.splitlines()) <= 6 and len(text) < 1500, text
    for needle in needles: assert needle in text, text
    return text

def test_text_in_numeric_column(crnb_home, tmp_path):
    "Text in a numeric column of the file: exit 2 naming the column and the file line, failed notebook kept, nothing registered."
    lines = GERMAN.read_text().splitlines()
    fields = lines[4].split(' ')
    fields[1] = 'six'  # duration, on the file's 5th line
    lines[4] = ' '.join(fields)
    (tmp_path/'loans.data').write_text('\n'.join(lines) + '\n')
    out = run(['crnb_train', '--data_path', 'loans.data'], tmp_path)
    text = assert_user_error(out, "DataError", "column 'duration'", "line 5 ('six')", str(tmp_path/'loans.data'), 'To fix:')
    kept = Path(re.search(r'executed notebook of the failed run: (\S+)', text)[1])
    assert kept.exists() and kept.parent == crnb_home.resolve()/'runs'
    assert 'without encryption' not in out.stderr
    assert registered_models() == []

def test_missing_column(crnb_home, shared_data, tmp_path):
    "A column the spec needs is missing: exit 2 naming it, nothing registered."
    text = (shared_data/'credit_risk_dataset.csv').read_text()
    (tmp_path/'loans.csv').write_text('\n'.join(l.rsplit(',', 1)[0] for l in text.splitlines()) + '\n')
    out = run(['crnb_train', '--dataset', 'credit_risk', '--data_path', 'loans.csv'], tmp_path)
    assert_user_error(out, "missing column(s) ['cb_person_cred_hist_length']")
    assert registered_models() == []

def test_long_value_is_shortened(crnb_home, tmp_path):
    "A 20,000-character cell is quoted in a few hundred characters at most."
    lines = GERMAN.read_text().splitlines()
    fields = lines[2].split(' ')
    fields[1] = 'x' * 20_000  # duration, on the file's 3rd line
    lines[2] = ' '.join(fields)
    (tmp_path/'loans.data').write_text('\n'.join(lines) + '\n')
    out = run(['crnb_train', '--data_path', 'loans.data'], tmp_path)
    text = assert_user_error(out, "column 'duration'", 'line 3')
    assert max(len(m) for m in re.findall(r"'(x+)", text)) <= 300

def test_bad_spec_and_missing_paths(crnb_home, tmp_path):
    "A spec the loader rejects and paths that do not exist: exit 2 before any kernel starts."
    (tmp_path/'loans.yaml').write_text(specs['german_credit'].to_yaml().replace('kind: categorical', 'kind: categorial', 1))
    out = run(['crnb_train', '--spec_path', 'loans.yaml', '--data_path', str(GERMAN)], tmp_path)
    assert_user_error(out, 'checking_status', 'categorial', 'To fix:')
    out = run(['crnb_train', '--data_path', 'loans.csv'], tmp_path)
    assert_user_error(out, f"data_path {tmp_path/'loans.csv'}", f'folder the command runs in ({tmp_path})')
    out = run(['crnb_retrain', '--holdout_path', 'holdout.csv'], tmp_path)
    assert_user_error(out, f"holdout_path {tmp_path/'holdout.csv'}", prog='crnb_retrain')
    assert not (crnb_home/'runs').exists() or not any((crnb_home/'runs').iterdir())

def test_help_imports_nothing_heavy(tmp_path):
    "`--help` of the pipeline commands needs neither papermill, MLflow nor pandas."
    code = "import sys, credit_risk_nb.cli; print(sorted({'papermill', 'mlflow', 'pandas', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.stdout.strip() == '[]', out.stdout + out.stderr
    for prog in ('crnb_train', 'crnb_retrain'):
        out = run([prog, '--help'], tmp_path)
        assert out.returncode == 0 and '--data_path' in out.stdout and '--spec_path' in out.stdout

@pytest.mark.slow
def test_relative_path_and_next_steps(crnb_home, tmp_path):
    "`crnb_train --data_path loans.data` in the user's folder: trains on that file, prints CV, promotion and next commands; a second run says why it was not promoted."
    (tmp_path/'loans.data').write_text('\n'.join(GERMAN.read_text().splitlines()[:900]) + '\n')  # not the embedded file
    tmp = tmp_path/'tmp'
    tmp.mkdir()
    out = run(['crnb_train', '--data_path', 'loans.data', '--n_estimators', '50', '--cv_repeats', '1'], tmp_path, TMPDIR=str(tmp))
    assert out.returncode == 0, out.stderr[-3000:]
    print(out.stdout)
    assert len(re.findall(r'1x5-fold cross-validation ROC-AUC 0\.\d{4} ± 0\.\d{4}', out.stdout)) == 2
    assert 'Version 1 is the champion' in out.stdout
    assert '  crnb_serve --model_uri models:/crnb_german_credit@champion  #' in out.stdout
    assert f"  mlflow ui --backend-store-uri sqlite:///{crnb_home.resolve()/'mlflow.db'}  #" in out.stdout
    for noise in ('without encryption', 'Downloading artifacts', 'Traceback'): assert noise not in out.stderr, out.stderr[-2000:]
    notebook = Path(re.search(r'Executed notebook: (\S+)', out.stdout)[1])
    assert notebook.parent == crnb_home.resolve()/'runs' and 'Downloading artifacts' not in notebook.read_text()
    assert not list(tmp.glob('crnb_*')), 'the kernel folder is removed'
    client = MlflowClient(tracking_uri=config.tracking_uri())
    champion = client.get_model_version_by_alias('crnb_german_credit', 'champion')
    assert client.get_run(champion.run_id).data.params['rows'] == '900'

    out = run(['crnb_train', '--data_path', 'loans.data', '--model', 'logreg', '--seed', '7'], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    print(out.stdout)
    new, old = (client.get_run(client.get_model_version('crnb_german_credit', v).run_id).data.metrics['valid_roc_auc'] for v in ('2', '1'))
    expected = (f"Version 2 is the new champion: its validation ROC-AUC {new:.4f} beats the previous champion's {old:.4f}." if new > old else
                f"Version 2 stays challenger: its validation ROC-AUC {new:.4f} does not beat champion version 1's {old:.4f}.")
    assert expected in out.stdout
