// Draw every .chart from its data-spec with the shipped ECharts; the same numbers are in the table below it.
(function () {
  var palette = ["#3370ff", "#f77234", "#14c9c9", "#9fdb1d", "#722ed1", "#f5319d"];
  function draw(el) {
    var spec = JSON.parse(el.getAttribute("data-spec"));
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      color: palette,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 32, bottom: 28 },
      xAxis: { type: "category", data: spec.x },
      yAxis: { type: "value", name: spec.unit || "", minInterval: 1 },
      series: spec.series.map(function (s) {
        return { name: s.name, type: spec.kind, data: s.data, smooth: spec.kind === "line", barMaxWidth: 36 };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  document.querySelectorAll(".chart[data-spec]").forEach(draw);
})();
