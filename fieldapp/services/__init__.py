"""The domain: plain functions over the models, shared by the web UI, the CLI and the tests.

Services never import ``flask.request``. Messages meant for people are lazy gettext strings,
translated wherever they are shown.
"""
