import tunegate


def test_exported_names() -> None:
    assert sorted(tunegate.__all__) == sorted(
        [
            "Case",
            "ConfigError",
            "InputError",
            "MissingExtraError",
            "ProviderError",
            "Record",
            "Results",
            "StoreError",
            "Suite",
            "SuiteError",
            "TunegateError",
            "__version__",
            "load_results",
            "load_suite",
            "load_suites",
        ]
    )
    for name in tunegate.__all__:
        assert hasattr(tunegate, name)
