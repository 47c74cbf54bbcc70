"""What one order costs the database: the statements of POST /api/v1/terminal/orders.

docs/performance.md ("Terminal") explains each of them. A change that adds one to the order
path should say why there, and raise the budget here.
"""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from tests.terminal.conftest import place

pytestmark = pytest.mark.django_db(transaction=True)  # real BEGIN/COMMIT, as on the server

# Token, membership, connection; journal row + audit row; the venue (balances locked,
# balances, order, fill); the acknowledgement (order, event): 12, in 3 transactions.
ORDER_STATEMENTS = 12
ORDER_TRANSACTIONS = 3


def statements_of(send) -> list[str]:
    with CaptureQueriesContext(db) as captured:
        response = send()
    assert response.status_code == 201, response.content
    return [query["sql"] for query in captured.captured_queries]


def test_a_market_order_stays_within_its_statement_budget(trader_api, connection):
    place(trader_api, connection, amount="0.001")  # the account's balance rows exist from now on

    sql = statements_of(lambda: place(trader_api, connection, side="sell", amount="0.001"))

    begins = sum(statement == "BEGIN" for statement in sql)
    commits = sum(statement == "COMMIT" for statement in sql)
    assert (begins, commits) == (ORDER_TRANSACTIONS, ORDER_TRANSACTIONS), sql
    assert len(sql) - begins - commits <= ORDER_STATEMENTS, sql
    assert not any("FOR UPDATE" in statement and "terminal_order" in statement for statement in sql)


def test_a_first_order_of_an_account_opens_it_with_one_more_transaction(trader_api, connection):
    sql = statements_of(lambda: place(trader_api, connection, amount="0.001"))

    # The venue's transaction meets no balance rows, rolls back, creates them, runs again.
    assert sum(statement == "ROLLBACK" for statement in sql) == 1, sql
    assert sum('INSERT INTO "exchanges_demobalance"' in statement for statement in sql) == 1
