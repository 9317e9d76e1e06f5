"""lithoflow's bookkeeping inside its Airflow compatibility package.

``host`` answers variables, connections and configuration; ``core`` holds the small
helpers the authoring API shares (the ``NOTSET`` sentinel, key validation, the DAG-file
line of the code that created an object); ``providers`` makes provider packages lithoflow
does not implement importable as stubs.
"""
