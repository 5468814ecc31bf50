"""paperrec's library: catalog, content features, ranking models on one contract, evaluation.

No web or Redis code lives here; the service and the experiments stand on this package.
"""

from recommender.catalog import Catalog, IdMap, Paper
from recommender.models import MODELS, create_model

__all__ = ["MODELS", "Catalog", "IdMap", "Paper", "create_model"]
__version__ = "0.1.0"
