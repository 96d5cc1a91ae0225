"The Quarto-free docs build (`tools/docs.py`): the pieces on tiny notebooks, then the project's real notebooks."
import ast, base64, importlib.util, json, re, subprocess, sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat, pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
_spec = importlib.util.spec_from_file_location('crnb_docs_tool', ROOT/'tools'/'docs.py')
docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs)

SAMPLE = docs.mk_nb([('markdown', '# Loan book\n> A tiny page about loans,\n> written over two lines'),
                     ('code', '#| export\ndef default_rate(defaults, loans):\n    "Share of `loans` that defaulted"\n    return defaults/loans'),
                     ('code', '#| export\nclass LoanBook:\n    "Loans of one lender"\n    def size(self):\n        "Number of loans"\n        return 0'),
                     ('code', 'show_doc(LoanBook.size)'),
                     ('code', '#| hide\nsecret = 1'),
                     ('markdown', '## Drift\nWith $a_i$ actual and $e_i$ expected shares, `$x$` is code:\n\n$$\\mathrm{PSI} = \\sum_i (a_i - e_i)\\,\\ln(a_i / e_i)$$\n\n'
                                  'See [the rate](loans.html#default_rate), [the book](#loanbook), [its size](#loanbook.size), [drift](#drift).'),
                     ('code', "#| echo: false\nprint('3.0% default rate')", '3.0% default rate\n')])


PNG = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==')


def _cell(src, out=None): return docs.mk_nb([('code', src, out)]).cells[0]


class PageLinks(HTMLParser):
    "The ids of one HTML page and its local links: `href` of `a` and `link`, `src` of `img`, `script` and `iframe`"
    def __init__(self):
        super().__init__()
        self.ids,self.links = set(),[]
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        url = a.get('href') if tag in ('a', 'link') else a.get('src') if tag in ('img', 'script', 'iframe') else None
        if url and not urlsplit(url).scheme and not url.startswith('//'): self.links.append(url)


def site_ids(site):
    "`{page path: PageLinks}` for every HTML page under `site`"
    res = {}
    for page in Path(site).resolve().rglob('*.html'):
        res[page] = PageLinks()
        res[page].feed(page.read_text(encoding='utf-8'))
    return res


def dead_links(site):
    "`(page, link, why)` for every local link under `site` to a missing file, or to an id its target page lacks"
    site, pages, dead = Path(site).resolve(), site_ids(site), []
    for page, found in pages.items():
        for url in found.links:
            u = urlsplit(url)
            target = (page.parent/unquote(u.path)).resolve() if u.path else page
            if target.is_dir(): target = target/'index.html'
            why = ('no such file' if not target.exists() else
                   f'no id "{unquote(u.fragment)}" in {target.name}' if u.fragment and target in pages and unquote(u.fragment) not in pages[target].ids
                   else None)
            if why: dead.append((page.relative_to(site).as_posix(), url, why))
    return dead


def public_symbols(lib):
    "`module.name` of every function and class in a module's `__all__`, and `module.Class.method` of their public methods"
    for py in sorted(Path(lib).glob('*.py')):
        tree = ast.parse(py.read_text(encoding='utf-8'))
        names = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                      and any(getattr(t, 'id', None) == '__all__' for t in n.targets)), [])
        defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        def _public(f): return isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and not f.name.startswith('_')
        def _deco(f): return {ast.unparse(d).split('(')[0] for d in f.decorator_list}
        for name in (n for n in names if n in defs):
            yield f'{py.stem}.{name}'
            if isinstance(defs[name], ast.ClassDef):
                yield from (f'{py.stem}.{name}.{f.name}' for f in defs[name].body if _public(f) and not _deco(f) & {'property', 'cached_property'})
        for f in tree.body:  # fastcore's `@patch` methods: `def method(self:Class, ...)`
            if _public(f) and 'patch' in _deco(f) and f.args.args and f.args.args[0].annotation is not None and 'as_prop=True' not in ast.unparse(f.decorator_list[0]):
                yield f'{py.stem}.{ast.unparse(f.args.args[0].annotation)}.{f.name}'


def missing_doc_blocks(site, lib=ROOT/'credit_risk_nb'):
    "Public symbols of `lib` whose doc link (nbdev's `_modidx.py`: `page.html#anchor`) has no such id in the built `site`"
    modidx = {}
    exec(compile((Path(lib)/'_modidx.py').read_text(encoding='utf-8'), '_modidx.py', 'exec'), modidx)
    links = {k.split('.', 1)[1]: v[0] for syms in modidx['d']['syms'].values() for k, v in syms.items()}
    pages, res = site_ids(site), []
    for sym in public_symbols(lib):
        link = links.get(sym, '')
        page, _, anchor = link.partition('#')
        found = pages.get((Path(site)/page).resolve())
        if not link or found is None or anchor not in found.ids: res.append(f'{sym} ({link or "not in _modidx.py"})')
    return res


def tiny_project(root):
    "A home page, a chapter with each cell option, a half-written tutorial, a markdown page, a `_` file."
    nbs = root/'nbs'
    (nbs/'tutorials').mkdir(parents=True)
    nbformat.write(docs.mk_nb([('markdown', '# Home\n> Tiny credit docs')]), nbs/'index.ipynb')
    nbformat.write(SAMPLE, nbs/'01_loans.ipynb')
    score = docs.mk_nb([('markdown', '# First score\n> [Back to the book](../loans.html#loanbook)'),
                        ('code', "#| output: false\nprint('noisy'.upper())", 'NOISY\n'), ('code', '#| include: false\nimport os'),
                        ('code', 'plot_roc()')])
    score.cells[-1].outputs = [nbformat.v4.new_output('display_data', data={'image/png': base64.b64encode(PNG).decode(), 'text/plain': '<Figure>'})]
    nbformat.write(score, nbs/'tutorials/score.ipynb')
    (nbs/'benchmarks.md').write_text('---\ntitle: Benchmarks\n---\n\n| model | AUC |\n|---|---|\n| xgb | 0.79 |\n')
    nbformat.write(docs.mk_nb([('markdown', '# Scratch')]), nbs/'_scratch.ipynb')
    return nbs


def test_doc_sources_order_and_exclusions(tmp_path):
    for name in ['pipelines/train.ipynb', '01_data.ipynb', 'tutorials/start.ipynb', 'index.ipynb', 'model_card.md',
                 '_quarto.yml', '_proc/x.ipynb', '.ipynb_checkpoints/index.ipynb', '00_config.ipynb']:
        (tmp_path/name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path/name).write_text('{}')
    assert [p.as_posix() for p in docs.doc_sources(tmp_path)] == [
        'index.ipynb', '00_config.ipynb', '01_data.ipynb', 'model_card.md', 'tutorials/start.ipynb', 'pipelines/train.ipynb']


def test_nbdev_processing(tmp_path):
    "Frontmatter from the title cell, a show_doc cell for the exported function, its source and `#| hide` gone."
    nbformat.write(SAMPLE, tmp_path/'loans.ipynb')
    srcs = [''.join(c['source']) for c in json.loads(docs.proc_nb(tmp_path/'loans.ipynb', tmp_path/'_proc/loans.ipynb').read_text())['cells']]
    assert srcs[0].startswith('---') and 'title: Loan book' in srcs[0]
    assert any('show_doc(default_rate)' in s for s in srcs)
    assert not any('secret' in s or 'return defaults/loans' in s for s in srcs)
    page = docs.nb_page(tmp_path/'_proc/loans.ipynb', Path('02_loans.ipynb'))
    assert (page.title, page.description, page.out) == ('Loan book', 'A tiny page about loans, written over two lines', Path('loans.html'))
    assert '3.0% default rate' in page.body and 'print(' not in page.body and '{target=' not in page.body


def test_quarto_cell_options():
    assert docs.cell_opts("#| echo: false\n#|output: asis\n\nshow_doc(f)") == ({'echo': False, 'output': 'asis'}, 'show_doc(f)')
    assert docs.cell_opts("#| hide\nx = 1 #| not an option") == ({'hide': True}, 'x = 1 #| not an option')
    assert docs.quarto_cell(_cell('#| include: false\nx = 1')) is None and docs.quarto_cell(_cell('#| hide\nx = 1')) is None
    echo_off = docs.quarto_cell(_cell("#| echo: false\nprint('PD 3%')", 'PD 3%\n'))
    assert echo_off.metadata['transient']['remove_source'] and len(echo_off.outputs) == 1
    assert docs.quarto_cell(_cell("#| output: false\nprint('PD 3%')", 'PD 3%\n')).outputs == []
    assert docs.quarto_cell(_cell("#| echo: false\nx = 1")) is None


def test_heading_ids_as_pandoc_makes_them():
    "Quarto's ids (Pandoc's): the lower-case anchors nbdev's doc links point to; a repeat gets `-1`."
    seen = set()
    assert [docs.pandoc_id(t, seen) for t in ['Scorer.score', '<code>DecisionLog.record_outcomes</code>', 'ApiMetrics',
                                              '1. Does it still serve the champion?', 'Scorer', 'Scorer', 'Risk &amp; return']] == \
        ['scorer.score', 'decisionlog.record_outcomes', 'apimetrics', 'does-it-still-serve-the-champion', 'scorer', 'scorer-1', 'risk-return']
    assert docs.markdown_html('### Scorer.score').startswith('<h3 id="scorer.score">Scorer.score<a class="anchor-link" href="#scorer.score">')


def test_math_as_mathml():
    body = docs.markdown_html('With $a_i$ and `$x$`:\n\n$$\\mathrm{PSI} = \\sum_i (a_i - e_i)\\,\\ln(a_i / e_i)$$')
    assert body.count('<math ') == 2 and 'display="block"' in body and '<msub><mi>a</mi><mi>i</mi></msub>' in body
    assert '$' not in body.replace('<code>$x$</code>', '') and '<code>$x$</code>' in body


def test_descriptions_joined_warnings_dropped():
    assert docs.join_description('# Scoring\n> One `Scorer` for the API,\n> batch and drift.\n\n> A quote') == \
        '# Scoring\n> One `Scorer` for the API, batch and drift.\n\n> A quote'
    assert docs.inline_html('One `Scorer`') == 'One <code>Scorer</code>'
    sig = '```python\ndef plot_cost_curve(\n    curve:pd.DataFrame, # From [`cutoff_curve`](https://x/evaluation.html#cutoff_curve)\n)\n```'
    assert docs.code_links(f'See [`cutoff_curve`](evaluation.html#cutoff_curve)\n{sig}') == \
        f'See [`cutoff_curve`](evaluation.html#cutoff_curve)\n' + sig.replace('[`cutoff_curve`](https://x/evaluation.html#cutoff_curve)', 'cutoff_curve')
    warn = '/home/me/.venv/site-packages/fastapi/testclient.py:1: StarletteDeprecationWarning: use httpx2\n  from starlette import x\n'
    outs = [nbformat.v4.new_output('stream', name='stderr', text=warn), nbformat.v4.new_output('stream', name='stderr', text=warn+'Real trouble\n'),
            nbformat.v4.new_output('stream', name='stdout', text='Scored 10 rows\n')]
    assert [o.text for o in docs.drop_warnings(outs)] == ['Real trouble\n', 'Scored 10 rows\n']


def test_link_checker_finds_what_is_dead(tmp_path):
    "The checker the site is held to can fail: a missing page, a missing id, a missing image; external links skipped."
    (tmp_path/'sub').mkdir()
    (tmp_path/'index.html').write_text('<h2 id="scorer.score">x</h2><a href="#scorer.score">ok</a><a href="sub/b.html#top">ok</a>'
                                       '<a href="#Scorer.score">case</a><a href="gone.html">gone</a><img src="sub/x.png">'
                                       '<a href="https://example.org/a.html#nope">external</a><a href="mailto:x@y">mail</a>')
    (tmp_path/'sub/b.html').write_text('<a id="top"></a><a href="../index.html#scorer.score">ok</a><a href="../index.html#nope">no</a>')
    assert sorted(dead_links(tmp_path)) == [('index.html', '#Scorer.score', 'no id "Scorer.score" in index.html'),
                                            ('index.html', 'gone.html', 'no such file'), ('index.html', 'sub/x.png', 'no such file'),
                                            ('sub/b.html', '../index.html#nope', 'no id "nope" in index.html')]


def test_pandoc_links_and_clean_nb():
    assert docs.pandoc_links('[source](https://x/docs.py#L26){target="_blank"}') == '<a href="https://x/docs.py#L26" target="_blank">source</a>'
    assert docs.pandoc_links('`[a](b){c=d}`') == '`[a](b){c=d}`'
    raw = dict(nbformat=4, nbformat_minor=4, metadata={'execution': {'total': 1.5}},
               cells=[dict(cell_type='code', source=['show_doc(f)'], metadata={}, outputs=[], has_sd=True, id='x')])
    with pytest.raises(Exception): nbformat.validate(nbformat.from_dict(raw))
    nbformat.validate(docs.clean_nb(raw))


def test_tiny_site(tmp_path):
    "Pages mirror the folders, cell options are honoured, every page has a sidebar with links from its own folder."
    written = docs.build_docs(tiny_project(tmp_path), tmp_path/'_docs', quiet=True)
    site = tmp_path/'_docs'
    assert sorted(p.relative_to(site).as_posix() for p in written) == ['benchmarks.html', 'index.html', 'loans.html', 'tutorials/score.html']
    assert (tmp_path/'_proc/01_loans.ipynb').exists() and (site/'site.css').exists()
    loans, score = (site/'loans.html').read_text(), (site/'tutorials/score.html').read_text()
    assert '3.0% default rate' in loans and "print('3.0% default rate')" not in loans and 'return defaults/loans' not in loans
    assert 'upper' in score and 'NOISY' not in score and 'import os' not in score
    for name in ['index.html', 'loans.html', 'benchmarks.html']:
        assert '<a href="tutorials/score.html">First score</a>' in (site/name).read_text()
    assert '<a href="../loans.html">Loan book</a>' in score and '<a class="crnb-site" href="../index.html">' in score
    assert '<td>0.79</td>' in (site/'benchmarks.html').read_text()
    assert dead_links(site) == []  # doc links, heading links, links across folders
    assert '<p class="description">A tiny page about loans, written over two lines</p>' in loans
    assert '<math ' in loans and '$$' not in loans
    assert '<img ' in score and f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in score
    css = (site/'site.css').read_text()
    assert 'max-width: 100%' in css and 'overflow-x: auto' in css


def test_readme_from_index(tmp_path):
    readme = docs.build_readme(dest=tmp_path/'README.md').read_text()
    assert readme.startswith('# credit_risk_nb\n') and '## Quickstart' in readme and 'crnb_docs' not in readme


def test_command_line_flags(tmp_path):
    "`python tools/docs.py` runs as a plain script from any folder, with the flags CI uses."
    out = subprocess.run([sys.executable, str(ROOT/'tools'/'docs.py'), '--help'], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert all(f in out.stdout for f in ('--nbs_path', '--dest', '--proc_path', '--strict'))


def _notebooks():
    "Every notebook under nbs/ that should become a page (none under `_` or `.` names), globbed at test time."
    return [p for p in NBS.rglob('*.ipynb') if not any(o[0] in '_.' for o in p.relative_to(NBS).parts)]


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The project's site, built once for the tests below: `(pages written, folder)`"
    tmp_path = tmp_path_factory.mktemp('site')
    return docs.build_docs(NBS, tmp_path/'_docs', proc_path=tmp_path/'_proc', quiet=True), tmp_path


def test_one_page_per_notebook_each_with_sidebar(site):
    notebooks = _notebooks()
    assert notebooks, 'no notebooks found in nbs/'
    sources = docs.doc_sources(NBS)
    assert sorted(p for p in sources if p.suffix == '.ipynb') == sorted(p.relative_to(NBS) for p in notebooks)

    written, tmp_path = site

    assert len(written) == len(sources) == len(set(written))  # one page per notebook and markdown file, no clashes
    assert all(p.suffix == '.html' and p.exists() for p in written)
    assert sorted(p.relative_to(tmp_path/'_proc') for p in (tmp_path/'_proc').rglob('*.ipynb')) == \
        sorted(p.relative_to(NBS) for p in notebooks)
    for page in written:
        text = page.read_text(encoding='utf-8')
        assert '<nav class="crnb-sidebar"' in text, page
        assert text.count('<li><a') == len(written), page  # the sidebar lists every page
        assert (page.parent/re.search(r'rel="stylesheet" href="([^"]+)"', text).group(1)).exists(), page
    if (NBS/'index.ipynb').exists(): assert (tmp_path/'_docs/index.html') in written


def test_site_has_no_dead_links(site):
    "Every local link of the built site reaches a page, and every `#anchor` an id on it (nbdev's doc links included)."
    dead = dead_links(site[1]/'_docs')
    assert not dead, f'{len(dead)} dead links:\n' + '\n'.join(map(' -> '.join, dead))


def test_site_outputs_have_no_warnings(site):
    pages = [p for p in site[0] if re.search(r'output_stderr[^>]*>\s*<pre>[^<]*Warning: ', p.read_text(encoding='utf-8'))]
    assert not pages, pages


def test_every_public_symbol_has_a_doc_block(site):
    "Functions and classes in `__all__` get doc blocks from nbdev; methods need `show_doc(Class.method)` in their notebook."
    missing = missing_doc_blocks(site[1]/'_docs')
    assert not missing, f'{len(missing)} public symbols without a doc block:\n' + '\n'.join(missing)
