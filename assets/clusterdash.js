/* clusterdash: the little the dashboard does in the browser.
 *
 * dcc.Graph reports a click without its mouse event, so whether shift was held is
 * recorded here, in the capture phase, before plotly sees the click. The click
 * handler below turns a chart click into {graph, value, add} for the server; every
 * clickable mark carries its value in customdata (see web/figures.py).
 *
 * Two more things only the browser sees: a double-click on the time chart goes back to
 * the previous range (it clicks the filter bar's "back" button), and a profile link in
 * the table opens in the page, as a dcc.Link does, instead of reloading it.
 */
(function () {
  "use strict";
  var modifier = {add: false};
  function remember(event) {
    modifier.add = !!(event.shiftKey || event.metaKey || event.ctrlKey);
  }
  document.addEventListener("mousedown", remember, true);
  document.addEventListener("click", remember, true);

  // Plotly recognises a double-click on the plot area itself (its drag layer hides the DOM's dblclick) and
  // reports it as plotly_doubleclick: hooked on the time chart at its first mousedown, before the second click.
  var BACK = "filter-range-back";
  function back() {
    var button = document.getElementById(BACK);
    if (button && !button.disabled) {
      button.click();
    }
  }
  document.addEventListener("mousedown", function (event) {
    var gd = event.target.closest && event.target.closest("#series-graph .js-plotly-plot");
    if (gd && gd.on && !gd.clusterdashBack) {
      gd.on("plotly_doubleclick", back);
      gd.clusterdashBack = true;
    }
  }, true);

  // The table's cells are markdown: their links are plain <a>. Open them as dcc.Link does (push the
  // address, tell dcc.Location), and keep the click from selecting the cell.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("#table-grid a[href^='/']");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    window.history.pushState({}, "", link.getAttribute("href"));
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
    window.scrollTo(0, 0);
  }, true);

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    clusterdash: {
      chartClick: function () {
        var ctx = window.dash_clientside.callback_context;
        if (!ctx.triggered || !ctx.triggered.length) {
          return window.dash_clientside.no_update;
        }
        var trigger = ctx.triggered[0];
        var source = trigger.prop_id.split(".")[0];
        var data = trigger.value;
        var value = null, column = null;
        if (trigger.prop_id.endsWith(".active_cell")) {
          // A table cell: its row id is "user<TAB>machine" (see web/panels.py).
          if (data && data.row_id && (data.column_id === "user" || data.column_id === "machine")) {
            column = data.column_id;
            value = String(data.row_id).split("\t")[column === "user" ? 0 : 1];
          } else if (data && data.row_id && data.column_id === "job") {
            // The jobs table: its row id is the job's id (see web/jobpanel.py).
            column = "job";
            value = String(data.row_id);
          }
        } else if (data && data.points && data.points.length) {
          value = data.points[0].customdata;
          if (Array.isArray(value)) { value = value[0]; }
        }
        if (value === undefined || value === null || value === "") {
          return window.dash_clientside.no_update;
        }
        return {
          graph: source,
          column: column,
          value: String(value),
          add: modifier.add,
          at: Date.now()  // a repeated click on the same bar is still a new click
        };
      },
      currentLink: function () {
        return window.location.href;
      }
    }
  });
})();
