// Renders the time of one `run` against the pool size, log–log, both versions, as SVG.

const W = 640;
const H = 380;
const M = { left: 70, right: 150, top: 40, bottom: 50 };

const log10 = Math.log10;

/** @param {{ n: number, v2: number, v1: number }[]} points times in µs */
export function renderChart(points, machine) {
  const xs = points.map((p) => p.n);
  const ys = points.flatMap((p) => [p.v2, p.v1]).filter((v) => v > 0);
  const [x0, x1] = [log10(Math.min(...xs)), log10(Math.max(...xs))];
  const [y0, y1] = [Math.floor(log10(Math.min(...ys))), Math.ceil(log10(Math.max(...ys)))];
  const px = (n) => M.left + ((log10(n) - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (v) => H - M.bottom - ((log10(v) - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);
  const line = (key) => points.map((p) => `${px(p.n).toFixed(1)},${py(p[key]).toFixed(1)}`).join(" ");
  const dots = (key, color) =>
    points.map((p) => `<circle cx="${px(p.n).toFixed(1)}" cy="${py(p[key]).toFixed(1)}" r="3.5" fill="${color}"/>`).join("");
  const unit = (v) => (v >= 1000 ? `${v / 1000} ms` : v >= 1 ? `${v} µs` : `${v * 1000} ns`);
  let grid = "";
  for (let e = y0; e <= y1; e++) {
    const v = 10 ** e;
    grid += `<line x1="${M.left}" x2="${W - M.right}" y1="${py(v)}" y2="${py(v)}" stroke="#ddd"/>`;
    grid += `<text x="${M.left - 8}" y="${py(v) + 4}" text-anchor="end">${unit(Number(v.toPrecision(1)))}</text>`;
  }
  for (const n of xs) {
    grid += `<line x1="${px(n)}" x2="${px(n)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/>`;
    grid += `<text x="${px(n)}" y="${H - M.bottom + 18}" text-anchor="middle">${n.toLocaleString("en")}</text>`;
  }
  const last = points[points.length - 1];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${M.left}" y="22" font-size="14" font-weight="bold">Time of one successful run() against pool size (log–log)</text>
${grid}
<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">profiles in the pool</text>
<polyline points="${line("v1")}" fill="none" stroke="#c0392b" stroke-width="2"/>${dots("v1", "#c0392b")}
<polyline points="${line("v2")}" fill="none" stroke="#2471a3" stroke-width="2"/>${dots("v2", "#2471a3")}
<text x="${px(last.n) + 8}" y="${py(last.v1) + 4}" fill="#c0392b">key-carousel 1.1.0</text>
<text x="${px(last.n) + 8}" y="${py(last.v2) + 4}" fill="#2471a3">key-carousel 2</text>
<text x="${M.left}" y="${H - 1}" font-size="10" fill="#777">${machine.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</text>
</svg>
`;
}
