"""The built-in source on SQLite and PostgreSQL: `smsdesk context import` (every problem with
its line, nothing half-written, idempotent), the records read back per brand and number, and
free slots from business hours minus booked appointments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from typer.testing import CliRunner

from app import clock
from app.cli import app
from app.config import get_settings
from app.context import BuiltinContext, Customer
from app.context.demo import SIMULATOR_NUMBERS, seed_customers
from app.context.importer import COLUMNS, import_csv
from app.errors import InvalidContextFile
from app.handoff.sla import BusinessClock
from app.storage.tables import AppointmentRecord, CustomerRecord, OrderRecord

HEADER = ",".join(COLUMNS)
GOOD = f"""{HEADER}
customer,+12125550123,Maya Chen,en,maya@example.com,,,,,,,,,,,,
order,+12125550123,,,,AC10442,shipped,trail runners,2026-03-08T14:00:00Z,https://track.example.com/AC10442,UPS,2026-03-12,,,,,
order,+12125550123,,,,AC10001,delivered,yoga mat,2026-01-02T10:00:00-05:00,,,,,,,,
appointment,+12125550123,,,,AP7,booked,,,,,,bike fit,2026-03-11T10:00:00-04:00,Acme Downtown,,
subscription,+12125550123,,,,,active,,,,,,,,,Acme Club Yearly,2026-04-01
order,+1 (646) 555-0142,,,,AC20001,processing,camp stove,2026-03-09T09:00:00Z,,,,,,,,
"""
NEW_YORK = BusinessClock("mon-fri 09:00-18:00", "America/New_York", "US")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text(text, encoding="utf-8")
    return path


def source(engine: Engine) -> BuiltinContext:
    return BuiltinContext(engine, clock=NEW_YORK, slot_minutes=60, location="Acme Downtown")


def count(engine: Engine, table: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_an_import_reads_back_as_typed_records_only_for_its_brand_and_number(
    engine: Engine, tmp_path: Path
) -> None:
    result = import_csv(engine, write(tmp_path, GOOD), brand="acme")
    assert result.counts == {"customer": 1, "order": 3, "appointment": 1, "subscription": 1}
    assert result.customers == 2
    customer = source(engine).customer("acme", "+12125550123")
    assert isinstance(customer, Customer) and customer.name == "Maya Chen"
    latest = customer.latest_order()
    assert latest is not None and latest.id == "AC10442" and latest.eta == date(2026, 3, 12)
    assert customer.order("ac10442") == latest and customer.order("#10442") == latest
    assert customer.order("AC20001") is None  # the other number's order is not theirs
    assert customer.appointments[0].starts_at == datetime(2026, 3, 11, 14, 0, tzinfo=UTC)
    assert customer.subscription is not None and customer.subscription.plan == "Acme Club Yearly"
    other = source(engine).customer("acme", "+16465550142")  # written loosely, stored E.164
    assert other is not None and other.name == "" and [o.id for o in other.orders] == ["AC20001"]
    assert source(engine).customer("other-brand", "+12125550123") is None
    assert source(engine).covers("acme") and not source(engine).covers("other-brand")


def test_importing_again_updates_rather_than_duplicates(engine: Engine, tmp_path: Path) -> None:
    import_csv(engine, write(tmp_path, GOOD), brand="acme")
    import_csv(
        engine, write(tmp_path, GOOD.replace("AC10442,shipped", "AC10442,delivered")), brand="acme"
    )
    assert count(engine, CustomerRecord) == 2 and count(engine, OrderRecord) == 3
    customer = source(engine).customer("acme", "+12125550123")
    assert customer is not None and customer.order("AC10442").status == "delivered"  # type: ignore[union-attr]


def test_every_problem_is_reported_with_its_line_and_nothing_is_written(
    engine: Engine, tmp_path: Path
) -> None:
    bad = f"""{HEADER}
customer,+12125550123,Maya,,,,,,,,,,,,,,
order,+12125550123,,,,AC1,shiped,,2026-03-08T14:00:00Z,,,,,,,,
order,+12125550123,,,,AC2,shipped,,2026-03-08 14:00,,,,,,,,
appointment,555-0100,,,,AP1,,,,,,,tune-up,2026-03-11T10:00:00Z,,,
subscription,+12125550123,,,,,active,,,,,,,,,Club,April
refund,+12125550123,,,,,,,,,,,,,,,
order,+12125550123,,,,AC3,,,,,,,,,,,
"""
    path = write(tmp_path, bad)
    with pytest.raises(InvalidContextFile) as caught:
        import_csv(engine, path, brand="acme")
    lines = str(caught.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:{n}" for n in range(3, 9)]
    assert "'shiped' is not one of" in lines[0]
    assert "placed_at" in lines[1] and "time zone" in lines[1]
    assert "phone" in lines[2].casefold() or "+" in lines[2]
    assert "renews_on 'April'" in lines[3]
    assert "record 'refund'" in lines[4]
    assert "needs status, placed_at" in lines[5]
    assert count(engine, CustomerRecord) == 0


def test_an_unknown_column_is_refused_on_line_one(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "record,phone,nickname\ncustomer,+12125550123,M\n")
    with pytest.raises(InvalidContextFile, match=r"customers.csv:1: unknown column\(s\) nickname"):
        import_csv(engine, path, brand="acme")


def test_the_cli_imports_and_reports_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMSDESK_ENV", "test")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["context", "import", str(write(tmp_path, GOOD))])
        assert result.exit_code == 0, result.output
        assert (
            "imported 1 appointments, 1 customers, 3 orders, 1 subscriptions for 2 numbers"
            in result.output
        )
        shown = runner.invoke(app, ["context", "show", "+12125550123"])
        assert shown.exit_code == 0 and "Maya Chen" in shown.output and "AC10442" in shown.output
        bad = runner.invoke(app, ["context", "import", str(write(tmp_path, HEADER + "\nx,+1\n"))])
        assert bad.exit_code == 2 and "customers.csv:2: record 'x'" in bad.output
    finally:
        get_settings.cache_clear()


@pytest.fixture
def tuesday() -> Iterator[clock.FrozenClock]:
    with clock.frozen(datetime(2026, 3, 10, 15, 0, tzinfo=UTC)) as stopped:
        yield stopped


def test_free_slots_follow_business_hours_minus_booked_appointments(
    engine: Engine, tmp_path: Path, tuesday: clock.FrozenClock
) -> None:
    import_csv(engine, write(tmp_path, GOOD), brand="acme")  # AP7: Wed 11 Mar 10:00 New York
    after = datetime(2026, 3, 10, 21, 30, tzinfo=UTC)  # Tue 17:30 New York: the day is over
    slots = source(engine).free_slots("acme", service="bike fit", after=after, limit=3)
    local = [s.starts_at.astimezone(NEW_YORK._zone).strftime("%a %H:%M") for s in slots]
    assert local == ["Wed 09:00", "Wed 11:00", "Wed 12:00"]  # 10:00 is booked
    assert {s.service for s in slots} == {"bike fit"} and slots[0].location == "Acme Downtown"
    # Another brand's bookings never take this brand's slots.
    other = source(engine).free_slots("other", service="bike fit", after=after, limit=2)
    assert [s.starts_at.astimezone(NEW_YORK._zone).hour for s in other] == [9, 10]
    # A Friday afternoon rolls over the weekend to Monday.
    friday = datetime(2026, 3, 13, 21, 10, tzinfo=UTC)  # Fri 17:10
    (monday,) = source(engine).free_slots("acme", service="tune-up", after=friday, limit=1)
    assert monday.starts_at.astimezone(NEW_YORK._zone).strftime("%a %H:%M") == "Mon 09:00"


def test_the_demo_seed_covers_every_simulator_number_and_is_idempotent(
    engine: Engine, tuesday: clock.FrozenClock
) -> None:
    first = seed_customers(engine, brand="default", timezone="America/New_York", location="X")
    again = seed_customers(engine, brand="default", timezone="America/New_York", location="X")
    assert first == again == len(SIMULATOR_NUMBERS) + 4
    assert count(engine, CustomerRecord) == first
    orders, appointments = count(engine, OrderRecord), count(engine, AppointmentRecord)
    seed_customers(engine, brand="default", timezone="America/New_York", location="X")
    assert (count(engine, OrderRecord), count(engine, AppointmentRecord)) == (orders, appointments)
    for phone in SIMULATOR_NUMBERS:
        customer = source(engine).customer("default", phone)
        assert customer is not None and customer.latest_order() is not None


@pytest.mark.parametrize("drawn", [0, 57, 99])
def test_every_number_the_simulator_can_pick_is_a_demo_customer(
    drawn: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.console import simulator

    monkeypatch.setattr(simulator.secrets, "randbelow", lambda _n: drawn)
    assert simulator.random_phone() in SIMULATOR_NUMBERS
