/* clusterdash: the little the dashboard does in the browser.
 *
 * dcc.Graph reports a click without its mouse event, so whether shift was held is
 * recorded here, in the capture phase, before plotly sees the click. The click
 * handler below turns a chart click into {graph, value, add} for the server; every
 * clickable mark carries its value in customdata (see web/figures.py).
 */
(function () {
  "use strict";
  var modifier = {add: false};
  function remember(event) {
    modifier.add = !!(event.shiftKey || event.metaKey || event.ctrlKey);
  }
  document.addEventListener("mousedown", remember, true);
  document.addEventListener("click", remember, true);

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
