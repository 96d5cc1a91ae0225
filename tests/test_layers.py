"The package's shape: arrows point down the layers of DESIGN.md, no cycle, no private name crosses a module, modules stay small."
import ast
from pathlib import Path
import pytest

PKG = Path(__file__).resolve().parents[1]/'credit_risk_nb'
LAYERS = ['config', 'datasets', 'features', 'scorecard', 'treeshap', 'models', 'evaluation', 'grades', 'reports', 'scoring', 'drift',
          'recourse', 'fit', 'tracking', 'tuning', 'validation', 'model_card', 'decisions', 'backtest', 'pipeline',
          'distributed', 'batch', 'sqlexport', 'retrain', 'schema', 'bodies', 'metrics', 'api', 'cli', 'draft']
MODULES = sorted(p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_'))

def imports(module):
    "(imported module, names) for every import of a package module in `module`, lazy imports inside functions included."
    for node in ast.walk(ast.parse((PKG/f'{module}.py').read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and (node.level == 1 or node.module.startswith('credit_risk_nb')):
            target = node.module.removeprefix('credit_risk_nb').lstrip('.') or None
            if target: yield target, [a.name for a in node.names]
            else: yield from ((a.name, []) for a in node.names if a.name in MODULES)

def test_every_module_has_a_layer():
    assert set(MODULES) <= set(LAYERS), set(MODULES) - set(LAYERS)

@pytest.mark.parametrize('module', MODULES)
def test_arrows_point_down(module):
    "A module imports only modules of lower layers (so there is no cycle), and none of their private names."
    for target, names in imports(module):
        assert LAYERS.index(target) < LAYERS.index(module), f"{module} imports {target}: an upward arrow"
        assert not [n for n in names if n.startswith('_')], f"{module} imports private names {names} of {target}"

def docstring_lines(source:str) -> set:
    "Line numbers of the doc strings of the module, its classes and functions."
    out = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, 'body', None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], 'value', None), ast.Constant) \
           and isinstance(body[0].value.value, str) and body[0].lineno == body[0].end_lineno and ';' not in source.splitlines()[body[0].lineno - 1]:
            out.add(body[0].lineno)
    return out

@pytest.mark.parametrize('module', MODULES)
def test_modules_stay_small(module):
    "At most ~400 lines of code: blank lines, comment lines, one-line doc strings and nbdev's cell markers not counted."
    source = (PKG/f'{module}.py').read_text()
    docs = docstring_lines(source)
    code = [l for i, l in enumerate(source.splitlines(), 1) if l.strip() and not l.lstrip().startswith('#') and i not in docs]
    assert len(code) <= 400, (module, len(code))
