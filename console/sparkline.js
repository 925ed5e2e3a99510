// A small line chart of the last hour (plain SVG: the page's CSP allows no
// inline styles and no chart library is needed for one line).
import { h } from 'preact';
import htm from 'htm';

const html = htm.bind(h);
const HOUR = 3600e3;

/** points: [{t, v}] oldest first; drawn over the last hour ending at the newest point. */
export function Sparkline({ points, label, width = 240, height = 48 }) {
  if (points.length < 2) return html`<svg class="spark" width=${width} height=${height} role="img" aria-label=${`${label}: collecting`}></svg>`;
  const end = points[points.length - 1].t;
  const max = Math.max(1, ...points.map((p) => p.v));
  const x = (t) => width - ((end - t) / HOUR) * width;
  const y = (v) => height - 2 - (v / max) * (height - 4);
  const d = points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
  const minutes = Math.round((end - points[0].t) / 60000);
  return html`<svg class="spark" width=${width} height=${height} viewBox=${`0 0 ${width} ${height}`} role="img"
      aria-label=${`${label} over the last ${minutes} minutes, up to ${max.toFixed(max < 10 ? 1 : 0)}`}>
    <polyline points=${d} /><text x="2" y="10">${max.toFixed(max < 10 ? 1 : 0)}</text></svg>`;
}

/** Appends a snapshot's values to the history and drops what is older than an hour. */
export function remember(history, t, values) {
  history.push({ t, ...values });
  while (history.length > 0 && history[0].t < t - HOUR) history.shift();
}
