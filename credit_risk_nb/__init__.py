__version__ = "0.1.0"

import os as _os
# OpenMP threads (scikit-learn, XGBoost) sleep rather than spin while they wait: on a busy or small machine a spinning
# wait made one German Credit fold 60x slower. Read once, when the OpenMP runtime loads, so it is set before any import.
_os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
