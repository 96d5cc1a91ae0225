"""Serving at the floor, on a real uvicorn server (in this process, 127.0.0.1) with a SQLite decision log: micro-batched
answers equal scoring one by one, the worst bodies within the size limit are refused briefly while a normal request
is answered, a slow body is cut off, readiness follows a real lock on the log, and no answer shows the server's internals."""
import json, socket, sqlite3, threading, time
import httpx, pytest, uvicorn
from test_api_server import free_port


@pytest.fixture(scope='module')
def scorer():
    from credit_risk_nb.datasets import load_dataset, german_credit
    from credit_risk_nb.models import split
    from credit_risk_nb.fit import fit_bundle
    german, _ = load_dataset('german_credit')
    parts = split(german, 'credit_risk', seed=0)
    return fit_bundle(german_credit, parts['train'], parts['valid'], 'xgboost', seed=0), parts['test']


class InProcess:
    "uvicorn serving `app` on 127.0.0.1 in a thread of this process (so the test can reach the app's state)."
    def __init__(self, app):
        self.app, self.url = app, f'http://127.0.0.1:{(port := free_port())}'
        self.server = uvicorn.Server(uvicorn.Config(app, host='127.0.0.1', port=port, log_level='warning', lifespan='on'))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        for _ in range(200):
            if self.server.started: return
            time.sleep(0.05)
        raise RuntimeError('uvicorn did not start')
    def stop(self): self.server.should_exit = True; self.thread.join(20)


@pytest.fixture(scope='module')
def served(scorer, tmp_path_factory):
    from credit_risk_nb.api import create_app
    from credit_risk_nb.decisions import DecisionLog
    from credit_risk_nb.tracking import raw_rows
    model, test = scorer
    db = tmp_path_factory.mktemp('serving')/'decisions.db'
    app = create_app(model, decision_log=DecisionLog(f'sqlite:///{db}', timeout=0.5), log_timeout=3, batch_wait=0.005,
                     max_batch=1000, body_timeout=1.0)
    rows = raw_rows(test, model.encoder.inputs).head(40)
    applicants = [{k: (v if isinstance(v, str) or v is None else float(v)) for k, v in r.items()} for r in rows.to_dict('records')]
    srv = InProcess(app)
    yield dict(url=srv.url, app=app, db=db, scorer=model, applicants=applicants)
    srv.stop()


def test_micro_batches_answer_as_one_by_one(served):
    "Concurrent /predict and /predict/batch answers equal `Scorer.score` of each applicant alone, and many requests shared a batch."
    url, scorer, applicants = served['url'], served['scorer'], served['applicants']
    alone = [scorer.score([a], reasons=4) for a in applicants]
    answers, before = {}, served['app'].state.batcher.batches
    def client(t):
        with httpx.Client(timeout=30) as http:
            for i in range(t, len(applicants), 8): answers[i] = http.post(f'{url}/predict', json=applicants[i]).json()
    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for t in threads: t.start()
    for t in threads: t.join(60)
    batch = httpx.post(f'{url}/predict/batch', json={'applicants': applicants}, timeout=30).json()['predictions']
    for i, a in enumerate(alone):
        want = dict(pd=float(a['pd'][0]), decision=str(a['decision'][0]), points=float(a['points'][0]), reasons=a['reasons'][0],
                    grade=str(a['grade'][0]) if 'grade' in a else None)
        assert {k: answers[i][k] for k in want} == want == batch[i], i
    assert served['app'].state.batcher.batches - before < len(applicants) + 1  # 41 requests, fewer scoring calls


def worst_bodies(applicant:dict) -> list:
    "(path, body) of the costliest bodies within the size limits: unknown keys, deep nesting, a batch of invalid applicants."
    keys = {f'unknown_{i}': i for i in range(5000)}  # just under the 64 KiB of /predict
    bad = {**{k: 'x' for k in applicant}, **{f'u{j}': 0 for j in range(3)}}
    return [('/predict', json.dumps(keys).encode()[:60_000].rsplit(b',', 1)[0] + b'}'),
            ('/predict/batch', json.dumps({'applicants': [bad]*1000}).encode()),
            ('/predict/batch', json.dumps({'applicants': [{k: 'x' for k in applicant}]*1000}).encode()),
            ('/predict/batch', b'[' * 1_000_000 + b']' * 1_000_000),
            ('/predict/batch', json.dumps({f'k{i}': 0 for i in range(150_000)}).encode())]


def test_worst_bodies_are_refused_briefly(served):
    "Each worst body gets a short 4xx (at most 30 problems and their count), while a normal request sent meanwhile is answered."
    url, good = served['url'], served['applicants'][0]
    bodies, answers = worst_bodies(good), {}
    def send(i, path, body):
        answers[i] = httpx.post(f'{url}{path}', content=body, headers={'content-type': 'application/json'}, timeout=60)
    threads = [threading.Thread(target=send, args=(i, *pb)) for i, pb in enumerate(bodies*2)]
    for t in threads: t.start()
    normal = httpx.post(f'{url}/predict', json=good, timeout=60)
    for t in threads: t.join(120)
    assert normal.status_code == 200, normal.text
    for i, r in answers.items():
        assert r.status_code in (400, 413, 422) and len(r.content) < 20_000, (bodies[i % len(bodies)][0], r.status_code, len(r.content))
        if r.status_code == 422: assert len(r.json()['detail']) <= 30 and r.json()['count'] >= len(r.json()['detail'])
    assert answers[0].json()['detail'][0]['type'] == 'too_many_keys'  # 5,000 unknown keys: refused by the scan, before parsing
    assert answers[1].json()['count'] == 3000  # 3 unknown keys in each of 1,000 applicants: counted before validation
    assert answers[2].json()['count'] > 1000  # invalid values of 1,000 applicants: validated, 30 listed


def test_slow_body_gets_408(served):
    "A client that announces a body and never finishes sending it is answered 408 and does not keep its slot."
    host, port = served['url'][7:].split(':')
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"age": ')
        answer = s.recv(4096)
    assert answer.startswith(b'HTTP/1.1 408'), answer[:100]


def test_readiness_follows_the_decision_log(served):
    "While another process holds the log's write lock, /predict is 503 without internals, /health/ready is 503, /metrics counts it; then ready again."
    url, good = served['url'], served['applicants'][0]
    lock = sqlite3.connect(served['db'], isolation_level=None)
    try:
        lock.execute('BEGIN EXCLUSIVE')
        refused = httpx.post(f'{url}/predict', json=good, timeout=30)
        ready = httpx.get(f'{url}/health/ready', timeout=30)
        assert (refused.status_code, ready.status_code) == (503, 503), (refused.text, ready.text)
        assert 'decision log' in ready.json()['detail']
        for r in (refused, ready): assert str(served['db'].parent) not in r.text and 'sqlite' not in r.text.lower()
        metrics = httpx.get(f'{url}/metrics').text
        assert 'crnb_decision_log_failures_total 1.0' in metrics and 'crnb_decision_log_ok 0.0' in metrics
    finally: lock.rollback(); lock.close()
    assert httpx.get(f'{url}/health/ready', timeout=30).status_code == 200
    assert httpx.post(f'{url}/predict', json=good, timeout=30).status_code == 200
    assert 'crnb_decision_log_ok 1.0' in httpx.get(f'{url}/metrics').text


def test_a_503_is_never_stored(scorer, tmp_path):
    "With a log timeout shorter than a big batch takes, requests queued behind it give up: each 503 is absent from the decision log, each 200 is in it."
    from credit_risk_nb.api import create_app
    from credit_risk_nb.decisions import DecisionLog
    from credit_risk_nb.tracking import raw_rows
    model, test = scorer
    db = tmp_path/'decisions.db'
    srv = InProcess(create_app(model, decision_log=DecisionLog(f'sqlite:///{db}'), log_timeout=0.005, max_batch=1000))
    rows = raw_rows(test, model.encoder.inputs)
    applicants = [{k: (v if isinstance(v, str) or v is None else float(v)) for k, v in r.items()} for r in rows.to_dict('records')]
    big = {'applicants': (applicants*5)[:1000]}
    statuses = {}
    def send(i):
        with httpx.Client(timeout=60) as http:
            if i < 2: r = http.post(f'{srv.url}/predict/batch', json=big, headers={'X-Request-ID': (rid := f'batch-{i}')})
            else: time.sleep(0.01); r = http.post(f'{srv.url}/predict', json=applicants[i], headers={'X-Request-ID': (rid := f'one-{i}')})
            statuses[rid] = r.status_code
    try:
        threads = [threading.Thread(target=send, args=(i,)) for i in range(24)]
        for t in threads: t.start()
        for t in threads: t.join(120)
    finally: srv.stop()
    stored = {r[0].split('/')[0] for r in sqlite3.connect(db).execute('SELECT DISTINCT request_id FROM crnb_decisions')}  # a batch's rows: ID/k
    assert set(statuses.values()) <= {200, 503}, statuses
    assert 503 in statuses.values(), statuses  # the scenario happened: some request gave up while queued
    for rid, status in statuses.items(): assert (rid in stored) == (status == 200), (rid, status)


@pytest.mark.parametrize('when', ['0001-01-01T00:00:00+23:59', '0001-01-01T00:00:00-23:59', '9999-12-31T23:59:59-23:59',
                                  '9999-12-31T23:59:59+23:59', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999999Z'])
def test_drift_window_never_500(served, when):
    "Any syntactically valid date-time as start or end: an answer, never a 500."
    for params in (dict(start=when), dict(end=when), dict(start=when, end=when)):
        r = httpx.get(f"{served['url']}/monitoring/drift", params=params, timeout=30)
        assert r.status_code in (200, 409, 422), (params, r.status_code, r.text)
