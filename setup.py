"Package set-up driven by `settings.ini` (nbdev 2 layout)."
from configparser import ConfigParser
import setuptools, shlex

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12 3.13'.split()
lic = licenses[cfg['license'].lower()]
min_python = cfg['min_python']

def reqs(key): return shlex.split(cfg.get(key, ''))

setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], license=lic[0],
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title(),
                 'License :: ' + lic[1]] +
                ['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(min_python):]],
    url=cfg['git_url'], packages=setuptools.find_packages(include=['credit_risk_nb', 'credit_risk_nb.*']),
    include_package_data=True, package_data={'credit_risk_nb': ['data/*', 'specs/*.yaml', 'pipelines/*.ipynb']},
    install_requires=reqs('requirements'),
    # xgboost is an extra so CPU-only machines can take the 6 MB `xgboost-cpu` wheel instead of the CUDA build.
    extras_require={'cpu': reqs('cpu_requirements'), 'gpu': reqs('gpu_requirements'), 'dev': reqs('dev_requirements'), 'bench': reqs('bench_requirements')},
    dependency_links=cfg.get('dep_links', '').split(), python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(), long_description_content_type='text/markdown',
    zip_safe=False, keywords=cfg['keywords'], description=cfg['description'],
    entry_points={'console_scripts': cfg.get('console_scripts', '').split(), 'nbdev': [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d']},
)
