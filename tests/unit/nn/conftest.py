import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: extra threads only contend with each other (and the machine is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
