"""The prediction API as users run it: uvicorn (and `crnb_serve`) on 127.0.0.1, a real SQLite MLflow store in a
throwaway CRNB_HOME, a champion registered by the training pipeline, PDs checked against the MLflow pyfunc model."""
import json, os, re, shutil, socket, subprocess, sys, tempfile, time
from collections import Counter
from pathlib import Path
from urllib.parse import urljoin
import numpy as np, pandas as pd, pytest, httpx

MODEL = 'crnb_german_credit'
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Server:
    "A uvicorn process on 127.0.0.1 at a free port; `url` once /health/live answers (at most `timeout` seconds)."
    def __init__(self, env:dict, cmd:list|None=None, timeout:float=90):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        cmd = cmd or [sys.executable, '-m', 'uvicorn', 'credit_risk_nb.api:app', '--host', '127.0.0.1', '--no-access-log']
        self.log = tempfile.NamedTemporaryFile('w+', suffix='.log', delete=False)
        self.proc = subprocess.Popen(cmd + ['--port', str(self.port)], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None: raise RuntimeError(f'server exited {self.proc.returncode}:\n{self.output()}')
            try:
                if httpx.get(f'{self.url}/health/live', timeout=1).status_code == 200: return
            except httpx.TransportError: pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f'server did not answer within {timeout}s:\n{self.output()}')
    def output(self) -> str: return Path(self.log.name).read_text()[-5000:]
    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try: self.proc.wait(15)
            except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait(5)


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    "A CRNB_HOME with crnb_german_credit version 1 (XGBoost) registered as champion by the training pipeline."
    home = tmp_path_factory.mktemp('crnb_api')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('CRNB_HOME', str(home))
        mp.setenv('MLFLOW_DISABLE_TELEMETRY', 'true')
        for k in ('MLFLOW_TRACKING_URI', 'CRNB_DATABASE_URL', 'CRNB_MODEL_NAME', 'CRNB_MODEL_URI', 'CRNB_API_KEY'): mp.delenv(k, raising=False)
        from credit_risk_nb.tracking import use_store, register
        from credit_risk_nb.pipeline import prepare, train_and_log
        use_store(experiment='crnb_german_credit')
        data = prepare('german_credit', seed=0)
        run_id, scorer, _ = train_and_log('xgboost', data, seed=0)
        reg = register(run_id, MODEL)
        assert reg['version'] == '1' and reg['champion']
        yield dict(home=home, data=data, scorer=scorer, env={**os.environ})


@pytest.fixture(scope='module')
def server(store):
    "`uvicorn credit_risk_nb.api:app` over the champion, with an API key."
    srv = Server({**store['env'], 'CRNB_API_KEY': 'test-key'})
    yield srv
    srv.stop()


def applicants(store, n:int, seed:int=0) -> list:
    "`n` German Credit applicants as an API caller sends them (rows of the whole data set, with replacement)."
    from credit_risk_nb.tracking import raw_rows
    frame = store['data'].frame
    rows = raw_rows(frame.sample(n, replace=n > len(frame), random_state=seed), store['scorer'].encoder.inputs)
    return [{k: (v if isinstance(v, str) or v is None else float(v)) for k, v in r.items()} for r in rows.to_dict('records')]


def test_uvicorn_serves_the_champion(server, store):
    r = httpx.post(f'{server.url}/predict', json=applicants(store, 1)[0])
    assert r.status_code == 200, r.text
    answer = r.json()
    assert 0 <= answer['pd'] <= 1 and answer['decision'] in ('approve', 'decline')
    assert answer['model']['name'] == MODEL and answer['model']['version'] == '1' and answer['model']['run_id']
    card = httpx.get(f'{server.url}/model').json()
    assert card['version'] == '1' and 'champion' in card['aliases'] and card['metrics']['roc_auc'] > 0.6
    assert httpx.get(f'{server.url}/health/ready').json() == {'status': 'ready', 'model': answer['model']}


def test_docs_render_offline(server):
    "Swagger UI's page only references assets the server itself serves."
    html = httpx.get(f'{server.url}/docs').text
    assets = re.findall(r'''(?:src|href)=["']([^"']+)["']''', html) + re.findall(r"url: '([^']+)'", html)
    assert assets and not [a for a in assets if a.startswith(('http:', 'https:', '//'))], assets
    for a in assets: assert httpx.get(urljoin(server.url + '/docs', a)).status_code == 200, a
    assert '"/predict"' in httpx.get(f'{server.url}/openapi.json').text


def test_parity_with_pyfunc(server, store):
    "The API's PDs equal the MLflow pyfunc model's on 1,000 rows, through /predict/batch and one /predict per row."
    import mlflow
    rows = applicants(store, 1000, seed=1)
    expected = mlflow.pyfunc.load_model(f'models:/{MODEL}/1').predict(pd.DataFrame(rows))
    batch = httpx.post(f'{server.url}/predict/batch?reasons=false', json={'applicants': rows}, timeout=60)
    assert batch.status_code == 200, batch.text[:2000]
    got = np.array([p['pd'] for p in batch.json()['predictions']])
    assert got.shape == (1000,) and np.max(np.abs(got - expected)) <= 1e-9
    with httpx.Client(base_url=server.url, timeout=10) as c:
        single = np.array([c.post('/predict?reasons=false', json=row).json()['pd'] for row in rows])
    assert np.max(np.abs(single - expected)) <= 1e-9


def test_bad_input_gets_4xx_naming_the_field(server, store):
    good = applicants(store, 1)[0]
    url = f'{server.url}/predict'
    def detail(r, status=422):
        assert r.status_code == status, (r.status_code, r.text)
        return r.json()['detail']
    cases = {  # body -> expected field
        json.dumps({k: v for k, v in good.items() if k != 'age'}): 'age',
        json.dumps({**good, 'duration': '12'}): 'duration',
        json.dumps({**good, 'duration': 0}): 'duration',
        json.dumps({**good, 'purpose': 'A499'}): 'purpose',
        json.dumps({**good, 'nickname': 'x'}): 'nickname',
        json.dumps(good).replace(f'"credit_amount": {good["credit_amount"]}', '"credit_amount": NaN'): 'credit_amount',
        json.dumps(good).replace(f'"credit_amount": {good["credit_amount"]}', '"credit_amount": -Infinity'): 'credit_amount',
        json.dumps(good)[:-1] + ', "age": 40}': 'age',  # a key given twice: a plain JSON parser would keep the last silently
    }
    for body, field in cases.items():
        r = httpx.post(url, content=body, headers={'content-type': 'application/json'})
        errors = detail(r)
        assert [e['field'] for e in errors] == [field] and errors[0]['msg'], errors
        assert not re.search(r'Traceback|[A-Z]\w*(Error|Exception)\b', r.text), r.text  # no internals
    assert detail(httpx.post(url, content=json.dumps(good)[:-1] + ', "age": 40}', headers={'content-type': 'application/json'}))[0]['type'] == 'duplicate_key'
    batch = json.dumps({'applicants': [good, good]})[:-3] + ', "age": 40}]}'
    assert [e['field'] for e in detail(httpx.post(f'{server.url}/predict/batch', content=batch, headers={'content-type': 'application/json'}))] == ['applicants[1].age']
    assert 'A40' in detail(httpx.post(url, json={**good, 'purpose': 'A499'}))[0]['msg']
    assert detail(httpx.post(url, content='{"age": 3', headers={'content-type': 'application/json'}))[0]['type'] == 'json_invalid'
    assert detail(httpx.post(f'{server.url}/predict/batch', json={'applicants': [good]*1001}))[0]['field'] == 'applicants'
    assert 'limit' in detail(httpx.post(url, content=b' '*(3 << 20), headers={'content-type': 'application/json'}), 413)
    chunks = (b' '*(1 << 20) for _ in range(3))  # no Content-Length: chunked, counted as it arrives
    assert 'limit' in detail(httpx.post(url, content=chunks, headers={'content-type': 'application/json'}), 413)
    assert httpx.get(url).status_code == 405


def test_metrics(server, store):
    httpx.post(f'{server.url}/predict', json=applicants(store, 1)[0])
    text = httpx.get(f'{server.url}/metrics').text
    assert 'crnb_requests_total{endpoint="/predict",method="POST",status="200"}' in text
    assert 'crnb_request_seconds_bucket{endpoint="/predict"' in text and 'crnb_decisions_total' in text
    assert f'crnb_model_info{{name="{MODEL}",' in text and 'version="1"} 1.0' in text


def test_reload_swaps_in_the_new_champion(store):
    "Refused without the key; with it, after a new champion is registered, /model shows the new version."
    from credit_risk_nb.tracking import move_alias, register
    from credit_risk_nb.pipeline import train_and_log
    srv = Server({**store['env'], 'CRNB_API_KEY': 'reload-key'})
    try:
        url = f'{srv.url}/admin/reload'
        assert httpx.post(url).status_code == 401
        assert httpx.post(url, headers={'X-API-Key': 'nope'}).status_code == 403
        r = httpx.post(url, headers={'X-API-Key': 'reload-key'}, timeout=60)
        assert r.status_code == 200 and r.json()['model']['version'] == '1', r.text
        run_id, _, _ = train_and_log('xgboost', store['data'], seed=7)
        version = register(run_id, MODEL)['version']
        move_alias(MODEL, 'champion', version, 'test: reload')
        assert httpx.get(f'{srv.url}/model').json()['version'] == '1'
        r = httpx.post(url, headers={'X-API-Key': 'reload-key'}, timeout=60)
        assert r.status_code == 200 and r.json()['previous']['version'] == '1', r.text
        assert httpx.get(f'{srv.url}/model').json()['version'] == version
        assert httpx.post(f'{srv.url}/predict', json=applicants(store, 1)[0]).json()['model']['version'] == version
    finally:
        srv.stop()
        move_alias(MODEL, 'champion', '1', 'test: back to version 1')


def test_model_says_when_it_no_longer_serves_the_champion(store):
    "A promotion elsewhere: a server that did not reload says in /model and /metrics that it no longer serves the champion."
    from credit_risk_nb.tracking import move_alias, register
    from credit_risk_nb.pipeline import train_and_log
    srv = Server({**store['env'], 'CRNB_REGISTRY_TTL': '0'})
    status = lambda card: (card['serving_version'], card['alias'], card['registry_champion_version'], card['is_champion'])
    gauge = f'crnb_model_is_champion{{alias="champion",model="{MODEL}",version="1"}}'
    try:
        assert status(httpx.get(f'{srv.url}/model').json()) == ('1', 'champion', '1', True)
        assert f'{gauge} 1.0' in httpx.get(f'{srv.url}/metrics').text
        run_id, _, _ = train_and_log('logreg', store['data'], seed=3)
        version = register(run_id, MODEL)['version']
        move_alias(MODEL, 'champion', version, 'test: promoted elsewhere')
        assert status(httpx.get(f'{srv.url}/model').json()) == ('1', 'champion', version, False)
        text = httpx.get(f'{srv.url}/metrics').text
        assert f'{gauge} 0.0' in text, text
        assert f'crnb_model_version_info{{alias="champion",model="{MODEL}",registry_version="{version}",serving_version="1"}} 1.0' in text
        assert httpx.post(f'{srv.url}/predict', json=applicants(store, 1)[0]).json()['model']['version'] == '1'  # still answering, as version 1
    finally:
        srv.stop()
        move_alias(MODEL, 'champion', '1', 'test: back to version 1')


def test_registry_down_is_unknown_not_an_error(store, tmp_path):
    "The registry breaks after the model is loaded: /model says 'unknown', /metrics has no champion gauge, scoring goes on."
    home = tmp_path/'home'
    home.mkdir()
    shutil.copy(store['home']/'mlflow.db', home/'mlflow.db')  # its artifacts stay where the store keeps them
    srv = Server({**store['env'], 'MLFLOW_TRACKING_URI': f"sqlite:///{home/'mlflow.db'}", 'CRNB_REGISTRY_TTL': '0', 'CRNB_DECISION_LOG': 'off'})
    try:
        assert httpx.get(f'{srv.url}/model').json()['is_champion'] is True
        os.truncate(home/'mlflow.db', 0)  # the registry's database is gone
        r = httpx.get(f'{srv.url}/model', timeout=30)
        assert r.status_code == 200 and (r.json()['registry_champion_version'], r.json()['is_champion']) == ('unknown', None), r.text
        assert 'crnb_model_is_champion{' not in httpx.get(f'{srv.url}/metrics', timeout=30).text
        assert httpx.post(f'{srv.url}/predict', json=applicants(store, 1)[0]).status_code == 200
    finally: srv.stop()


def test_a_files_row_as_it_is(tmp_path):
    "A user's spec whose codes are numbers (1, 2, -1): rows sent as the file's JSON numbers score exactly as with text codes."
    from credit_risk_nb.datasets import DatasetSpec, load_dataset
    from credit_risk_nb.models import split
    from credit_risk_nb.fit import fit_bundle
    rng, n = np.random.default_rng(0), 800
    frame = pd.DataFrame(dict(LIMIT_BAL=rng.integers(10, 500, n)*1000, EDUCATION=rng.integers(1, 5, n), PAY_0=rng.integers(-2, 3, n)))
    frame['default'] = (rng.random(n) < 1/(1 + np.exp(1.5 - 0.9*frame.PAY_0 + frame.LIMIT_BAL/2e5))).astype(int)
    frame.to_csv(tmp_path/'card.csv', index=False)
    (tmp_path/'card.yaml').write_text('''name: card_default
target: default
default_value: 1
features:
- {name: LIMIT_BAL, description: Credit limit, min: 0, max: 10000000}
- {name: EDUCATION, kind: categorical, description: Education, labels: {1: graduate school, 2: university, 3: high school, 4: other}}
- {name: PAY_0, kind: categorical, description: Repayment status, labels: {-2: no use, -1: paid in full, 0: revolving, 1: 1 month late, 2: 2 months late}}
''')
    spec = DatasetSpec.from_yaml(tmp_path/'card.yaml')
    parts = split(load_dataset(spec, tmp_path/'card.csv')[0], 'default', seed=0)
    fit_bundle(spec, parts['train'], parts['valid'], 'xgboost', seed=0, params=dict(n_estimators=30)).save(tmp_path/'bundle')
    env = {**os.environ, 'CRNB_HOME': str(tmp_path/'home'), 'CRNB_MODEL_URI': str(tmp_path/'bundle'), 'CRNB_DECISION_LOG': 'off', 'MLFLOW_DISABLE_TELEMETRY': 'true'}
    srv = Server(env)
    try:
        rows = json.loads(pd.read_csv(tmp_path/'card.csv').drop(columns='default').head(20).to_json(orient='records'))  # numbers, as the file has them
        assert isinstance(rows[0]['EDUCATION'], int)
        with httpx.Client(base_url=srv.url) as c:
            as_numbers = [c.post('/predict', json=row).json()['pd'] for row in rows]
            as_text = [c.post('/predict', json={k: str(v) if k != 'LIMIT_BAL' else v for k, v in row.items()}).json()['pd'] for row in rows]
            assert as_numbers == as_text
            for bad in (2.5, True, 7): assert c.post('/predict', json={**rows[0], 'EDUCATION': bad}).json()['detail'][0]['field'] == 'EDUCATION', bad
            assert c.post('/predict', json={**rows[0], 'EDUCATION': 2.0}).status_code == 200
            props = c.get('/openapi.json').json()['components']['schemas']['CardDefaultApplicant']['properties']
        assert props['PAY_0']['anyOf'] == [{'type': 'string', 'enum': ['-2', '-1', '0', '1', '2']}, {'type': 'integer', 'enum': [-2, -1, 0, 1, 2]}]
    finally: srv.stop()


def test_starts_without_a_model(tmp_path, store):
    "An empty store: the process stays up, readiness and scoring answer 503; the reason is in the server's log, not in the answer."
    env = {**os.environ, 'CRNB_HOME': str(tmp_path), 'MLFLOW_DISABLE_TELEMETRY': 'true'}
    for k in ('MLFLOW_TRACKING_URI', 'CRNB_MODEL_URI', 'CRNB_MODEL_NAME'): env.pop(k, None)
    srv = Server(env)
    try:
        r = httpx.get(f'{srv.url}/health/ready')
        assert r.status_code == 503 and r.json()['detail'].startswith('No model loaded: the server log says why'), r.text
        assert str(tmp_path) not in r.text and f'could not load models:/{MODEL}@champion' in srv.output()
        r = httpx.post(f'{srv.url}/predict', json=applicants(store, 1)[0])
        assert r.status_code == 503 and 'No model loaded' in r.json()['detail']
        assert httpx.get(f'{srv.url}/health/live').status_code == 200
    finally: srv.stop()


def test_crnb_serve_with_workers(store):
    "`crnb_serve` with two workers and a version URI."
    srv = Server(store['env'], [str(BIN/'crnb_serve'), '--workers', '2', '--model_uri', f'models:/{MODEL}/1'])
    try:
        versions = Counter(httpx.post(f'{srv.url}/predict', json=a).json()['model']['version'] for a in applicants(store, 20))
        assert versions == {'1': 20}
    finally: srv.stop()


@pytest.mark.slow
def test_schemathesis_fuzz(server):
    "At least 1,000 generated requests (valid and invalid) across the endpoints: no 5xx, responses match the schema."
    import hypothesis, requests, schemathesis
    from hypothesis import HealthCheck, Phase
    from schemathesis.generation import GenerationMode
    schema = schemathesis.openapi.from_url(f'{server.url}/openapi.json')
    session, calls, deadline = requests.Session(), Counter(), time.monotonic() + 300
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @hypothesis.settings(max_examples=100, deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                                 suppress_health_check=list(HealthCheck))
            @hypothesis.given(case=op.as_strategy(generation_mode=mode))
            def run(case):
                if time.monotonic() > deadline: return
                calls[f'{op.label} {mode.value}'] += 1
                case.call_and_validate(base_url=server.url, session=session, timeout=30)
            try: run()
            except hypothesis.errors.Unsatisfiable:  # nothing invalid to send (e.g. GET without parameters)
                assert mode == GenerationMode.NEGATIVE, op.label
    print(dict(calls))
    assert sum(calls.values()) >= 1000, calls
    assert time.monotonic() < deadline, 'fuzzing hit its time bound before finishing'
