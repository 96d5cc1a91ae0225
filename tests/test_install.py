"""The package as a user installs it from a wheel (not editable): `crnb_train` finds its pipeline notebook and the
embedded data inside the installed package, and `crnb_serve` serves the model it registered.

Offline and fast: the wheel is built without build isolation, installed with `--no-deps` into a fresh virtual
environment without system site packages, and the dependencies come from this test's own environment through a
`.pth` line (a directory on sys.path: its `.pth` files, among them the editable install's finder, are not run)."""
import os, shutil, site, subprocess, sys, time
from pathlib import Path

import httpx, pytest

from test_api_server import Server

ROOT = Path(__file__).resolve().parents[1]
APPLICANT = dict(checking_status='A11', duration=48, credit_history='A32', purpose='A43', credit_amount=5951,
                 savings='A61', employment_since='A73', installment_rate=2, other_debtors='A101', residence_since=2,
                 property='A121', age=22, other_installment_plans='A143', housing='A152', existing_credits=1,
                 job='A173', people_liable=1, telephone='A191')


def _run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **{'timeout': 300, **kw})
    assert out.returncode == 0, f'{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}'
    return out


def build_wheel(dest:Path) -> Path:
    "A wheel of a copy of the package sources (the build leaves nothing in the source tree)."
    src = dest/'src'
    src.mkdir(parents=True)
    for name in ('setup.py', 'settings.ini', 'README.md'): shutil.copy2(ROOT/name, src/name)
    shutil.copytree(ROOT/'credit_risk_nb', src/'credit_risk_nb', ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    _run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '--no-index', str(src), '-w', str(dest/'wheels')],
         cwd=src)
    return next((dest/'wheels').glob('credit_risk_nb-*.whl'))


def install(wheel:Path, venv:Path) -> Path:
    "A venv holding only the wheel, with this environment's packages (not its editable credit_risk_nb) behind it."
    _run([sys.executable, '-m', 'venv', '--without-pip', str(venv)])
    py = venv/'bin'/'python'
    _run([sys.executable, '-m', 'pip', '--python', str(py), 'install', '-q', '--no-deps', '--no-index', str(wheel)])
    purelib = Path(_run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).stdout.strip())
    (purelib/'_crnb_test_deps.pth').write_text('\n'.join(site.getsitepackages()) + '\n')
    return venv/'bin'


@pytest.mark.slow
def test_wheel_install_trains_and_serves(tmp_path):
    t0 = time.monotonic()
    wheel = build_wheel(tmp_path/'build')
    names = subprocess.run([sys.executable, '-m', 'zipfile', '-l', str(wheel)], capture_output=True, text=True).stdout
    assert 'credit_risk_nb/pipelines/train.ipynb' in names and 'credit_risk_nb/pipelines/retrain.ipynb' in names
    assert 'credit_risk_nb/data/german.data' in names and 'credit_risk_nb/docs.py' not in names
    bin_ = install(wheel, tmp_path/'venv')
    t_install = time.monotonic() - t0

    work, home = tmp_path/'work', tmp_path/'home'
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'MLFLOW_TRACKING_URI', 'CRNB_DATABASE_URL', 'CRNB_MODEL_NAME', 'CRNB_MODEL_URI', 'CRNB_API_KEY')}
    env.update(CRNB_HOME=str(home), MLFLOW_DISABLE_TELEMETRY='true', PATH=f"{bin_}{os.pathsep}{env.get('PATH', '')}")

    probe = ('import credit_risk_nb, credit_risk_nb.cli as c; from jupyter_client.kernelspec import KernelSpecManager as K\n'
             'print(credit_risk_nb.__file__); print(c.pipeline_notebook()); print(K().get_kernel_spec("python3").argv[0])')
    where = _run([str(bin_/'python'), '-c', probe], cwd=work, env=env).stdout.split()
    # the package, its pipeline notebook and papermill's kernel all come from the new venv, not the source tree
    assert all(p.startswith(str(tmp_path/'venv')) for p in where), where

    out = _run([str(bin_/'crnb_train'), '--model', 'xgboost', '--n_estimators', '100', '--output', 'train_out.ipynb'],
               cwd=work, env=env, timeout=600)
    assert 'Registered crnb_german_credit version 1' in out.stdout, out.stdout
    assert (work/'train_out.ipynb').exists()  # a relative --output lands in the caller's folder
    t_train = time.monotonic() - t0 - t_install

    srv = Server(env, cmd=[str(bin_/'crnb_serve'), '--host', '127.0.0.1'], timeout=120)
    try:
        r = httpx.post(f'{srv.url}/predict', json=APPLICANT, timeout=30)
        assert r.status_code == 200, r.text + srv.output()
        assert 0 <= r.json()['pd'] <= 1
    finally: srv.stop()
    print(f'build + install {t_install:.1f}s, crnb_train {t_train:.1f}s, serve + predict {time.monotonic() - t0 - t_install - t_train:.1f}s')
