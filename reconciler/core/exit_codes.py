"""The exit codes of contract §5, declared once for every command."""

from __future__ import annotations

EXIT_OK = 0  # success; for plan / apply --dry-run / reconcile: nothing to do
EXIT_ERROR = 1  # invalid input, API or state failure, entries not applied, usage errors
EXIT_CHANGES = 2  # only with --detailed-exitcode: success, and there are changes or drift
