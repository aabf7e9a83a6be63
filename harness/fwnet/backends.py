"""Backends: where a scenario's socket operations run, by name.

  linux, fakes  hostagent.py: the agent as a host process
  ovmf, rump    qemubackend.py: the agent in QEMU guests

The interface (start, begin, execute, peer_action, end, stop) and
BackendError are backend.py's.
"""
from .backend import GUEST_STATIC, Backend, BackendError, parse_reply  # noqa: F401
from .hostagent import FakesBackend, LinuxBackend
from .qemubackend import OvmfBackend, RumpBackend

BACKENDS = {"linux": LinuxBackend, "fakes": FakesBackend, "ovmf": OvmfBackend, "rump": RumpBackend}
