/* torchrig site: draws each [data-plot] element from the JSON in the <script type="application/json"> it names.
   Text from reports reaches Plotly HTML-escaped (Plotly reads a few tags in labels); nothing here builds HTML. */
(function () {
  "use strict";

  function esc(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function invocationText(index) {
    var all = window.TORCHRIG_INVOCATIONS || [];
    var inv = all[index];
    if (!inv) {
      return "invocation #" + esc(index);
    }
    var lines = [
      "invocation " + esc(inv.key) + " (" + esc(inv.kind) + ")",
      esc(inv.started) + " UTC on " + esc(inv.host),
      "torch " + esc(inv.torch || "-") + ", CUDA " + esc(inv.cuda || "-") + ", driver " + esc(inv.driver || "-"),
    ];
    if (inv.label) {
      lines.push("label " + esc(inv.label));
    }
    if (inv.argv && inv.argv.length) {
      lines.push(esc(inv.argv.join(" ").slice(0, 160)));
    }
    return lines.join("<br>");
  }

  function prepare(spec) {
    spec.data.forEach(function (trace) {
      if (trace.meta && trace.meta.invocations && trace.customdata) {
        trace.text = trace.customdata.map(function (key, index) {
          var extra = trace.meta.notes ? trace.meta.notes[index] : "";
          return (extra ? extra + "<br>" : "") + invocationText(key);
        });
      }
    });
  }

  function draw(element) {
    var source = document.getElementById(element.getAttribute("data-plot"));
    var spec = JSON.parse(source.textContent);
    prepare(spec);
    var config = {displaylogo: false, responsive: true};
    return Plotly.newPlot(element, spec.data, spec.layout, config).then(function () {
      element.setAttribute("data-rendered", "true");
      if (spec.links) {
        element.on("plotly_click", function (event) {
          var point = event.points && event.points[0];
          if (!point) {
            return;
          }
          var target = spec.links[point.y];
          if (typeof target === "string") {
            window.location.href = target;
          }
        });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var plots = document.querySelectorAll("[data-plot]");
    for (var i = 0; i < plots.length; i += 1) {
      draw(plots[i]);
    }
  });
})();
