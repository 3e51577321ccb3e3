import memstrata


def test_exported_names_are_the_intended_surface() -> None:
    assert set(memstrata.__all__) == {
        "BackendError",
        "Client",
        "ConfigError",
        "Conflict",
        "Context",
        "ContextPart",
        "Embedder",
        "EmbeddingError",
        "HistoryEntry",
        "Hit",
        "InvalidInput",
        "Memory",
        "MemstrataError",
        "NotFound",
        "Page",
        "Record",
        "Scope",
        "ScopeViolation",
        "__version__",
    }
    for name in memstrata.__all__:
        assert hasattr(memstrata, name), name


def test_every_error_is_a_memstrata_error_and_shadows_no_builtin() -> None:
    import builtins

    for name in (
        "BackendError",
        "ConfigError",
        "Conflict",
        "EmbeddingError",
        "InvalidInput",
        "NotFound",
        "ScopeViolation",
    ):
        cls = getattr(memstrata, name)
        assert issubclass(cls, memstrata.MemstrataError)
        assert not hasattr(builtins, name)
