#!/usr/bin/env python
"""Build the docs site from the notebooks without Quarto (nbdev's own processing, then nbconvert), and README.md
from `nbs/index.ipynb`. Development tooling: it needs the dev install (`pip install -e ".[dev]"`: nbdev, execnb,
nbconvert, latex2mathml), which is why it lives here and not in the package.

    python tools/docs.py                           # site in _docs/ (settings.ini's doc_path), README.md rewritten
    python tools/docs.py --dest /tmp/site --strict # stop at the first notebook nbdev cannot process

Where Quarto is installed, `nbdev_docs` renders the real site; this builds the same pages where it cannot run.
How it works, step by step:

1. nbdev's processing, exactly as `nbdev_proc_nbs` runs it (`nbdev.serve_drv.exec_nb` with `FilterDefaults`):
   frontmatter from the `# Title` cell, `show_doc` cells for exported functions, exported source removed, `#| hide`
   cells dropped. `nbdev_proc_nbs` itself first tries to install Quarto and runs `pip install -e .`, so the
   processing is called directly. A notebook whose `show_doc` cells cannot run is, unless `--strict`, built
   again without them (a warning names it).
   A `> description` that wraps over several `>` lines is joined first (nbdev reads only its first line).
2. nbconvert, with Quarto's cell options honoured by hand (`echo`, `output`, `include`, `hide`), Pandoc link
   attributes turned into HTML, nbdev's extra cell keys removed so nbformat validates, links into the published
   site made relative, and a sidebar listing every page on every page (`index` first, then the numbered
   chapters, markdown pages, tutorials, pipelines; files and folders starting with `_` or `.` are not pages).
3. What Quarto does that nbconvert does not: headings get Pandoc's ids (lower case: `#scorer.score`, the anchors
   nbdev's doc links point to), `$...$` and `$$...$$` become MathML (no script, no network: browsers draw it),
   Python warnings are dropped from stderr outputs, wide tables scroll and images fit the page.
"""
from __future__ import annotations
import argparse, html, json, os, re, shutil, tempfile
from pathlib import Path

import nbformat, yaml
from jinja2 import pass_context
from execnb.nbio import read_nb, write_nb
from fastcore.basics import AttrDict
from nbconvert import HTMLExporter, MarkdownExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbformat.v4.rwbase import rejoin_lines
from nbdev.config import get_config as _get_config
from nbdev.processors import FilterDefaults, exec_show_docs
from pygments.formatters import HtmlFormatter

ROOT = Path(__file__).resolve().parent.parent  # the project: settings.ini, nbs/, README.md
_relative = r'(?![a-zA-Z][\w+.-]*:|/|#)'  # a link target that is neither a URL (scheme:), absolute (/) nor an anchor (#)

def get_config():
    "nbdev's settings of this project (settings.ini beside `tools/`), whatever the current directory"
    return _get_config(path=ROOT)

def doc_sources(
    nbs_path:Path, # Folder holding the notebooks and markdown pages
    folder_order:tuple=('tutorials','pipelines'), # Subfolders listed first, in this order
)->list:
    "Paths of the pages under `nbs_path`, relative to it, in sidebar order"
    nbs_path = Path(nbs_path)
    srcs = [p.relative_to(nbs_path) for p in nbs_path.rglob('*') if p.suffix in ('.ipynb','.md') and p.is_file()]
    srcs = [p for p in srcs if not any(o[0] in '_.' for o in p.parts)]
    def _folder(d): return (folder_order.index(d) if d in folder_order else len(folder_order), d)
    return sorted(srcs, key=lambda p: (len(p.parts)>1, tuple(map(_folder, p.parts[:-1])), p.stem!='index', p.name))

class NoExecFilter(FilterDefaults):
    "nbdev's docs processors without `exec_show_docs`: no code runs, `show_doc` cells stay empty"
    def base_procs(self): return [p for p in super().base_procs() if p is not exec_show_docs]

def proc_nb(
    src:Path, # Source notebook
    dest:Path, # Where to write the processed notebook
    filt:type=FilterDefaults, # nbdev processors to run, as `nbdev_proc_nbs` does
)->Path:
    "Process the notebook `src` for docs rendering with nbdev's `filt` into `dest`"
    from IPython.core.interactiveshell import InteractiveShell
    shell,in_test = InteractiveShell._instance,os.environ.get('IN_TEST')
    os.environ['IN_TEST'] = '1'
    try:
        nb = read_nb(src)
        title = next((c for c in nb.cells if c.cell_type=='markdown'), None)
        if title is not None: title.source = join_description(title.source)
        filt()(nb)
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        write_nb(nb, dest)
    finally:
        InteractiveShell._instance = shell
        if in_test is None: os.environ.pop('IN_TEST', None)
        else: os.environ['IN_TEST'] = in_test
    return Path(dest)

def join_description(
    md:str, # The title cell: `# Title`, then `> description` that may wrap over several `>` lines
)->str:
    "`md` with the first `> description` joined into one line (nbdev, so Quarto too, keeps only its first line)"
    return re.sub(r'^(>[ \t]+\S.*?)[ \t]*((?:\n>[ \t]*\S.*)+)$',
                  lambda m: ' '.join([m.group(1)]+[o.lstrip('>').strip() for o in m.group(2).split('\n') if o]),
                  md, count=1, flags=re.MULTILINE)

def mk_nb(
    cells:list, # `(cell_type, source)` pairs, or `('code', source, stream_text)` for a code cell with output
)->nbformat.NotebookNode:
    "A small notebook for tests and examples"
    v4 = nbformat.v4
    def _cell(t, src, out=None):
        if t=='markdown': return v4.new_markdown_cell(src)
        outs = [v4.new_output('stream', name='stdout', text=out)] if out else []
        return v4.new_code_cell(src, outputs=outs)
    return v4.new_notebook(cells=[_cell(*o) for o in cells])

_re_opt = re.compile(r'^\s*#\s*\|\s?(.*)$')

def cell_opts(
    source:str, # Source of a code cell
)->tuple:
    "The `#|` options at the top of `source` as a dict, and the source without them"
    lines,opts = source.splitlines(),{}
    while lines and (_re_opt.match(lines[0]) or not lines[0].strip()):
        opt = _re_opt.match(lines.pop(0))
        if not opt or not opt.group(1).strip(): continue
        k,sep,v = opt.group(1).partition(':')
        if not sep: k,_,v = opt.group(1).strip().partition(' ')
        try: val = yaml.safe_load(v) if v.strip() else True
        except yaml.YAMLError: val = v.strip()
        opts[k.strip()] = val
    return opts, '\n'.join(lines)

_re_pandoc_link = re.compile(r'(```.*?```|`[^`]*`)|\[([^\]]*)\]\(([^)\s]+)\)\{([^}]*)\}', re.DOTALL)
_re_pandoc_attr = re.compile(r'(\w[\w-]*)=("[^"]*"|\S+)|\.([\w-]+)')

def pandoc_links(
    md:str, # Markdown that may use Pandoc link attributes
)->str:
    "`md` with `[text](url){key=\"value\" .class}` links written as HTML `<a>` tags, code left alone"
    def _attrs(s):
        kv = [(m.group(1), m.group(2).strip('"')) if m.group(1) else ('class', m.group(3)) for m in _re_pandoc_attr.finditer(s)]
        return ''.join(f' {k}="{html.escape(v)}"' for k,v in kv)
    def _link(m): return m.group(1) or f'<a href="{html.escape(m.group(3))}"{_attrs(m.group(4))}>{m.group(2)}</a>'
    return _re_pandoc_link.sub(_link, md)

_re_fence = re.compile(r'^\s*:::.*$\n?', re.MULTILINE)
_re_code_block = re.compile(r'^```.*?^```', re.DOTALL | re.MULTILINE)
_re_code_link = re.compile(r'\[`([^`\]]*)`\]\([^)\s]*\)')

def code_links(
    md:str, # Markdown, e.g. a `show_doc` output
)->str:
    "`md` with the doc links nbdev writes into fenced code (docments comments of signatures) back to plain names"
    return _re_code_block.sub(lambda m: _re_code_link.sub(r'\1', m.group(0)), md)

def quarto_cell(
    cell:dict, # A notebook cell
)->dict|None:
    "`cell` as Quarto would show it, or `None` if nothing of it is shown"
    if cell.cell_type=='raw': return None
    if cell.cell_type=='markdown':
        cell.source = pandoc_links(_re_fence.sub('', cell.source))
        return cell if cell.source.strip() else None
    opts,cell.source = cell_opts(cell.source)
    cell.outputs = drop_warnings(cell.get('outputs', []))
    for out in cell.get('outputs', []):
        if 'text/markdown' in out.get('data', {}): out.data['text/markdown'] = pandoc_links(code_links(out.data['text/markdown']))
    if opts.get('include') is False or opts.get('hide'): return None
    if opts.get('output') is False: cell.outputs = []
    if opts.get('echo') is False or not cell.source.strip():
        cell.metadata['transient'] = {**cell.metadata.get('transient', {}), 'remove_source': True}
        if not cell.get('outputs'): return None
    return cell

_re_warning = re.compile(r'^\S.*:\d+: \w*Warning: .*\n?(?:[ \t]+.*\n?)*', re.MULTILINE)

def drop_warnings(
    outputs:list, # Outputs of a code cell
)->list:
    "`outputs` without Python warnings (`path:line: XWarning: ...` and the source line after it) in stderr streams"
    res = []
    for out in outputs:
        if out.get('output_type')=='stream' and out.get('name')=='stderr':
            out.text = _re_warning.sub('', out.text)
            if not out.text.strip(): continue
        res.append(out)
    return res

_cell_keys = dict(code={'id','cell_type','metadata','source','outputs','execution_count'},
                  markdown={'id','cell_type','metadata','source','attachments'},
                  raw={'id','cell_type','metadata','source','attachments'})

def _clean_cell(cell, ids):
    keys = _cell_keys.get(cell.get('cell_type'), set()) - ({'id'} if not ids else set())
    res = {k:v for k,v in cell.items() if k in keys}
    if isinstance(res.get('source'), list): res['source'] = ''.join(res['source'])
    res.setdefault('metadata', {})
    if res['cell_type']=='code': res.setdefault('outputs', []); res.setdefault('execution_count', None)
    return res

def clean_nb(
    nb:dict, # A notebook as loaded from JSON (e.g. from `_proc/`)
)->nbformat.NotebookNode:
    "A copy of `nb` that nbformat validates (standard cell keys, no float `execution.total`), multiline text joined"
    meta = dict(nb.get('metadata', {}))
    execution = dict(meta.get('execution', {}))
    if isinstance(execution.pop('total', None), float): meta['execution'] = execution
    ids = (nb.get('nbformat', 4), nb.get('nbformat_minor', 0)) >= (4, 5)
    cells = [_clean_cell(c, ids) for c in nb.get('cells', []) if c.get('cell_type') in _cell_keys]
    return rejoin_lines(nbformat.from_dict(dict(nb, metadata=meta, cells=cells)))

_re_fm = re.compile(r'\A\s*---\s*\n(.*?)\n---\s*(?:\n|\Z)', re.DOTALL)
_re_h1 = re.compile(r'^#\s+(\S.*?)\s*$', re.MULTILINE)

def split_frontmatter(
    text:str, # Markdown, or a raw frontmatter cell
)->tuple:
    "The YAML frontmatter of `text` as a dict, and the rest of `text`"
    m = _re_fm.match(text)
    if not m: return {}, text
    try: fm = yaml.safe_load(m.group(1))
    except yaml.YAMLError: return {}, text
    return (fm, text[m.end():]) if isinstance(fm, dict) else ({}, text)

def pandoc_id(
    text:str, # A heading's text (HTML tags and entities allowed)
    seen:set=None, # Ids already used on the page: a repeat gets `-1`, `-2`... as in Pandoc; `text`'s id is added
)->str:
    "The id Pandoc, so Quarto, gives a heading: lower case, only letters, digits, `_-.`, words joined by `-`"
    words = re.sub(r'[^\w\s.-]', '', html.unescape(re.sub(r'<[^>]*>', '', text)).lower()).split()
    res = base = re.sub(r'^[\W\d_]+', '', '-'.join(words)) or 'section'
    if seen is None: return res
    i = 0
    while res in seen: i += 1; res = f'{base}-{i}'
    seen.add(res)
    return res

def latex_mathml(
    tex:str, # LaTeX math, without the `$` delimiters
    display:bool=False, # A block (`$$...$$`) rather than inline (`$...$`)
)->str:
    "`tex` as MathML, which browsers draw with no script or network; the source as code if it does not convert"
    try: from latex2mathml.converter import convert
    except ImportError as e: raise ImportError('The docs build writes math with latex2mathml: pip install -e ".[dev]"') from e
    try: return convert(tex.strip(), display='block' if display else 'inline')
    except Exception: return f'<code class="math">{html.escape(tex)}</code>'

class SiteRenderer(IPythonRenderer):
    "nbconvert's markdown renderer with Pandoc's heading ids and math as MathML"
    def __init__(self, ids:set=None, **kwargs):
        super().__init__(escape=False, **kwargs)
        self.ids = set() if ids is None else ids
    def heading(self, text, level, **attrs):
        hid = pandoc_id(text, self.ids)
        return f'<h{level} id="{hid}">{text}<a class="anchor-link" href="#{hid}">¶</a></h{level}>\n'
    def block_math(self, body): return latex_mathml(body, display=True)
    def inline_math(self, body): return latex_mathml(body)
    def latex_environment(self, name, body): return latex_mathml(f'\\begin{{{name}}}{body}\\end{{{name}}}', display=True)

def markdown_html(
    md:str, # Markdown, math included
    ids:set=None, # Heading ids already used on the page
    **kwargs, # Passed to nbconvert's `IPythonRenderer` (attachments, path...)
)->str:
    "`md` as HTML the way the site shows it (Pandoc ids, MathML)"
    return MarkdownWithMath(renderer=SiteRenderer(ids, **kwargs)).render(md)

def inline_html(
    md:str, # One line of markdown, e.g. a page description with `code` in it
)->str:
    "`md` as inline HTML, without the paragraph around it"
    return re.sub(r'\A\s*<p>(.*)</p>\s*\Z', r'\1', markdown_html(md), flags=re.DOTALL)

class SiteExporter(HTMLExporter):
    "nbconvert's HTML exporter rendering markdown cells and outputs with `markdown_html`, one set of ids per page"
    def from_notebook_node(self, nb, resources=None, **kw):
        self.ids = set()
        return super().from_notebook_node(nb, resources, **kw)
    @pass_context
    def markdown2html(self, context, source):
        path = context.get('resources', {}).get('metadata', {}).get('path', '')
        return markdown_html(source, self.ids, attachments=context.get('cell', {}).get('attachments', {}),
                             embed_images=self.embed_images, path=path, anchor_link_text=self.anchor_link_text,
                             **self.lexer_options)

def _exporter():
    return SiteExporter(template_name='basic', exclude_input_prompt=True, exclude_output_prompt=True)

def nb_page(
    proc_nb:Path, # A notebook processed by `proc_nb`
    rel:Path, # Path of its source, relative to the notebooks folder
    exporter=None, # An `HTMLExporter` to reuse
)->AttrDict:
    "The page (`title`, `description`, `out` path, `body` HTML) for a processed notebook"
    nb = clean_nb(json.loads(Path(proc_nb).read_text(encoding='utf-8')))
    fm = split_frontmatter(nb.cells[0].source)[0] if nb.cells and nb.cells[0].cell_type=='raw' else {}
    nb.cells = [c for c in map(quarto_cell, nb.cells) if c is not None]
    body = (exporter or _exporter()).from_notebook_node(nb)[0]
    out = rel.parent/fm.get('output-file', rel.stem+'.html')
    return AttrDict(src=rel, out=out, title=str(fm.get('title', rel.stem)), description=fm.get('description', ''),
                    body=body, show_title='title' in fm)

def md_page(
    path:Path, # A markdown file
    rel:Path, # Its path relative to the notebooks folder
)->AttrDict:
    "The page for a markdown file"
    fm,text = split_frontmatter(Path(path).read_text(encoding='utf-8'))
    h1 = _re_h1.search(text)
    title = fm.get('title') or (h1.group(1) if h1 else rel.stem)
    return AttrDict(src=rel, out=rel.with_suffix('.html'), title=str(title), description=fm.get('description', ''),
                    body=markdown_html(pandoc_links(_re_fence.sub('', text))), show_title='title' in fm)

def _href(page, current): return Path(os.path.relpath(page.out, current.out.parent)).as_posix()
def _section(folder): return ' / '.join(re.sub(r'^\d+_', '', o).replace('_', ' ').capitalize() for o in folder.parts)

def sidebar_html(
    pages:list, # All pages, in order
    current:AttrDict, # The page the sidebar is for
    site_title:str='', # Shown above the list, linking to the home page
)->str:
    "Navigation listing `pages`, with links relative to `current`"
    home = next((p for p in pages if p.out.as_posix()=='index.html'), pages[0])
    res,folder = [f'<a class="crnb-site" href="{_href(home, current)}">{html.escape(site_title)}</a>', '<ul>'],Path('.')
    for page in pages:
        if page.src.parent!=folder:
            if folder!=Path('.'): res.append('</ul></li>')
            folder = page.src.parent
            res.append(f'<li class="crnb-section"><span>{html.escape(_section(folder))}</span><ul>')
        active = ' class="active"' if page is current else ''
        res.append(f'<li><a{active} href="{_href(page, current)}">{html.escape(page.title)}</a></li>')
    if folder!=Path('.'): res.append('</ul></li>')
    return '\n'.join(res+['</ul>'])

def localize_links(
    body:str, # HTML of a page
    site_url:str, # The published site's URL (`doc_host` + `doc_baseurl`)
    root:str, # Relative path from the page to the site root, e.g. `../`
)->str:
    "`body` with links into `site_url` made relative to the local site root, and links to sibling notebooks and Markdown pages pointed at their HTML pages (as Quarto does)"
    body = re.sub(r'href="' + _relative + r'([^"#]+)\.(?:ipynb|md)(?=["#])', r'href="\1.html', body)
    if not site_url: return body
    return re.sub(r'href="' + re.escape(site_url.rstrip('/')) + r'(?:/|(?="))', f'href="{root}', body)

_page_html = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – {site}</title>
<link rel="stylesheet" href="{css}">
</head>
<body>
<nav class="crnb-sidebar" aria-label="Pages">
{sidebar}
</nav>
<main class="crnb-page">
{header}
{body}
</main>
</body>
</html>
"""

_site_css = """body { margin: 0; display: flex; font-family: system-ui, sans-serif; line-height: 1.5; color: #222; }
.crnb-sidebar { flex: 0 0 16rem; min-height: 100vh; padding: 1rem; background: #f5f6f8; border-right: 1px solid #ddd; }
.crnb-sidebar ul { list-style: none; padding-left: 0.8rem; } .crnb-sidebar > ul { padding-left: 0; }
.crnb-sidebar a { text-decoration: none; color: #2c3e50; } .crnb-sidebar a.active { font-weight: bold; color: #2780e3; }
.crnb-site { font-size: 1.2rem; font-weight: bold; } .crnb-section > span { font-weight: 600; color: #666; }
.crnb-page { flex: 1; min-width: 0; max-width: 60rem; padding: 1rem 2rem; }
.crnb-page .description { font-style: italic; font-size: 1.2rem; opacity: 0.7; }
.input_area, .highlight { background: #f7f7f7; border-radius: 4px; }
.output_area pre, .output_subarea pre { margin-left: 0.8rem; border-left: 2px solid lightsalmon; padding-left: 0.5rem; }
pre { padding: 0.5rem; overflow-x: auto; } th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; display: block; width: max-content; max-width: 100%; overflow-x: auto; }
img, svg, video { max-width: 100%; height: auto; } math { font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math", math; }
math[display="block"] { font-size: 1.2em; margin: 0.8rem 0; overflow-x: auto; }
.anchor-link { margin-left: 0.3rem; text-decoration: none; color: #999; visibility: hidden; }
:is(h1, h2, h3, h4, h5, h6):hover > .anchor-link { visibility: visible; }
"""

def page_html(
    page:AttrDict, # The page to write
    pages:list, # All pages, for the sidebar
    site_title:str='', # The site's title
    site_url:str='', # The published site's URL, whose links become relative
)->str:
    "The complete HTML document for `page`"
    header = f'<h1 class="title">{html.escape(page.title)}</h1>' if page.show_title else ''
    if page.description: header += f'\n<p class="description">{inline_html(str(page.description))}</p>'
    root = ''.join('../' for _ in page.out.parent.parts)
    return _page_html.format(title=html.escape(page.title), site=html.escape(site_title), css=root+'site.css',
                             header=header, sidebar=sidebar_html(pages, page, site_title),
                             body=localize_links(page.body, site_url, root))

_img_exts = {'.png','.jpg','.jpeg','.gif','.svg','.webp'}

def _load_page(src, rel, proc_path, strict, exporter, warnings):
    if src.suffix=='.md': return md_page(src, rel)
    dest = proc_path/rel
    try: proc_nb(src, dest)
    except Exception as e:
        if strict: raise
        warnings.append(f'{rel}: nbdev could not run its show_doc cells ({type(e).__name__}); page built without them')
        proc_nb(src, dest, filt=NoExecFilter)
    return nb_page(dest, rel, exporter)

def _copy_images(nbs_path, dest):
    for img in nbs_path.rglob('*'):
        rel = img.relative_to(nbs_path)
        if img.suffix.lower() in _img_exts and not any(o[0] in '_.' for o in rel.parts):
            (dest/rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(img, dest/rel)

def build_docs(
    nbs_path:str=None, # Notebooks folder (default: `nbs_path` in settings.ini)
    dest:str=None, # Output folder for the site (default: `doc_path` in settings.ini)
    proc_path:str=None, # Folder for nbdev's processed notebooks (default: `_proc` beside `nbs_path`)
    site_title:str=None, # Site title (default: `title` in settings.ini)
    strict:bool=False, # Stop if nbdev cannot process a notebook, instead of building it without `show_doc`
    quiet:bool=False, # Don't print the summary
)->list:
    "Build the docs site from `nbs_path` into `dest` with nbdev's processing and nbconvert, without Quarto"
    cfg = get_config()
    nbs_path = Path(nbs_path or cfg.nbs_path)
    dest,proc_path = Path(dest or cfg.doc_path),Path(proc_path or nbs_path.parent/'_proc')
    site_title = cfg.get('title', '') if site_title is None else site_title
    site_url = cfg.get('doc_host', '') + cfg.get('doc_baseurl', '')
    exporter,warnings,pages = _exporter(),[],[]
    for rel in doc_sources(nbs_path):
        try: pages.append(_load_page(nbs_path/rel, rel, proc_path, strict, exporter, warnings))
        except Exception as e:
            if strict: raise
            warnings.append(f'{rel}: skipped ({type(e).__name__}: {e})')
    written = []
    for page in pages:
        (dest/page.out).parent.mkdir(parents=True, exist_ok=True)
        (dest/page.out).write_text(page_html(page, pages, site_title, site_url), encoding='utf-8')
        written.append(dest/page.out)
    dest.mkdir(parents=True, exist_ok=True)
    (dest/'site.css').write_text(_site_css + HtmlFormatter().get_style_defs('.highlight'))
    _copy_images(nbs_path, dest)
    if not quiet:
        print(f'Wrote {len(written)} pages to {dest}')
        for w in warnings: print(f'  warning: {w}')
    return written

def readme_links(
    md:str, # The README's Markdown, written from a notebook in `nbs_path`
    nbs_path:Path, # Where the notebook's relative links start
    dest:Path, # Where the README is written
)->str:
    "Point the notebook's relative links (pages, tutorials, images) at the same files from the README's folder"
    rel = Path(os.path.relpath(Path(nbs_path).resolve(), Path(dest).resolve().parent)).as_posix()
    if rel == '.': return md
    return re.sub(r'(\]\()' + _relative + r'([^)\s]+)', lambda m: f'{m.group(1)}{rel}/{m.group(2)}', md)

def build_readme(
    nbs_path:Path=None, # Notebooks folder (default: `nbs_path` in settings.ini)
    dest:Path=None, # Where to write (default: README.md beside settings.ini)
)->Path:
    "Write README.md from the readme notebook (`index.ipynb`) without Quarto"
    cfg = get_config()
    nbs_path = Path(nbs_path or cfg.nbs_path)
    dest = Path(dest or cfg.config_path/'README.md')
    with tempfile.TemporaryDirectory() as d:
        nb = clean_nb(json.loads(proc_nb(nbs_path/cfg.readme_nb, Path(d)/cfg.readme_nb).read_text(encoding='utf-8')))
    fm = split_frontmatter(nb.cells[0].source)[0] if nb.cells and nb.cells[0].cell_type=='raw' else {}
    nb.cells = [c for c in map(quarto_cell, nb.cells) if c is not None]
    head = (f"# {fm['title']}\n\n" + (f"> {fm['description']}\n\n" if fm.get('description') else '')) if 'title' in fm else ''
    body = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)[0]
    text = head + readme_links(body.strip(), nbs_path, dest) + '\n'
    if not dest.exists() or dest.read_text(encoding='utf-8') != text: dest.write_text(text, encoding='utf-8')  # unchanged: not rewritten, so readers never see it half-written
    return dest


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build the docs site without Quarto (nbdev's processing, then nbconvert), and README.md from index.ipynb")
    ap.add_argument('--nbs_path', help='notebooks folder (default: nbs_path in settings.ini)')
    ap.add_argument('--dest', help='output folder for the site (default: doc_path in settings.ini)')
    ap.add_argument('--proc_path', help="folder for nbdev's processed notebooks (default: _proc beside nbs_path)")
    ap.add_argument('--strict', action='store_true', help='stop if nbdev cannot process a notebook, instead of building it without show_doc')
    a = ap.parse_args(argv)
    nbs_path, dest, proc_path = (a.nbs_path and Path(a.nbs_path).absolute(), a.dest and Path(a.dest).absolute(),
                                 a.proc_path and Path(a.proc_path).absolute())
    os.chdir(ROOT)  # nbdev's processors read settings.ini from the current directory
    build_docs(nbs_path, dest, proc_path=proc_path, strict=a.strict)
    print(f"README: {build_readme(nbs_path)}")


if __name__ == '__main__': main()
