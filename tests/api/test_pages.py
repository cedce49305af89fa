"""The pages, rendered on the server: login by cookie, the same figures as the API.

Given the served ledger, when an auditor logs in with a token and opens each page, then
it shows what the API answers (trial balance total, pooling funds with an inline SVG
plot, a member's balances and statement on both time axes, verify status, export links);
without the cookie a page is the login form with 401; bad input is shown naming the field.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from ledger.store.tables import entries

AS_OF = "2018-12-31"


@pytest.fixture
def browser(served):  # type: ignore[no-untyped-def]
    served.client.cookies.clear()
    answer = served.client.post("/login", data={"token": served.auditor}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    yield served.client
    served.client.cookies.clear()


def _member(served) -> str:  # type: ignore[no-untyped-def]
    with served.engine.connect() as conn:
        return conn.execute(
            select(entries.c.member_id)
            .where(entries.c.member_id.is_not(None))
            .order_by(entries.c.id)
            .limit(1)
        ).scalar_one()


@pytest.mark.parametrize(
    "path",
    ["/", "/trial-balance", "/pooling", "/verify", "/exports", "/members/110105194912310029"],
)
def test_a_page_without_a_login_is_the_login_form_with_401(served, path):
    served.client.cookies.clear()
    answer = served.client.get(path)
    assert answer.status_code == 401
    assert '<form method="post" action="/login">' in answer.text
    assert '<label for="token">' in answer.text


def test_a_wrong_token_at_the_login_form_is_401_and_sets_no_cookie(served):
    served.client.cookies.clear()
    answer = served.client.post("/login", data={"token": served.expired})
    assert answer.status_code == 401 and "token expired" in answer.text
    assert "set-cookie" not in answer.headers


def test_the_trial_balance_page_shows_the_apis_figures(served, browser):
    page = browser.get(f"/trial-balance?as_of={AS_OF}")
    api = served.get("/api/trial-balance", served.auditor, params={"as_of": AS_OF}).json()
    assert page.status_code == 200
    assert re.search(r'id="total">0\.00<', page.text)
    for row in api["accounts"]:
        assert f'<td>{row["account"]}</td><td class="num">{row["balance"]}</td>' in page.text


def test_the_pooling_page_plots_the_funds_as_inline_svg(served, browser):
    page = browser.get(f"/pooling?as_of={AS_OF}")
    api = served.get("/api/pooling", served.auditor, params={"as_of": AS_OF}).json()
    assert "<svg" in page.text and 'role="img"' in page.text
    for pool in api["pools"]:
        assert f'<td>{pool["region"]}</td><td class="num">{pool["balance"]}</td>' in page.text


def test_a_members_page_shows_balances_and_statement_on_both_time_axes(served, browser):
    member = _member(served)
    known_at = "2018-03-31"
    page = browser.get(f"/members/{member}?as_of={AS_OF}&known_at={known_at}")
    assert page.status_code == 200
    assert f'value="{AS_OF}"' in page.text and f'value="{known_at}"' in page.text
    lines = served.get(
        f"/api/members/{member}/statement",
        served.auditor,
        params={"as_of": AS_OF, "known_at": known_at, "limit": 100},
    ).json()
    assert f"of {lines['page']['total']}</caption>" in page.text
    for line in lines["lines"]:
        entry = line["entry_id"]
        assert f'<td class="num"><a href="/entries/{entry}">{entry}</a></td>' in page.text
    for held in lines["accounts"]:
        assert f'<td>{held["account"]}</td><td class="num">{held["owned"]}</td>' in page.text
    for paid in lines["payments"]:
        assert f'<td class="num">{paid["paid"]}</td><td class="num">{paid["personal"]}</td>' in (
            page.text
        )
    accounts = served.get("/api/accounts", served.auditor, params={"member": member}).json()
    for account in accounts["accounts"]:
        balance = served.get(
            f"/api/accounts/{account['account']}/balance",
            served.auditor,
            params={"as_of": AS_OF, "known_at": known_at},
        ).json()
        assert f'<td>{account["account"]}</td><td class="num">{balance["balance"]}</td>' in (
            page.text
        )


def test_finding_a_member_goes_to_their_page_and_a_bad_number_says_why(served, browser):
    member = _member(served)
    found = browser.get("/members", params={"member": member}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/members/{member}"
    bad = browser.get("/members", params={"member": "12345"})
    assert bad.status_code == 400
    assert "member: &#39;12345&#39; is not an 18-character citizen ID number" in bad.text
    unknown = browser.get("/members/110105194912310029")
    assert unknown.status_code == 404 and "no such member" in unknown.text


@pytest.mark.parametrize("path", ["/trial-balance?as_of=2018-02-30", "/pooling?known_at=soon"])
def test_a_bad_date_on_a_page_is_400_naming_the_field(browser, path):
    page = browser.get(path)
    assert page.status_code == 400
    assert re.search(r'role="alert" id="error">(as_of|known_at): ', page.text)


def test_an_auditor_sees_verify_status_but_may_not_start_a_run(served, browser):
    assert "Starting a run needs the operator role" in browser.get("/verify").text
    refused = browser.post("/verify")
    assert refused.status_code == 403 and "needs the operator role" in refused.text


def test_an_operator_starts_a_verify_run_from_the_page(served):
    served.client.cookies.clear()
    served.client.post("/login", data={"token": served.operator})
    started = served.client.post("/verify", follow_redirects=False)
    assert started.status_code == 303
    job_page = started.headers["location"]
    assert job_page.startswith("/verify/jobs/")
    served.finish_jobs()
    done = served.client.get(job_page)
    assert done.status_code == 200
    assert 'id="status">done<' in done.text and 'id="result">OK<' in done.text
    assert 'id="result">OK<' in served.client.get("/verify").text  # the last run, too
    served.client.cookies.clear()


def test_an_unknown_verify_job_page_is_404(served, browser):
    page = browser.get("/verify/jobs/00000000-0000-5000-8000-000000000000")
    assert page.status_code == 404 and "no such verify job" in page.text


def test_the_exports_page_links_to_the_streamed_exports(served, browser):
    page = browser.get("/exports")
    assert 'href="/api/export/ledger"' in page.text and 'href="/api/export/csv"' in page.text
    assert browser.get("/api/export/csv").status_code == 200  # the cookie serves the API too


def _cells(html: str, table: str) -> list[list[str]]:
    """The text of each body row's cells of the table with id ``table``."""
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, f"no table {table}"
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in rows
    ]


def test_the_member_page_links_to_their_months_arrangements_and_entries(served, browser):
    member = _member(served)
    page = browser.get(f"/members/{member}", params={"as_of": AS_OF}).text
    assert f'href="/months?member={member}"' in page
    assert f'href="/arrangements?member={member}"' in page
    assert re.search(r'<a href="/entries/\d+">\d+</a>', page)
    for link in ("/months", "/arrangements", "/entries"):
        assert f'<a href="{link}">' in page  # the navigation, on every page


def test_a_members_months_page_shows_the_apis_months(served, browser):
    member = _member(served)
    page = browser.get("/months", params={"member": member})
    api = served.get("/api/months", served.auditor, params={"member": member}).json()
    assert page.status_code == 200
    shown = _cells(page.text, "months")
    assert shown == [
        [
            m["member"],
            m["scheme"],
            m["region"],
            str(m["months"]),
            m["first"],
            m["last"],
            m["held_in"],
        ]
        for m in api["months"]
    ]
    assert shown
    if api["pension_paid_in"]:
        assert api["pension_paid_in"]["region"] in page.text


def test_everyones_months_come_a_page_at_a_time(served, browser):
    api = served.get("/api/months", served.auditor).json()
    first = _cells(browser.get("/months").text, "months")
    assert [r[0] for r in first] == [m["member"] for m in api["months"][:100]]


def test_the_arrangements_page_shows_the_apis_arrangements(served, browser):
    api = served.get("/api/arrangements", served.auditor).json()["arrangements"]
    shown = _cells(browser.get("/arrangements").text, "arrangements")
    assert shown == [
        [
            a["member"],
            a["scheme"],
            a["region"],
            a["agency"],
            a["from"],
            a["to"] or "",
            a["recorded_at"],
        ]
        for a in api[:100]
    ]
    assert shown
    one = api[0]["member"]
    mine = _cells(browser.get("/arrangements", params={"member": one}).text, "arrangements")
    assert {r[0] for r in mine} == {one}


def test_the_entries_page_shows_each_entrys_chain_position_and_hashes_as_the_api(served, browser):
    api = served.get("/api/entries", served.auditor, params={"after": 40, "limit": 100}).json()
    page = browser.get("/entries", params={"after": 40}).text
    shown = _cells(page, "entries")
    assert [(int(r[0]), int(r[1]), r[6], r[7]) for r in shown] == [
        (e["id"], e["chain_position"], e["prev_hash"], e["hash"]) for e in api["entries"]
    ]
    assert f'href="/entries?after={api["next_after"]}"' in page


def test_one_entrys_page_shows_its_hash_position_and_postings_as_the_api(served, browser):
    api = served.get("/api/entries/7", served.auditor).json()
    page = browser.get("/entries/7").text
    assert f'id="hash">{api["hash"]}<' in page and f'id="prev-hash">{api["prev_hash"]}<' in page
    assert f'id="chain-position">{api["chain_position"]}<' in page
    assert _cells(page, "postings") == [[p["account"], p["amount"]] for p in api["postings"]]


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/entries?after=-1", 400, "after"),
        ("/entries/abc", 400, "entry_id"),
        ("/entries/99999999999999999999", 400, "entry_id"),
        ("/entries?after=9223372036854775808", 400, "after"),
        ("/entries/99999999", 404, "entry_id"),
        ("/months?member=abc", 400, "member"),
        ("/months?member=110105194912310029", 404, "member"),
        ("/arrangements?member=abc", 400, "member"),
        ("/months?offset=-5", 400, "offset"),
    ],
)
def test_bad_input_on_the_new_pages_names_the_field(browser, path, status, field):
    page = browser.get(path)
    assert page.status_code == status
    assert f'role="alert" id="error">{field}: ' in page.text
