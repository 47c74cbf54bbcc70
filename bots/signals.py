"""Signal receivers of bots.

A paper or replay run's orders are journaled by the terminal like every bot order, but they
never reached an exchange: when the run is deleted (with its bot), its orders go with it
rather than linger, run-less, among the connection's real orders and positions.
"""

from __future__ import annotations

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from bots.models import BotRun
from terminal.selectors import SIMULATED_MODES
from terminal.services.journal import discard_simulated_orders


@receiver(pre_delete, sender=BotRun, dispatch_uid="bots.discard_simulated_orders")
def _discard_simulated_orders(sender, instance: BotRun, **kwargs) -> None:
    if (instance.execution or {}).get("mode") in SIMULATED_MODES:
        discard_simulated_orders(bot_run_ids=[instance.pk])
