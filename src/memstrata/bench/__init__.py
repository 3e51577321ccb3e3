"""Benchmarks for memstrata, run as `memstrata bench …` (`cli.py`).

The retrieval benchmarks (`locomo`, `longmemeval`, `beam`, `updates`): evidence
recall@k through provenance, MRR, context coverage, latency and ingest on the user's
copy of a data set (or, for `updates`, a generated one). A data set is a reader module
of its own, with its own figures where it asks for more than recall; everything else
is shared:

    reader (locomo.py, longmemeval.py,   files -> Conversations   (model.py)
            beam.py, updates.py)
    runner.py                            ingest, search, context -> one row per
                                         question and strategy (metrics.py scores)
    results.py                           rows -> results.json figures
    summary.py                           results -> results.md, plots, terminal line

Beside the readers: `evidence.py` (LoCoMo's evidence labels), `audit.py` (LoCoMo
scored again against audited evidence), `abilities.py` (BEAM's per-ability figures:
update order, contradictions, Kendall's tau of event order), `updates_gen.py` (the
seeded knowledge-update generator, with its dev and test template pools in
`updates_pool.py`, `updates_dev_pool.py` and `updates_test_pool.py`).

`options.py` checks `--strategy` and `--set`. The other benchmarks are packages
split the same way, into plan, run and report modules: `scale/` (ingest, storage,
search latency and vector-index exactness as a store grows to N generated records,
from `gen.py`), `serve/` (the HTTP server under concurrent clients) and
`reliability/` (crash loop, tenant isolation, purge residue, faults).

Helpers every benchmark uses, which import no benchmark: `measure.py` (timing,
percentiles, memory, progress, the embedder warm-up), `machine.py` (where and from
which commit a result was measured), `stores.py` (store files and what they weigh),
`report.py` (writing JSON, JSON lines, Markdown tables) and `plots.py` (PNGs).

They need the `bench` extra (matplotlib, psutil, tqdm). docs/benchmarks.md says how to
get the data and shows the latest figures with the commands that produced them.
"""
