/**
 * A small live line chart: the last `window` samples of a few series (e.g. tasks per second and
 * queue depth), y from 0 to a rounded maximum that follows the data, newest sample at the right.
 *
 * The page colours each series through the className it passes: the class goes on the series'
 * <path> and on its legend swatch, so one rule (`.series-tasks { stroke: … }`) colours both.
 * Redraws are coalesced into one animation frame, however often push() is called.
 */

const SVG_NS = "http://www.w3.org/2000/svg";
const HEIGHT = 120; // unless the container has a height of its own
const LEGEND = 16;
const PAD = { left: 40, right: 8, top: LEGEND + 10, bottom: 6 };
const CHAR_WIDTH = 6.5; // legend spacing at the 11px font graph.css sets, no text measuring

/**
 * Draw an empty chart into `container` (replacing its children) for `series` ([{name,
 * className}]). `window` is how many samples are kept; `label` names the chart for assistive
 * technology. Returns {push(values), destroy()}, values aligned with `series` (null: no sample).
 */
export function lineChart(container, { series, window: size = 60, label = "Live chart" }) {
  const samples = series.map(() => []);
  const svg = svgElement("svg", { class: "chart-svg", role: "img", height: HEIGHT });
  drawLegend(svgElement("g", { class: "chart-legend" }, svg), series);
  const axis = svgElement("path", { class: "chart-axis" }, svg);
  const maxLabel = svgElement("text", { class: "chart-max", "text-anchor": "end" }, svg);
  const zeroLabel = svgElement("text", { class: "chart-zero", "text-anchor": "end" }, svg);
  zeroLabel.textContent = "0";
  const paths = series.map(({ className }) => svgElement("path", {
    class: `chart-series ${className ?? ""}`.trim(),
  }, svg));
  container.replaceChildren(svg);

  let frame = 0;

  function render() {
    frame = 0;
    const width = Math.max(container.clientWidth, PAD.left + PAD.right + 60);
    const height = Math.max(container.clientHeight, HEIGHT);
    svg.setAttribute("height", height);
    const plot = { width: width - PAD.left - PAD.right, height: height - PAD.top - PAD.bottom };
    const max = niceMax(Math.max(0, ...samples.flat().filter(Number.isFinite)));
    const x = (i, n) => PAD.left + ((size - n + i) * plot.width) / Math.max(size - 1, 1);
    const y = (value) => PAD.top + plot.height * (1 - value / max);

    const bottom = PAD.top + plot.height;
    axis.setAttribute("d", `M${PAD.left},${PAD.top}V${bottom}H${width - PAD.right}`);
    maxLabel.setAttribute("x", PAD.left - 4);
    maxLabel.setAttribute("y", PAD.top + 8);
    maxLabel.textContent = format(max);
    zeroLabel.setAttribute("x", PAD.left - 4);
    zeroLabel.setAttribute("y", bottom);
    samples.forEach((values, s) => {
      let d = "";
      let gap = true; // a missing sample breaks the line instead of dropping it to zero
      values.forEach((value, i) => {
        if (!Number.isFinite(value)) {
          gap = true;
          return;
        }
        d += `${gap ? "M" : "L"}${x(i, values.length).toFixed(1)},${y(value).toFixed(1)}`;
        gap = false;
      });
      paths[s].setAttribute("d", d);
    });
    const latest = series.map(({ name }, s) => {
      const value = samples[s].at(-1);
      return `${name} ${Number.isFinite(value) ? format(value) : "no data"}`;
    });
    svg.setAttribute("aria-label", `${label}, last ${size} samples: now ${latest.join(", ")}`);
  }

  const resize = new ResizeObserver(() => (frame ||= requestAnimationFrame(render)));
  resize.observe(container);
  render();

  return {
    push(values) {
      samples.forEach((list, s) => {
        const value = values[s];
        list.push(value == null ? null : Number(value));
        if (list.length > size) list.shift();
      });
      frame ||= requestAnimationFrame(render);
    },
    destroy() {
      cancelAnimationFrame(frame);
      resize.disconnect();
      svg.remove();
    },
  };
}

function drawLegend(legend, series) {
  let x = PAD.left;
  for (const { name, className } of series) {
    svgElement("line", {
      class: `chart-swatch ${className ?? ""}`.trim(), x1: x, x2: x + 14, y1: 8, y2: 8,
    }, legend);
    svgElement("text", { x: x + 20, y: 12 }, legend).textContent = name;
    x += 20 + name.length * CHAR_WIDTH + 16;
  }
}

/** The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `value` (1 for an empty or all-zero chart). */
function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((m) => m >= value);
}

function format(value) {
  return String(Number(value.toPrecision(3)));
}

function svgElement(tag, attributes = {}, parent = null) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (parent) parent.appendChild(element);
  return element;
}
