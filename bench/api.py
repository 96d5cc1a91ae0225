"""Benchmark: the prediction API against `mlflow models serve` on the same registered model version.

    python bench/api.py [--duration 10] [--workers 1] [--docs nbs/bench_api.md]

Trains German Credit (XGBoost) and registers it in a throwaway CRNB_HOME, starts `crnb_serve` (with `--no_log`, with
its SQLite decision log, and the same with `--workers 2`) and `mlflow models serve --env-manager local` on 127.0.0.1
over `models:/crnb_german_credit/1`, profiles the logged server with py-spy (if installed), sends the worst bodies of
tests/test_serving.py from 8 clients while measuring a normal /predict, and drives each with the
same bounded `wrk` load (fixed duration, concurrency 1, 32 and 128; one applicant per request, or a batch of 100) and prints req/s, p50,
p99 and the ratios the issue sets as goals. Not a test: the numbers depend on the machine.
"""
import argparse, json, os, platform, re, shutil, socket, subprocess, sys, tempfile, time
from pathlib import Path

MODEL = 'crnb_german_credit'
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start(cmd:list, env:dict, url:str, log:Path, timeout:float=120) -> subprocess.Popen:
    "Start `cmd` and wait (at most `timeout` s) until `url` answers 200."
    import httpx
    proc = subprocess.Popen(cmd, env=env, stdout=log.open('w'), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None: raise RuntimeError(f"{cmd[0]} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200: return proc
        except httpx.TransportError: pass
        time.sleep(0.3)
    stop(proc)
    raise RuntimeError(f"{cmd} did not answer {url} within {timeout}s:\n{log.read_text()[-3000:]}")


def stop(proc:subprocess.Popen):
    "Stop the process group `proc` leads (the server and its workers)."
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try: proc.wait(20)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, 9); proc.wait(5)


_units = {'us': 1e-3, 'ms': 1.0, 's': 1e3, 'm': 60e3}

def _ms(text:str) -> float:
    value, unit = re.fullmatch(r'([\d.]+)(us|ms|s|m)', text).groups()
    return float(value)*_units[unit]


def wrk(url:str, body:dict|None, connections:int, duration:int, workdir:Path) -> dict:
    "Run wrk against `url` (POST `body` as JSON if given): req/s, p50 and p99 in ms, non-2xx count."
    script = workdir/'post.lua'
    if body is not None:
        script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
                          'wrk.headers["Content-Type"] = "application/json"\n')
    threads = min(connections, 2)
    cmd = ['wrk', f'-t{threads}', f'-c{connections}', f'-d{duration}s', '--timeout', '5s', '--latency'] + \
          (['-s', str(script)] if body is not None else []) + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    pct = dict(re.findall(r'^\s+(\d+)%\s+([\d.]+(?:us|ms|s|m))\s*$', out, re.M))
    if 'Requests/sec' not in out or '99' not in pct: raise RuntimeError(f"wrk gave no figures for {url}:\n{out}")
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    errors = re.search(r'Socket errors: (.*)', out)
    return dict(rps=float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)), p50=_ms(pct['50']), p99=_ms(pct['99']),
                non2xx=int(non2xx.group(1)) if non2xx else 0, socket_errors=errors.group(1) if errors else '')


def under_attack(url:str, applicant:dict, duration:int, workdir:Path) -> dict:
    "wrk on `url` at concurrency 1 while 8 threads keep posting the worst bodies of `tests/test_serving.py` (bounded by `duration`)."
    import threading, httpx
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tests'))
    from test_serving import worst_bodies
    bodies, sent, deadline = worst_bodies(applicant), [], time.monotonic() + duration + 1
    def attack(k):
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < deadline:
                path, body = bodies[k % len(bodies)]
                sent.append(http.post(url.rsplit('/predict', 1)[0] + path, content=body, headers={'content-type': 'application/json'}).status_code)
    threads = [threading.Thread(target=attack, args=(k,)) for k in range(8)]
    for t in threads: t.start()
    result = wrk(url, applicant, 1, duration, workdir)
    for t in threads: t.join(60)
    assert all(400 <= s < 500 for s in sent), sorted(set(sent))
    return dict(result, bad_bodies=len(sent))


def profile(pid:int, url:str, applicant:dict, seconds:int, workdir:Path, top:int=12) -> str:
    "Where the server's time goes under `wrk` at concurrency 32 on `url`: py-spy's samples by thread and by function (self time), as Markdown."
    import collections, threading
    if not shutil.which('py-spy'): return '(py-spy not installed: `pip install py-spy` to profile)'
    raw = workdir/'profile.txt'
    load = threading.Thread(target=wrk, args=(url, applicant, 32, seconds + 2, workdir))
    load.start(); time.sleep(1)
    subprocess.run(['py-spy', 'record', '--pid', str(pid), '--threads', '--nonblocking', '--duration', str(seconds), '--rate', '250',
                    '--format', 'raw', '-o', str(raw)], capture_output=True, timeout=seconds + 60)
    load.join()
    by_thread, by_function, total = collections.Counter(), collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, n = line.rsplit(' ', 1)
        frames, n = stack.split(';'), int(n)
        thread = 'batcher thread' if 'crnb-batcher' in frames[0] or any('decisions.py' in f for f in frames) else 'event loop' if 'MainThread' in frames[0] else 'other'
        fn = re.sub(r' \((?:.*/)?([^/:]+):\d+\)$', r' (\1)', frames[-1].strip())
        by_thread[thread] += n; by_function[thread, fn] += n; total += n
    rows = [f"| {t} | `{f}` | {100*n/total:.1f}% |" for (t, f), n in by_function.most_common(top)]
    return (f"py-spy, {seconds} s at concurrency 32 on the default `/predict`, {total:,} samples: "
            + ', '.join(f"{t} {100*n/total:.0f}%" for t, n in by_thread.most_common()) + "\n\n| thread | function (self time) | share |\n|---|---|---:|\n" + '\n'.join(rows))


def floors(applicant:dict, n:int=500) -> str:
    "The fixed costs under every answer, as CPU time of one thread in this process: where the ratios stop."
    import asyncio, tempfile
    from credit_risk_nb.tracking import load_scorer
    from credit_risk_nb.decisions import DecisionBatcher, DecisionLog, Scoring
    from credit_risk_nb.api import create_app
    scorer = load_scorer(f'models:/{MODEL}/1')
    X1, X32 = scorer.matrix([applicant]), scorer.matrix([applicant]*32)
    def cpu_us(f, k=n, per=1):
        for _ in range(5): f()
        t = time.thread_time()
        for _ in range(k): f()
        return (time.thread_time() - t)/k/per*1e6
    enc, xgb = scorer.encoder, sys.modules['xgboost']
    own_shap = lambda X: scorer.model.booster.predict(xgb.DMatrix(X, feature_names=enc.columns, feature_types=enc.feature_types, enable_categorical=True, nthread=1), pred_contribs=True)
    scorer.model.warm()
    booster_margin = lambda X: scorer.model.booster.inplace_predict(X, predict_type='margin')
    batcher, ids = DecisionBatcher(DecisionLog(f"sqlite:///{tempfile.mkdtemp()}/floor.db")), iter(range(10**9))
    unlogged = DecisionBatcher(None)
    with scorer.model.threads(1):
        rows = [('XGBoost `inplace_predict`, 1 applicant', cpu_us(lambda: booster_margin(X1))),
                ('XGBoost `inplace_predict`, per applicant of 32', cpu_us(lambda: booster_margin(X32), n//5, 32)),
                ("log-odds from the per-leaf tables' walk (what the API uses), 1 applicant", cpu_us(lambda: scorer.model.margin(X1))),
                ("log-odds from the tables' walk, per applicant of 32", cpu_us(lambda: scorer.model.margin(X32), n//5, 32)),
                ("exact TreeSHAP, XGBoost's `pred_contribs`, 1 applicant", cpu_us(lambda: own_shap(X1), n//5)),
                ("exact TreeSHAP, XGBoost's `pred_contribs`, per applicant of 32", cpu_us(lambda: own_shap(X32), n//25, 32)),
                ('exact TreeSHAP, the per-leaf tables the API uses, 1 applicant', cpu_us(lambda: scorer.model.contributions(X1, scorer.encoder), n//5)),
                ('exact TreeSHAP, the per-leaf tables, per applicant of 32', cpu_us(lambda: scorer.model.contributions(X32, scorer.encoder), n//25, 32)),
                ('batcher thread: a lone default request (4 reasons, answer, SQLite commit)',
                 cpu_us(lambda: batcher._process([Scoring(scorer, [applicant], f'f{next(ids)}', 4, (MODEL, '1'), render=lambda s: b'')]), n//5)),
                ('scoring a lone plain request (no reasons, answer, `--no_log`; on the event loop when no other request is on its way)',
                 cpu_us(lambda: unlogged._process([Scoring(scorer, [applicant], f'f{next(ids)}', 0, (MODEL, '1'), render=lambda s: b'')]), n//5))]
    batcher.close(); unlogged.close()
    app, body = create_app(scorer), json.dumps(applicant).encode()
    async def request(path, method='POST', qs=b'', payload=b''):
        scope = {'type': 'http', 'asgi': {'version': '3.0'}, 'http_version': '1.1', 'method': method, 'scheme': 'http', 'path': path,
                 'raw_path': path.encode(), 'query_string': qs, 'root_path': '', 'client': ('127.0.0.1', 1), 'server': ('127.0.0.1', 2),
                 'headers': [(b'content-type', b'application/json'), (b'content-length', str(len(payload)).encode())]}
        async def receive(): return {'type': 'http.request', 'body': payload, 'more_body': False}
        async def send(message): pass
        await app(scope, receive, send)
    async def loop_us(*args):
        for _ in range(20): await request(*args)
        t = time.thread_time()
        for _ in range(n): await request(*args)
        return (time.thread_time() - t)/n*1e6
    rows += [('event loop thread: `GET /health/live` through the app (no HTTP parsing)', asyncio.run(loop_us('/health/live', 'GET'))),
             ('event loop thread: `POST /predict?reasons=false`, `--no_log`, one at a time (its scoring included)', asyncio.run(loop_us('/predict', 'POST', b'reasons=false', body)))]
    return '| cost (one thread, CPU time) | us |\n|---|---:|\n' + '\n'.join(f'| {name} | {us:,.0f} |' for name, us in rows)


def register_model(home:Path) -> dict:
    "Train German Credit (XGBoost) with the pipeline and register it as version 1; returns one test applicant."
    os.environ.update(CRNB_HOME=str(home), MLFLOW_DISABLE_TELEMETRY='true')
    for k in ('MLFLOW_TRACKING_URI', 'CRNB_MODEL_NAME', 'CRNB_MODEL_URI'): os.environ.pop(k, None)
    from credit_risk_nb.tracking import use_store, register, raw_rows
    from credit_risk_nb.pipeline import prepare, train_and_log
    use_store(experiment='crnb_german_credit')
    data = prepare('german_credit', seed=0)
    run_id, scorer, _ = train_and_log('xgboost', data, seed=0)
    register(run_id, MODEL)
    row = raw_rows(data.parts['test'], scorer.encoder.inputs).iloc[0].to_dict()
    return {k: (v if isinstance(v, str) else float(v)) for k, v in row.items()}


FLOORS = ("What one answer cannot go below, measured in-process after the load: XGBoost builds its context on every call "
          "(py-spy: `Context::Init` compiles a `std::regex` and reads the cgroup CPU quota each time), so one applicant costs about as "
          "much as 32 in `inplace_predict`, and the API takes the log-odds from the walk of its TreeSHAP tables instead (XGBoost's "
          "figure to the bit, tested on every data set); exact TreeSHAP costs per applicant, batched or not (the API's per-leaf tables, "
          "`credit_risk_nb.treeshap`, give XGBoost's figures at a fraction of its cost); FastAPI's validated route with the "
          "scoring of one applicant costs several times a health check on the event loop. With two CPUs shared by wrk, the event loop and the batcher, these "
          "bound the throughput of the default answer and the latency of a lone plain one.")


def ratio(a:float, b:float) -> str:
    return f'{a/b:.2f}' if b else 'n/a'


def main(duration:int=10, workers:int=1, docs:str|None=None):
    if not shutil.which('wrk'): sys.exit("wrk not found: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix='crnb_bench_'))
    applicant = register_model(work/'home')
    env = {**os.environ}
    api_port, mlflow_port = free_port(), free_port()
    api_url, mlflow_url = f'http://127.0.0.1:{api_port}', f'http://127.0.0.1:{mlflow_port}'
    procs = []
    try:
        log_port = free_port()
        log_url = f'http://127.0.0.1:{log_port}'
        serve = lambda port, *flags, n=workers: [str(BIN/'crnb_serve'), '--port', str(port), '--workers', str(n), '--model_uri', f'models:/{MODEL}/1', *flags]
        two_port = free_port()
        two_url = f'http://127.0.0.1:{two_port}'
        procs.append(start(serve(two_port, '--database_url', f"sqlite:///{work/'decisions2.db'}", n=2), env, f'{two_url}/health/ready', work/'api_two.log'))
        procs.append(start(serve(api_port, '--no_log'), env, f'{api_url}/health/ready', work/'api.log'))
        procs.append(logged := start(serve(log_port, '--database_url', f"sqlite:///{work/'decisions.db'}"), env, f'{log_url}/health/ready', work/'api_log.log'))
        procs.append(start([str(BIN/'mlflow'), 'models', 'serve', '-m', f'models:/{MODEL}/1', '--env-manager', 'local',
                            '-h', '127.0.0.1', '-p', str(mlflow_port), '-w', str(workers)], env, f'{mlflow_url}/health', work/'mlflow.log'))
        batch100 = {'applicants': [applicant]*100}
        targets = {'API /health/live': (f'{api_url}/health/live', None),
                   'API /predict?reasons=false, --no_log': (f'{api_url}/predict?reasons=false', applicant),
                   'API /predict (4 reasons, durable log)': (f'{log_url}/predict', applicant),
                   'API /predict?reasons=false, log on': (f'{log_url}/predict?reasons=false', applicant),
                   'API /predict/batch of 100, log on': (f'{log_url}/predict/batch', batch100),
                   'mlflow models serve /invocations': (f'{mlflow_url}/invocations', {'dataframe_records': [applicant]})}
        for name, (url, body) in targets.items():  # warm up, and check each answers 200
            wrk(url, body, 1, 1, work)
        results = {(name, c): wrk(url, body, c, duration, work) for c in (1, 32, 128) for name, (url, body) in targets.items()}
        prof = profile(logged.pid, f'{log_url}/predict', applicant, min(duration, 8), work) if workers == 1 else ''
        for c in (32, 128): results[('API /predict (4 reasons, durable log), --workers 2', c)] = wrk(f'{two_url}/predict', applicant, c, duration, work)
        results[('API /predict (4 reasons, durable log) during 8 worst-case bodies', 1)] = under_attack(f'{log_url}/predict', applicant, duration, work)
    finally:
        for p in procs: stop(p)
    import pandas as pd
    from credit_risk_nb.reports import md_table
    table = pd.DataFrame([dict(endpoint=name, concurrency=c, **{'req/s': round(r['rps']), 'p50 ms': round(r['p50'], 2),
                                                               'p99 ms': round(r['p99'], 2), 'non-2xx': r['non2xx'],
                                                               'socket errors': r['socket_errors'] or '-'})
                          for (name, c), r in results.items()])
    lines = [md_table(table)]
    print(lines[0], flush=True)
    mlf32 = results[('mlflow models serve /invocations', 32)]['rps']
    live_p50 = results[('API /health/live', 1)]['p50']
    full, plain = 'API /predict (4 reasons, durable log)', 'API /predict?reasons=false, --no_log'
    ratios = [f"- default `/predict` (4 reasons, durable log) throughput at concurrency 32 / `mlflow models serve`: "
              f"**{ratio(results[(full, 32)]['rps'], mlf32)}x** (goal >= 15x)",
              f"- `/predict?reasons=false` with `--no_log` p50 at concurrency 1 / `/health/live` p50: **{ratio(results[(plain, 1)]['p50'], live_p50)}x** (goal <= 2.5x)",
              f"- batch of 100 with the log on, applicants per second at concurrency 32: **{100*results[('API /predict/batch of 100, log on', 32)]['rps']:,.0f}**",
              f"- `--workers 2` / 1, default `/predict` throughput at concurrency 32: **{ratio(results[(full + ', --workers 2', 32)]['rps'], results[(full, 32)]['rps'])}x**, at 128: "
              f"**{ratio(results[(full + ', --workers 2', 128)]['rps'], results[(full, 128)]['rps'])}x**",
              f"- a normal `/predict` while 8 clients keep sending the worst bodies within the size limit: p99 **{results[(full + ' during 8 worst-case bodies', 1)]['p99']:.1f} ms** "
              f"(goal < 50 ms; {results[(full + ' during 8 worst-case bodies', 1)]['bad_bodies']} worst bodies refused meanwhile)"]
    import xgboost, mlflow, fastapi, uvicorn
    from credit_risk_nb.decisions import DecisionBatcher
    few = DecisionBatcher.parallel_rows
    setup = (f"{duration} s per cell with `wrk` (2 threads at concurrency 32 and 128), {workers} worker process(es) per server, "
             f"crnb_serve's default model threads (the CPUs divided among the workers, for batches of {few} or more applicants), "
             f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
             f"xgboost {xgboost.__version__}, mlflow {mlflow.__version__}, fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}; "
             f"one German Credit applicant per request; `/predict` includes the top 4 reasons (exact TreeSHAP), "
             f"`?reasons=false` leaves them out. Load generator, both servers and the model share the machine.")
    notes = ("Reading the figures: every `/predict` and `/predict/batch` goes through one micro-batcher per worker process: its "
             "thread scores all waiting requests in one call (one TreeSHAP pass for the reasons), commits their decisions in one "
             "transaction (SQLite, WAL, synchronous=FULL) and only then answers; the event loop parses, validates and sends. With "
             f"`--no_log` and no other request on its way, a lone request of fewer than {few} applicants is scored on the event loop as it is "
             "submitted: handing it to the batcher's thread and back costs more than scoring one applicant. "
             "Exact TreeSHAP (from per-leaf tables built when the model loads) costs per applicant, so batching removes the fixed cost of each call but not that. wrk, the three servers and the model share two CPUs, so the "
             "concurrency-32 figures are CPU-bound and move with whatever else runs (load average below). At concurrency 128 the "
             "batch-of-100 cell queues 12,800 applicants, more than 5 s of work: a request still queued after the log timeout (5 s) "
             "is answered 503 and never scored or stored, and wrk counts its own 5 s timeouts as socket errors: no request waits in the queue longer than the log timeout.")
    floor = floors(applicant)
    report = '\n'.join(lines + [''] + ratios + ['', setup, '', notes, '', f"Load average during the run: {os.getloadavg()[0]:.2f}."]
                       + (['', '## Where the time goes', '', prof] if prof else [])
                       + ['', '## The floors', '', FLOORS, '', floor])
    print(report)
    if docs:
        Path(docs).write_text("# API benchmark\n> The prediction API against `mlflow models serve` on the same registered model.\n\n"
                              f"Latest run of `python bench/api.py --docs {docs}` ({time.strftime('%Y-%m-%d')}):\n\n{report}\n")
        print(f"\nwrote {docs}")
    shutil.rmtree(work, ignore_errors=True)
    return results


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--duration', type=int, default=10, help='seconds of load per cell (bounded)')
    p.add_argument('--workers', type=int, default=1, help='worker processes per server')
    p.add_argument('--docs', default=None, help='also write the table to this markdown file (e.g. nbs/bench_api.md)')
    a = p.parse_args()
    main(a.duration, a.workers, a.docs)
