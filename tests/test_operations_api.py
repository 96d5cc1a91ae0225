"""Operations with real parts: a uvicorn server keeping its decision log in SQLite or PostgreSQL, killed with SIGKILL
mid-load and restarted; a new champion promoted and reloaded while a bounded load runs."""
import os, signal, threading, time, uuid
import httpx, pytest
from test_api_server import Server, applicants, store, MODEL  # noqa: F401 (the `store` fixture)
from credit_risk_nb.decisions import DecisionLog


def database_url(backend:str, tmp_path) -> str:
    if backend == 'sqlite': return f"sqlite:///{tmp_path}/decisions.db"
    url = os.environ.get('CRNB_TEST_PG_URL')
    if not url: (pytest.fail if os.environ.get('CI') else pytest.skip)('CRNB_TEST_PG_URL not set (source .ci/services)')
    return url


def load(url:str, bodies:list, seconds:float, threads:int=8, max_requests:int=2000, headers=None) -> list:
    "Bounded load: `threads` clients posting /predict for `seconds` (at most `max_requests` each); [(request id, status, json)]."
    results, deadline = [], time.monotonic() + seconds
    def client(t):
        with httpx.Client(timeout=10) as http:
            for i in range(max_requests):
                if time.monotonic() > deadline: return
                rid = f"{t}-{i}-{uuid.uuid4().hex[:8]}"
                try: r = http.post(f'{url}/predict', json=bodies[(t + i) % len(bodies)], headers={'X-Request-ID': rid, **(headers or {})})
                except httpx.TransportError: results.append((rid, None, None)); continue
                results.append((rid, r.status_code, r.json() if r.status_code == 200 else r.text))
    pool = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for p in pool: p.start()
    return pool, results


@pytest.mark.slow
@pytest.mark.parametrize('backend', ['sqlite', 'postgresql'])
def test_sigkill_loses_no_answered_decision(backend, store, tmp_path):
    "Every request id that got a 200 before the server was killed with SIGKILL is in the log after a restart."
    url = database_url(backend, tmp_path)
    env = {**store['env'], 'CRNB_DATABASE_URL': url}
    server = Server(env)
    pool, results = load(server.url, applicants(store, 50), seconds=6)
    time.sleep(2.5)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    for p in pool: p.join(30)
    answered = {rid for rid, status, _ in results if status == 200}
    assert len(answered) > 50, f"only {len(answered)} answered before the kill"
    restarted = Server(env)
    try:
        stored = set(DecisionLog(url).query()['request_id'])
        missing = answered - stored
        assert not missing, f"{len(missing)} answered decisions lost, e.g. {sorted(missing)[:5]}"
        assert httpx.post(f'{restarted.url}/predict', json=applicants(store, 1)[0]).status_code == 200
    finally: restarted.stop()


@pytest.mark.slow
def test_reload_under_load(store, tmp_path):
    "A new champion is promoted and reloaded while the load runs: no failed request, both versions in the log."
    from credit_risk_nb.pipeline import train_and_log
    from credit_risk_nb.tracking import register, move_alias, use_store
    url = f"sqlite:///{tmp_path}/decisions.db"
    server = Server({**store['env'], 'CRNB_DATABASE_URL': url, 'CRNB_API_KEY': 'ops-key'})
    try:
        use_store(experiment='crnb_german_credit')
        run_id, _, _ = train_and_log('logreg', store['data'], seed=1)  # trained first: its duration must not outlast the load
        version = register(run_id, MODEL)['version']
        pool, results = load(server.url, applicants(store, 50), seconds=8, threads=4)
        time.sleep(2)
        move_alias(MODEL, 'champion', version, 'promoted during the reload-under-load test')
        reloaded = httpx.post(f'{server.url}/admin/reload', headers={'X-API-Key': 'ops-key'}, timeout=60)
        assert reloaded.status_code == 200, reloaded.text
        for p in pool: p.join(60)
        statuses = [status for _, status, _ in results]
        assert statuses and all(s == 200 for s in statuses), f"failed requests: {[r for r in results if r[1] != 200][:5]}"
        served = {body['model']['version'] for _, _, body in results}
        assert served == {'1', version}, served
        assert set(DecisionLog(url).query()['model_version']) == {'1', version}
        assert httpx.get(f'{server.url}/model').json()['version'] == version
    finally: server.stop()
