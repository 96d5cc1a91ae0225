"""A team's deployment: one MLflow tracking server on PostgreSQL (`.ci/services` starts it as docker-compose.yml's `mlflow`
service), trainers and replicas pointed at it by URL; trainers and registrations started at the same instant; the
container files linted, and every command the containers run, run here as a real process."""
import json, os, re, subprocess, sys, time, uuid
from pathlib import Path
import pandas as pd, pytest, httpx, yaml
from mlflow import MlflowClient
from test_api_server import Server
from test_cli import run, GERMAN

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT/'docker-compose.yml').read_text())
SERVICES = COMPOSE['services']
DOCKERFILE = (ROOT/'Dockerfile').read_text()
HEALTHCHECK = json.loads(re.search(r'^HEALTHCHECK .*?CMD (\[[^\n]*\])$', DOCKERFILE, re.S | re.M)[1])  # the image's, as an argv

# --- the shared tracking server of .ci/services, and the containers' settings mapped onto it ---

@pytest.fixture(scope='module')
def server() -> dict:
    "The MLflow server of `.ci/services`: its URL, process id and PostgreSQL port."
    url = os.environ.get('CRNB_TEST_MLFLOW_URL')
    if not url: (pytest.fail if os.environ.get('CI') else pytest.skip)('CRNB_TEST_MLFLOW_URL not set: `. .ci/services` starts PostgreSQL and the MLflow server')
    return dict(url=url, pid=int(os.environ['CRNB_TEST_MLFLOW_PID']), pg_port=os.environ['CRNB_PG_PORT'])

def interpolate(value:str) -> str:
    "Compose's `${VAR:-default}` as compose fills it from the environment."
    return re.sub(r'\$\{(\w+):-([^}]*)\}', lambda m: os.environ.get(m[1], m[2]), str(value))

def addresses(server:dict) -> dict:
    "The compose network's addresses -> the test services' (the only thing that differs between them and the containers)."
    return {'@postgres:5432/': f"@127.0.0.1:{server['pg_port']}/", 'http://mlflow:5000': server['url']}

def local_env(service:str, server:dict, **more) -> dict:
    "This process's environment plus the compose service's own, its addresses mapped onto the test services."
    env = {k: interpolate(v) for k, v in SERVICES[service].get('environment', {}).items()}
    for k, v in env.items():
        for compose, here in addresses(server).items(): env[k] = v = v.replace(compose, here)
    return {**os.environ, 'CRNB_HOME': more.pop('home'), **env, **more}

def argv(service:str) -> list:
    "The command a compose service runs: its entrypoint (else the image's) and command."
    entry = SERVICES[service].get('entrypoint') or json.loads(re.search(r'^ENTRYPOINT (.+)$', DOCKERFILE, re.M)[1])
    return list(entry) + list(SERVICES[service].get('command') or [])

def serve_argv(argv_:list) -> list:
    "The api's command on 127.0.0.1 (the `Server` helper adds a free port)."
    out, args = [], iter(argv_)
    for a in args:
        if a in ('--host', '--port'): next(args); continue
        out.append(a)
    return out + ['--host', '127.0.0.1']

def healthcheck(test:list, port:int) -> list:
    "A healthcheck's command (Dockerfile `HEALTHCHECK CMD` or compose `test`) with the container's port mapped."
    cmd = test[1:] if test[0] in ('CMD', 'CMD-SHELL') else test
    return [re.sub(r'127\.0\.0\.1:\d+', f'127.0.0.1:{port}', c) for c in cmd]

def passes(cmd:list, tries:int=60) -> bool:
    "Does `cmd` exit 0 within `tries` attempts half a second apart (a healthcheck with retries)?"
    for _ in range(tries):
        if subprocess.run(cmd, capture_output=True).returncode == 0: return True
        time.sleep(0.5)
    return False

def champion_story(client:MlflowClient, name:str) -> list:
    "The champion's moves from every version's `alias_history`, checked to be one chain: one first champion, each move from the previous holder, ending at the alias."
    sets, removed = {}, {}
    for mv in client.search_model_versions(f"name='{name}'"):
        for e in json.loads(mv.tags.get('alias_history', '[]')):
            if e.get('alias') != 'champion': continue
            if e['action'] == 'set': assert str(mv.version) not in sets, (mv.version, e); sets[str(mv.version)] = e['previous']
            if e['action'] == 'removed': removed[str(mv.version)] = e['next']
    firsts = [v for v, previous in sets.items() if previous is None]
    assert len(firsts) == 1, f"{len(firsts)} first champions: {sets}"
    chain = firsts
    while nexts := [v for v, previous in sets.items() if str(previous) == chain[-1]]:
        assert len(nexts) == 1, f"version {chain[-1]} handed over twice: {sets}"
        assert removed.get(chain[-1]) == nexts[0], f"version {chain[-1]} records no hand-over to {nexts[0]}: {removed}"
        chain += nexts
    assert sorted(chain) == sorted(sets), f"moves outside the chain {chain}: {sets}"
    assert str(client.get_model_version_by_alias(name, 'champion').version) == chain[-1]
    return chain

# --- trainers and registrations at the same instant ---

REGISTER = '''import sys, time
from pathlib import Path
from credit_risk_nb.tracking import use_tracking, register
uri, run_id, name, barrier, n = sys.argv[1:]
use_tracking(uri)
(Path(barrier)/run_id).touch()  # ready; then all go at once
for _ in range(6000):
    if len(list(Path(barrier).iterdir())) == int(n): break
    time.sleep(0.01)
print(register(run_id, name))'''

@pytest.fixture(params=['sqlite', 'server'])
def store(request, crnb_home):
    "A fresh SQLite store, or the tracking server with a model name of its own."
    if request.param == 'sqlite': return dict(uri=None, name='crnb_german_credit')
    return dict(uri=request.getfixturevalue('server')['url'], name=f'crnb_team_{uuid.uuid4().hex[:8]}')

@pytest.mark.slow
def test_registrations_at_the_same_instant(store, crnb_home, tmp_path):
    "Three processes register three models at the same instant: one first champion, each move from the holder before."
    from credit_risk_nb.tracking import use_store
    from credit_risk_nb.pipeline import prepare, train_and_log
    uri = use_store(store['uri'], 'crnb_team') and (store['uri'] or f"sqlite:///{crnb_home.resolve()/'mlflow.db'}")
    runs = [train_and_log('logreg', prepare('german_credit', seed=seed), seed=seed)[0] for seed in (0, 1, 2)]  # three splits: three different figures
    (tmp_path/'barrier').mkdir()  # the three register at the same instant, once all have imported MLflow
    procs = [subprocess.Popen([sys.executable, '-c', REGISTER, uri, run_id, store['name'], str(tmp_path/'barrier'), '3'], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for run_id in runs]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in outs]
    client = MlflowClient(uri, uri)
    assert len(client.search_model_versions(f"name='{store['name']}'")) == 3
    reasons = [e['reason'] for mv in client.search_model_versions(f"name='{store['name']}'")
               for e in json.loads(mv.tags['alias_history']) if e.get('alias') == 'champion' and e['action'] == 'set']
    assert sum('(first champion)' in r for r in reasons) == 1, reasons
    champion_story(client, store['name'])
    assert not [m.name for m in client.search_registered_models() if m.name.endswith('.lock')]  # every lock released

@pytest.mark.slow
def test_two_trainers_on_a_fresh_sqlite_store(crnb_home, tmp_path):
    "Two `crnb_train` started together on an empty project store: both succeed (no schema set-up race), one story."
    cmd = ['crnb_train', '--model', 'logreg', '--cv_repeats', '0']
    procs = [subprocess.Popen(cmd + ['--seed', str(seed)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-3000:] for _, err in outs]
    client = MlflowClient()
    assert sorted(int(v.version) for v in client.search_model_versions("name='crnb_german_credit'")) == [1, 2]
    champion_story(client, 'crnb_german_credit')

# --- the team on the tracking server, with the containers' own commands ---

@pytest.mark.slow
def test_team_on_the_tracking_server(server, tmp_path):
    """Two trainers together (the compose trainer's command), the api's command answering /predict from the champion with
    its healthchecks passing, `crnb_score`, `crnb_retrain` and the papermill train notebook: all against the server."""
    name = f'crnb_team_{uuid.uuid4().hex[:8]}'
    env = lambda service, **more: local_env(service, server, home=str(tmp_path/'home'), CRNB_MODEL_NAME=name, **more)
    trainers = [subprocess.Popen(argv('trainer'), cwd=tmp_path, env=env('trainer'), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]  # the same command twice at once: one first champion, the other stays challenger
    outs = [p.communicate(timeout=600) for p in trainers]
    assert [p.returncode for p in trainers] == [0, 0], [err[-3000:] for _, err in outs]
    assert all(f"MLflow store: {server['url']}" in out for out, _ in outs)
    client = MlflowClient(server['url'], server['url'])
    champion = champion_story(client, name)[-1]

    api = Server(env('api', CRNB_DATABASE_URL=f"postgresql+psycopg://crnb:crnb@127.0.0.1:{server['pg_port']}/crnb"), serve_argv(argv('api')), timeout=180)
    try:
        for check in (HEALTHCHECK, SERVICES['api']['healthcheck']['test']):
            assert passes(healthcheck(check, api.port)), api.output()
        from credit_risk_nb.datasets import load_dataset
        from credit_risk_nb.tracking import raw_rows, load_scorer
        scorer = load_scorer(f'models:/{name}@champion', server['url'])
        applicants = raw_rows(load_dataset('german_credit')[0], scorer.encoder.inputs).head(3).to_dict('records')
        answer = httpx.post(f'{api.url}/predict', json=applicants[0], timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()['model']['version'] == champion
        assert abs(answer.json()['pd'] - scorer.score(applicants[:1])['pd'][0]) < 1e-9
    finally: api.stop()

    home = tmp_path/'home'
    (tmp_path/'applicants.data').write_text('\n'.join(GERMAN.read_text().splitlines()[:50]) + '\n')  # in the data set's own format
    scored = run(['crnb_score', f'models:/{name}@champion', 'applicants.data', 'scored.csv', '--no_progress'], tmp_path, **env('trainer'))
    assert scored.returncode == 0, scored.stderr[-3000:]
    scores = pd.read_csv(tmp_path/'scored.csv')
    assert len(scores) == 50 and scores['pd'].between(0, 1).all(), scores.head()

    retrained = run(['crnb_retrain', '--model', 'logreg', '--seed', '42', '--auc_tolerance', '1', '--brier_tolerance', '1', '--ece_tolerance', '1',
                     '--fairness_tolerance', '1'], tmp_path, **env('trainer'))  # the trainers' split: a test split neither model saw
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert f'Registered {name} version 3 as challenger' in retrained.stdout
    champion_story(client, name)

    from credit_risk_nb.cli import run_pipeline
    result = run_pipeline('train', str(tmp_path/'train.ipynb'), progress=False, model='logreg', cv_repeats=0, tracking_uri=server['url'], model_name=name)
    assert result['registered']['version'] == '4' and 'mlflow-artifacts' in client.get_run(result['runs']['logreg']).info.artifact_uri
    assert sorted(a.path for a in client.list_artifacts(result['runs']['logreg'], 'notebook')) == ['notebook/train.html', 'notebook/train.ipynb']
    champion_story(client, name)
    assert not (home/'mlflow.db').exists()  # everything went to the server

# --- the container files ---

def test_dockerfile_lints_clean():
    "hadolint (the PyPI wheel's binary) finds nothing in the Dockerfile."
    out = subprocess.run(['hadolint', '--no-color', str(ROOT/'Dockerfile')], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr

def test_dockerfile_shape(tmp_path):
    "Slim base, CPU XGBoost, never root, serves by default, healthcheck on /health/ready; what it copies is in the build context and builds the package."
    assert re.search(r'^FROM python:3\.\d+-slim', DOCKERFILE, re.M)
    assert re.search(r'^USER (?!root|0\b)\S+', DOCKERFILE, re.M) and '[cpu]' in DOCKERFILE
    assert json.loads(re.search(r'^ENTRYPOINT (.+)$', DOCKERFILE, re.M)[1]) == ['crnb_serve']
    assert HEALTHCHECK[:2] == ['python', '-c'] and '/health/ready' in HEALTHCHECK[2]
    sources = [s for line in re.findall(r'^COPY (.+) \S+$', DOCKERFILE, re.M) for s in line.split()]
    allowed = [l[1:].rstrip('/') for l in (ROOT/'.dockerignore').read_text().splitlines() if l.startswith('!')]
    assert sorted(sources) == sorted(allowed), (sources, allowed)  # the build context is exactly what the image copies
    context = tmp_path/'context'
    context.mkdir()
    for s in sources: subprocess.run(['cp', '-r', str(ROOT/s), str(context/s)], check=True)
    out = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path/'wheel'), str(context)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    import zipfile
    names = zipfile.ZipFile(next((tmp_path/'wheel').glob('*.whl'))).namelist()
    for packaged in ('credit_risk_nb/pipelines/train.ipynb', 'credit_risk_nb/pipelines/retrain.ipynb', 'credit_risk_nb/data/german.data'):
        assert packaged in names, packaged

def test_compose_file_shape():
    "The four services, what each runs on, what it waits for, its healthcheck and settings."
    assert sorted(SERVICES) == ['api', 'mlflow', 'postgres', 'trainer']
    assert SERVICES['postgres']['image'].startswith('postgres:') and SERVICES['mlflow']['build'] == '.'
    assert {SERVICES[s]['image'] for s in ('mlflow', 'trainer', 'api')} == {SERVICES['mlflow']['image']}  # one image, built once
    depends = {s: SERVICES[s].get('depends_on', {}) for s in SERVICES}
    assert depends['mlflow'] == {'postgres': {'condition': 'service_healthy'}}
    assert depends['trainer'] == {'mlflow': {'condition': 'service_healthy'}}
    assert depends['api']['trainer'] == {'condition': 'service_completed_successfully'}
    for s in ('postgres', 'mlflow', 'api'): assert SERVICES[s]['healthcheck']['test'][0] == 'CMD', s
    assert argv('trainer')[0] == 'crnb_train' and argv('api')[0] == 'crnb_serve' and argv('mlflow')[:2] == ['mlflow', 'server']
    assert '--follow' in argv('api')  # the replicas follow the champion (part 2 of issue 14)
    for s in ('trainer', 'api'): assert SERVICES[s]['environment']['MLFLOW_TRACKING_URI'] == 'http://mlflow:5000'
    mlflow_env = SERVICES['mlflow']['environment']
    assert mlflow_env['MLFLOW_BACKEND_STORE_URI'].startswith('postgresql+psycopg://') and '--serve-artifacts' in argv('mlflow')
    volumes = {v.split(':')[0] for s in SERVICES.values() for v in s.get('volumes', [])}
    assert volumes == set(COMPOSE['volumes']), volumes

def test_ci_runs_the_compose_mlflow_server(server):
    "`.ci/services` runs the `mlflow` service's very command, with the same settings (only its addresses differ)."
    cmdline = Path(f"/proc/{server['pid']}/cmdline").read_bytes().decode().split('\0')[:-1]
    environ = dict(kv.split('=', 1) for kv in Path(f"/proc/{server['pid']}/environ").read_bytes().decode().split('\0') if '=' in kv)
    command = argv('mlflow')
    assert Path(cmdline[cmdline.index(command[1]) - 1]).name == 'mlflow' and cmdline[cmdline.index(command[1]):] == command[1:], cmdline
    compose_env = local_env('mlflow', server, home='')
    assert {k for k in environ if k.startswith('MLFLOW_')} >= set(SERVICES['mlflow']['environment']), environ.keys()
    assert environ['MLFLOW_BACKEND_STORE_URI'] == compose_env['MLFLOW_BACKEND_STORE_URI']
    check = healthcheck(SERVICES['mlflow']['healthcheck']['test'], int(server['url'].rsplit(':', 1)[1]))
    assert passes(check, tries=1)
