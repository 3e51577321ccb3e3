"""`memstrata bench scale`: how ingest, storage, search and the vector index behave as
a store grows to N generated records.

- `plan`: what to run (`ScaleConfig`), the strategies, targets and query sets;
- `run`: the phases for one N (ingest, warm-up, storage, searches, query embedding,
  single adds, adds with the index loaded, reopen) and `run_scale` over every N;
- `oracle`: the engine's dense search against an exact scan of the stored vectors;
- `report`: results.md, the plots over N and the terminal table.

>>> from memstrata.bench.scale.run import run_scale
>>> results = run_scale(ScaleConfig(sizes=[1000], embedder="hash", out=Path("out")))
"""
