"""The jobs panel, a job's page and the cross-filter by job, in a real headless Chromium on the two-week demo
database (its batch jobs ingested from the sacct output the demo writes beside its log)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from clusterdash.db.engine import make_engine
from clusterdash.db.filters import Filters
from clusterdash.db.query import job_profile
from clusterdash.db.schema import job_nodes, jobs
from tests.browser import figure_data, open_dashboard, page_text, screenshot, wait_for_panels, wait_until
from tests.test_dashboard import bar_names, chip_texts, choose, click_bar, query_of, selected_in, total


def scroll_to(duo, selector: str) -> None:
    """The jobs panel is below the fold: bring it to the middle of the window before clicking in it, and wait until
    it is there."""
    script = (
        "var e = document.querySelector(arguments[0]); e.scrollIntoView({block: 'center', behavior: 'instant'});"
        "var r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight;"
    )
    wait_until(duo, lambda: duo.driver.execute_script(script, selector), what=f"{selector} in view")


pytestmark = pytest.mark.browser


def _job(db_url: str, job: str) -> tuple[str, set[str], dict]:
    """The job's user, nodes and profile, from the database."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        row = conn.execute(select(jobs.c.job_id_raw, jobs.c.username).where(jobs.c.job_id == job)).one()
        nodes = set(conn.execute(select(job_nodes.c.machine).where(job_nodes.c.job_id_raw == row.job_id_raw)).scalars())
        profile = job_profile(conn, job, Filters())
    engine.dispose()
    return row.username, nodes, profile


def test_clicking_a_job_shows_its_user_machines_and_hours_in_the_other_panels(dashboard, demo_db_url):
    open_dashboard(dashboard, demo_db_url, "/?range=all")
    wait_for_panels(dashboard)
    wait_until(dashboard, lambda: bar_names(dashboard, "jobs-graph"), what="the jobs panel's bars")
    listed = bar_names(dashboard, "jobs-graph")
    top = listed[-1]  # largest on top
    assert "outside jobs" in page_text(dashboard, "#jobs-note")
    users_before = bar_names(dashboard, "users-graph")
    user, nodes, profile = _job(demo_db_url, top)

    scroll_to(dashboard, "#jobs-graph")
    click_bar(dashboard, "jobs-graph", top)
    wait_until(dashboard, lambda: chip_texts(dashboard) == [f"job: {top}"], what="the job chip")
    assert query_of(dashboard)["job"] == [top]
    wait_until(dashboard, lambda: bar_names(dashboard, "users-graph") == [user], what="the users panel: its user")
    wait_for_panels(dashboard)
    assert len(users_before) > 1
    assert set(bar_names(dashboard, "machines-graph")) <= nodes
    # The time series covers the hours it ran: its first and last bars lie within them.
    series = [t for t in figure_data(dashboard, "series-graph") if t["name"] != "bucket"]
    assert series and profile["range"]["hours"] >= len(series[0]["x"]) > 0
    # The jobs panel keeps every job, the selected one drawn solid; the card shows the job.
    assert bar_names(dashboard, "jobs-graph") == listed
    assert selected_in(dashboard, "jobs-graph") == [top]
    wait_until(dashboard, lambda: f"Job {top}" in page_text(dashboard, "#profile-card"), what="the job's card")
    assert "CPUs" in page_text(dashboard, "#profile-card")
    screenshot(dashboard, "dashboard-job-selected")

    scroll_to(dashboard, ".chip-remove")
    dashboard.find_element(".chip-remove").click()
    wait_until(dashboard, lambda: "job" not in query_of(dashboard), what="the chip to remove the job")
    wait_until(dashboard, lambda: bar_names(dashboard, "users-graph") == users_before, what="every user again")
    wait_for_panels(dashboard)
    assert dashboard.get_logs() == []


def test_a_job_page_and_the_jobs_running_now(dashboard, demo_db_url):
    engine = make_engine(demo_db_url)
    with engine.connect() as conn:
        job = conn.execute(select(jobs.c.job_id).where(jobs.c.state == "COMPLETED").limit(1)).scalar()
    engine.dispose()
    open_dashboard(dashboard, demo_db_url, f"/job/{job}")
    wait_for_panels(dashboard)
    wait_until(dashboard, lambda: f"Job {job}" in page_text(dashboard, "#profile-card"), what="the job's card")
    card = page_text(dashboard, "#profile-card")
    assert "IO over its run" in card and "IO sizes" in card and "Allocation" in card
    assert dashboard.driver.current_url.split("?")[0].endswith(f"/job/{job}")
    assert len(dashboard.driver.find_elements("css selector", "#profile-card .js-plotly-plot")) == 2

    dashboard.driver.get(dashboard.server_url + "/")
    wait_for_panels(dashboard)
    in_range = page_text(dashboard, "#jobs-note")
    scroll_to(dashboard, "#jobs-when")
    choose(dashboard, "Running now")
    wait_until(dashboard, lambda: "newest hour" in page_text(dashboard, "#jobs-note"), what="the running jobs")
    assert page_text(dashboard, "#jobs-note") != in_range
    wait_for_panels(dashboard)
    assert total(dashboard, "jobs-graph") >= 0 and dashboard.get_logs() == []
