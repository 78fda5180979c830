import pytest
import torch

HAS_CUDA = torch.cuda.is_available()


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=[
    pytest.mark.cuda, pytest.mark.skipif(not HAS_CUDA, reason="cuda: no CUDA GPU on this machine")])])
def device(request) -> str:
    """Run a test on the CPU and, where a CUDA GPU exists, again on it (``pytest -m cuda``: only there).

    CUDA draws come from CUDA generators (other numbers than the CPU's), and its scatter-adds are not
    bitwise deterministic, so the device variants assert the same oracles, never equality with the CPU.
    """
    return request.param
