"""signals.OpenClients: every client a command opened is cut at once, later ones on open."""

from __future__ import annotations

from reconciler.commands.signals import OpenClients


class Client:
    def __init__(self) -> None:
        self.aborted = 0

    def abort(self) -> None:
        self.aborted += 1


def test_abort_cuts_every_tracked_client_and_any_opened_later() -> None:
    clients = OpenClients()
    first, second = clients.track(Client()), clients.track(Client())
    clients.abort()
    assert (first.aborted, second.aborted) == (1, 1)
    late = clients.track(Client())
    assert late.aborted == 1  # opened after the cut: cut on the spot


def test_an_object_without_abort_is_returned_untouched() -> None:
    clients = OpenClients()
    plain = object()
    assert clients.track(plain) is plain
    clients.abort()
