"The Quarto-free docs build works on the project's real notebooks: one page per notebook, each with the sidebar."
import re
from pathlib import Path

from credit_risk_nb.docs import build_docs, doc_sources

NBS = Path(__file__).resolve().parents[1]/'nbs'


def _notebooks():
    "Every notebook under nbs/ that should become a page (none under `_` or `.` names), globbed at test time."
    return [p for p in NBS.rglob('*.ipynb') if not any(o[0] in '_.' for o in p.relative_to(NBS).parts)]


def test_one_page_per_notebook_each_with_sidebar(tmp_path):
    notebooks = _notebooks()
    assert notebooks, 'no notebooks found in nbs/'
    sources = doc_sources(NBS)
    assert sorted(p for p in sources if p.suffix == '.ipynb') == sorted(p.relative_to(NBS) for p in notebooks)

    written = build_docs(NBS, tmp_path/'_docs', proc_path=tmp_path/'_proc', quiet=True)

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
