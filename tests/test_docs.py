"The Quarto-free docs build (`tools/docs.py`): the pieces on tiny notebooks, then the project's real notebooks."
import importlib.util, json, re, subprocess, sys
from pathlib import Path

import nbformat, pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
_spec = importlib.util.spec_from_file_location('crnb_docs_tool', ROOT/'tools'/'docs.py')
docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs)

SAMPLE = docs.mk_nb([('markdown', '# Loan book\n> A tiny page about loans'),
                     ('code', '#| export\ndef default_rate(defaults, loans):\n    "Share of `loans` that defaulted"\n    return defaults/loans'),
                     ('code', '#| hide\nsecret = 1'),
                     ('code', "#| echo: false\nprint('3.0% default rate')", '3.0% default rate\n')])


def _cell(src, out=None): return docs.mk_nb([('code', src, out)]).cells[0]


def tiny_project(root):
    "A home page, a chapter with each cell option, a half-written tutorial, a markdown page, a `_` file."
    nbs = root/'nbs'
    (nbs/'tutorials').mkdir(parents=True)
    nbformat.write(docs.mk_nb([('markdown', '# Home\n> Tiny credit docs')]), nbs/'index.ipynb')
    nbformat.write(SAMPLE, nbs/'01_loans.ipynb')
    nbformat.write(docs.mk_nb([('markdown', '# First score'), ('code', "#| output: false\nprint('noisy'.upper())", 'NOISY\n'),
                               ('code', '#| include: false\nimport os')]), nbs/'tutorials/score.ipynb')
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
    assert (page.title, page.description, page.out) == ('Loan book', 'A tiny page about loans', Path('loans.html'))
    assert '3.0% default rate' in page.body and 'print(' not in page.body and '{target=' not in page.body


def test_quarto_cell_options():
    assert docs.cell_opts("#| echo: false\n#|output: asis\n\nshow_doc(f)") == ({'echo': False, 'output': 'asis'}, 'show_doc(f)')
    assert docs.cell_opts("#| hide\nx = 1 #| not an option") == ({'hide': True}, 'x = 1 #| not an option')
    assert docs.quarto_cell(_cell('#| include: false\nx = 1')) is None and docs.quarto_cell(_cell('#| hide\nx = 1')) is None
    echo_off = docs.quarto_cell(_cell("#| echo: false\nprint('PD 3%')", 'PD 3%\n'))
    assert echo_off.metadata['transient']['remove_source'] and len(echo_off.outputs) == 1
    assert docs.quarto_cell(_cell("#| output: false\nprint('PD 3%')", 'PD 3%\n')).outputs == []
    assert docs.quarto_cell(_cell("#| echo: false\nx = 1")) is None


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


def test_one_page_per_notebook_each_with_sidebar(tmp_path):
    notebooks = _notebooks()
    assert notebooks, 'no notebooks found in nbs/'
    sources = docs.doc_sources(NBS)
    assert sorted(p for p in sources if p.suffix == '.ipynb') == sorted(p.relative_to(NBS) for p in notebooks)

    written = docs.build_docs(NBS, tmp_path/'_docs', proc_path=tmp_path/'_proc', quiet=True)

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
