"""python/manycore/_channels.py: rendezvous channels between interpreters (the PEP 554 surface).

``create_channel()`` returns ``(RecvChannel, SendChannel)``. ``send`` returns only once
a receiver has taken the object; ``send_nowait`` hands it over only to a receiver that
is already waiting. Both ends can be passed to other interpreters like queues, and
``close()`` on either end closes the channel everywhere. The methods are C++ (the GIL
is released while waiting); these subclasses exist so received ends carry this
module's documentation and iteration.
"""

from . import _core
from ._errors import ChannelClosedError, ChannelEmptyError, ChannelError

__all__ = ["RecvChannel", "SendChannel", "create_channel", "ChannelError", "ChannelClosedError", "ChannelEmptyError"]


class RecvChannel(_core.RecvChannel):
    """The receiving end: ``recv(timeout=None)``, ``recv_nowait(default=...)``, ``close()``, ``id``, ``closed``.

    Iterating receives until the channel is closed.
    """

    __slots__ = ()


class SendChannel(_core.SendChannel):
    """The sending end: ``send(obj, timeout=None)``, ``send_nowait(obj) -> bool``, ``close()``, ``id``, ``closed``."""

    __slots__ = ()


def create_channel():
    """A new channel: ``(RecvChannel, SendChannel)``."""
    return _core.create_channel()


_core.use_wrapper_class("RecvChannel", RecvChannel)
_core.use_wrapper_class("SendChannel", SendChannel)
