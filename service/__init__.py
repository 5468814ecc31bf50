"""paperrec's web service: a FastAPI app over a Redis store, serving the library's Engine.

No model logic lives here: the service keeps papers and feedback in Redis, calls
:func:`recommender.training.train` and serves a :class:`recommender.serving.Engine`.
"""
