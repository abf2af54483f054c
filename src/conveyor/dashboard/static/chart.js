// Small inline-SVG charts for the operations view: no library, no CDN.
//
// Each chart is a <figure> with the SVG (aria-hidden: it is a picture of numbers the
// figure also states as text), a caption with the latest values, and a table of the
// data behind the lines for screen readers and for checking. Colours come from
// app.css classes (series-0, series-1, ...): the CSP forbids inline styles.

import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 320;
const HEIGHT = 120;
const PAD = { left: 34, right: 6, top: 8, bottom: 16 };

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// A round top for the y axis, so the scale reads 0-5 or 0-200 rather than 0-3.7.
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function shortNumber(value) {
  if (value >= 1000) return `${(value / 1000).toFixed(value >= 10000 ? 0 : 1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 1 : 0);
}

function frame(max) {
  const group = svgEl("g", { class: "chart-frame" });
  const bottom = HEIGHT - PAD.bottom;
  group.append(
    svgEl("line", { x1: PAD.left, y1: bottom, x2: WIDTH - PAD.right, y2: bottom }),
    svgEl("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: bottom }),
    svgEl("text", { x: PAD.left - 4, y: PAD.top + 8, "text-anchor": "end" }, shortNumber(max)),
    svgEl("text", { x: PAD.left - 4, y: bottom, "text-anchor": "end" }, "0"),
  );
  return group;
}

// A time series: update() takes [{t: ms, values: [number|null per series], span?}],
// oldest first; span (seconds a point covers) goes into the data table too.
export function lineChart(container, { title, series, format, id }) {
  const svg = svgEl("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", "aria-hidden": "true", focusable: "false" });
  const caption = el("figcaption", {}, [el("strong", { text: title })]);
  const readout = el("span", { className: "readout", attrs: { "aria-live": "off" } });
  caption.append(readout);
  const head = el("tr", {}, [el("th", { text: "time", attrs: { scope: "col" } }), ...series.map((s) => el("th", { text: s, attrs: { scope: "col" } }))]);
  const body = el("tbody");
  const table = el("table", { className: "chart-data" }, [el("caption", { text: `${title}: data` }), el("thead", {}, [head]), body]);
  const details = el("details", { className: "chart-details" }, [el("summary", { text: "Data" }), table]);
  const figure = el("figure", { className: "chart-card", attrs: { "data-chart": id } }, [caption, svg, details]);
  container.append(figure);

  function update(points) {
    const values = points.flatMap((p) => p.values.filter((v) => typeof v === "number"));
    const max = niceMax(Math.max(0, ...values));
    const first = points.length ? points[0].t : 0;
    const span = points.length > 1 ? points[points.length - 1].t - first : 1;
    const x = (t) => PAD.left + ((t - first) / (span || 1)) * (WIDTH - PAD.left - PAD.right);
    const y = (v) => HEIGHT - PAD.bottom - (v / max) * (HEIGHT - PAD.top - PAD.bottom);
    const children = [frame(max)];
    series.forEach((name, index) => {
      // A gap (null: nothing to measure then) breaks the line instead of faking a zero.
      let run = [];
      const runs = [run];
      for (const point of points) {
        const value = point.values[index];
        if (typeof value === "number") run.push(`${x(point.t).toFixed(1)},${y(value).toFixed(1)}`);
        else if (run.length) runs.push((run = []));
      }
      for (const line of runs.filter((r) => r.length)) {
        const shape = line.length === 1 ? "circle" : "polyline";
        const attrs = shape === "circle"
          ? { cx: line[0].split(",")[0], cy: line[0].split(",")[1], r: 2.5 }
          : { points: line.join(" "), fill: "none" };
        children.push(svgEl(shape, { ...attrs, class: `series series-${index}` }));
      }
    });
    if (span >= 1000) {
      children.push(svgEl("text", { x: PAD.left, y: HEIGHT - 3, class: "chart-axis" }, `last ${Math.round(span / 1000)} s`));
    }
    svg.replaceChildren(...children);
    readout.replaceChildren(
      ...series.map((name, index) => {
        // The latest number there is: a gap (nothing measured in the last interval)
        // breaks the line but must not blank the figure beside it.
        const known = points.map((p) => p.values[index]).filter((v) => typeof v === "number");
        const value = known.length ? known[known.length - 1] : null;
        return el("span", {
          className: `readout-item series-text-${index}`,
          text: `${name}: ${format(value)}`,
          attrs: { "data-series": name, "data-value": value ?? "" },
        });
      }),
    );
    body.replaceChildren(
      ...points.map((p) =>
        el("tr", { attrs: p.span === undefined ? {} : { "data-span": p.span } }, [el("td", { text: new Date(p.t).toLocaleTimeString() }), ...p.values.map((v) => el("td", { text: v ?? "", attrs: { "data-value": v ?? "" } }))]),
      ),
    );
    figure.dataset.max = String(Math.max(0, ...values));
  }

  return { update };
}

// Horizontal bars, one per label: update() takes [{label, value, note}].
export function barChart(container, { title, format, id, empty }) {
  const list = el("ul", { className: "bars" });
  const none = el("p", { className: "muted", text: empty });
  const figure = el("figure", { className: "chart-card", attrs: { "data-chart": id } }, [el("figcaption", {}, [el("strong", { text: title })]), list, none]);
  container.append(figure);

  function update(items) {
    const max = Math.max(0, ...items.map((item) => item.value));
    list.replaceChildren(
      ...items.map((item) => {
        const bar = svgEl("svg", { viewBox: "0 0 100 10", preserveAspectRatio: "none", class: "bar", "aria-hidden": "true", focusable: "false" });
        bar.append(svgEl("rect", { x: 0, y: 0, height: 10, width: max ? (item.value / max) * 100 : 0, class: "series series-0" }));
        return el("li", { attrs: { "data-label": item.label, "data-value": item.value } }, [
          el("span", { className: "bar-label", text: item.label }),
          bar,
          el("span", { className: "bar-value", text: format(item) }),
        ]);
      }),
    );
    none.hidden = items.length > 0;
  }

  return { update };
}
