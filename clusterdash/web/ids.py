"""Every component id of the page in one place. Ids are prefixed by their panel (filter-, series-, users-, ...),
after the Dash multi-page demos; the view lives in the URL and, parsed, in one dcc.Store (ID.view)."""

from __future__ import annotations


class ID:
    url = "url"
    view = "state-view"  # the parsed View, as JSON: the panels' one input besides the data version
    click = "state-click"  # the last click on a chart, with whether shift was held (set client-side)
    data_version = "live-version"  # changes when new blocks land; panels redraw, selections stay
    interval = "live-interval"
    live_status = "live-status"
    empty_interval = "empty-interval"
    empty_url = "empty-url"

    preset = "filter-preset"
    range_editor = "filter-range-editor"  # "Custom": from and to, each a date and an hour, in the display zone
    range_from_date = "filter-range-from-date"
    range_from_hour = "filter-range-from-hour"
    range_to_date = "filter-range-to-date"
    range_to_hour = "filter-range-to-hour"
    range_zone = "filter-range-zone"
    range_apply = "filter-range-apply"
    range_cancel = "filter-range-cancel"
    range_message = "filter-range-message"
    range_text = "filter-range-text"  # the window shown, exactly (a click opens the editor)
    range_back = "filter-range-back"  # the previous range (a double-click on the time chart clicks it)
    range_reset = "filter-range-reset"  # the default range
    range_history = "state-range-history"  # the ranges "back" returns to
    direction = "filter-direction"
    metric = "filter-metric"
    tz = "filter-tz"
    chips = "filter-chips"
    clear = "filter-clear"
    copy = "filter-copy"  # a link to the view as it is ("last 24 h" moves with the data)
    copy_exact = "filter-copy-exact"  # a link to the exact window shown (absolute start and end, and tz)
    chip_remove = "filter-chip-remove"  # pattern-matching type: {"type": chip_remove, "dimension": ..., "value": ...}
    notice = "filter-notice"  # why the view did not change as asked, or what a link named that is not stored

    profile = "profile-card"
    headline = "headline-body"
    share = "headline-share"  # a signed-in user's share beside everyone else's
    signed_in = "nav-signed-in"
    series_graph = "series-graph"
    series_stack = "series-stack"
    series_top = "series-top"
    series_note = "series-note"
    users_graph = "users-graph"
    roles_graph = "users-roles-graph"
    machines_graph = "machines-graph"
    types_graph = "machines-types-graph"
    load_graph = "load-graph"
    sizes_graph = "sizes-graph"
    heatmap_graph = "heatmap-graph"
    table = "table-grid"
    table_csv = "table-csv-button"
    table_download = "table-download"
    table_note = "table-note"
    health = "health-body"
    alerts = "alerts-body"
    jobs_graph = "jobs-graph"
    jobs_table = "jobs-table"
    jobs_note = "jobs-note"
    jobs_sort = "jobs-sort"
    jobs_when = "jobs-when"

    # The charts whose clicks select something, and the dimension a click selects.
    CLICKABLE = {
        users_graph: "users",
        roles_graph: "roles",
        machines_graph: "machines",
        types_graph: "machine_types",
        load_graph: "users",
        sizes_graph: "sizes",
        heatmap_graph: "sizes",
        jobs_graph: "jobs",
    }
    # The tables' clickable columns (a cell click arrives through the same click store as a chart click).
    TABLE_COLUMNS = {"user": "users", "machine": "machines", "job": "jobs"}
    # The charts with a time axis, where dragging a span sets the time range.
    TIME_AXES = (series_graph, heatmap_graph)
