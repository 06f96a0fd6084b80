@pytest.mark.parametrize(
    ("states", "export_code", "code"),
    [
        (["cached", "built"], None, 0),
        (["cached", "built"], 2, 2),
        (["failed"], 3, 3),
        (["unschedulable"], 2, 3),
    ],
)
def test_the_fleet_exit_code_counts_a_failed_triton_export(
    tmp_path: Path, example_model: Path, states: list, export_code: int | None, code: int
) -> None:
    from trtconvert.cli.fleet import _finish
    from trtconvert.fleet.run import FleetIncomplete

    manifest = read_manifest(
        _write_manifest(
            tmp_path / "FLEET.yaml",
            {"store": "s", "gpus": ["H100"], "jobs": [{"model": str(example_model), "profiles": [SR_PROFILE]}],
             "triton": "repo"},
        )
    )  # fmt: skip
    exit_codes = {"built": 0, "cached": 0, "failed": 4, "unschedulable": 3}
    entries = [
        {"name": f"j{i}", "gpu": "H100", "state": s, "exit_code": exit_codes[s], "seconds": 0.0}
        for i, s in enumerate(states)
    ]
    triton = {"j0": {"exported": export_code is None, **({"exit_code": export_code} if export_code else {})}}
    if code == 0:
        _finish(manifest, entries, triton, True)
        return
    with pytest.raises(FleetIncomplete) as raised:
        _finish(manifest, entries, triton, True)
    expected = max(code, *(exit_codes[s] for s in states if s not in ("built", "cached")), 0)
    assert raised.value.exit_code == raised.value.measured["exit_code"] == expected
    assert raised.value.measured["triton"]["models"] == triton
