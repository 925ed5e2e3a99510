// QoE page (docs/console.md, docs/qoe.md): per IP Group the MOS distribution
// (ITU-T G.107 satisfaction bands) and, over time, the average MOS and the
// share of poor calls (QoE verdict red or yellow); then the red and yellow
// calls, each linking to its ladder. From GET /api/v1/qoe/summary (computed
// from the CDRs when asked). Charts are plain SVG drawn here: no library.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { api, failure } from './api.js';
import { fmtMos, fmtTime, Verdict } from './format.js';

const html = htm.bind(h);
const RANGES = [['1 hour', 3600e3], ['6 hours', 6 * 3600e3], ['24 hours', 24 * 3600e3], ['7 days', 7 * 24 * 3600e3]];
const W = 560;
const H = 130;
const PAD = { l: 40, r: 50, t: 8, b: 20 };

const hhmm = (t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/** Bars (poor share per bucket, 0–100 %) with the average MOS as a line on its own 1–4.5 scale. */
function TimeChart({ g, bucketMs }) {
  const n = g.buckets.length;
  const bw = (W - PAD.l - PAD.r) / Math.max(1, n);
  const yShare = (p) => PAD.t + (H - PAD.t - PAD.b) * (1 - p);
  const yMos = (m) => PAD.t + (H - PAD.t - PAD.b) * (1 - (m - 1) / 3.5);
  const pts = g.buckets.map((b, i) => (b.mos === null ? null : `${PAD.l + bw * (i + 0.5)},${yMos(b.mos)}`)).filter(Boolean);
  // Time ticks at the chart's start, middle and end (bucket boundaries, not bucket starts).
  const t0 = g.buckets[0]?.t ?? 0;
  const span = n * bucketMs;
  const ticks = [0, 0.5, 1].map((f) => ({ x: PAD.l + (W - PAD.l - PAD.r) * f, t: t0 + span * f, anchor: f === 0 ? 'start' : f === 1 ? 'end' : 'middle' }));
  return html`<svg class="chart" width=${W} height=${H} viewBox=${`0 0 ${W} ${H}`} role="img"
      aria-label=${`${g.ipGroup}: poor-call share (bars) and average MOS (line) per ${Math.round(bucketMs / 60000)} minutes`}>
    <line class="axis" x1=${PAD.l} y1=${H - PAD.b} x2=${W - PAD.r} y2=${H - PAD.b} />
    <text class="tick" x=${PAD.l - 4} y=${yShare(1) + 4} text-anchor="end">100%</text>
    <text class="tick" x=${PAD.l - 4} y=${yShare(0)} text-anchor="end">0</text>
    <text class="tick mos" x=${W - PAD.r + 4} y=${yMos(4.5) + 4}>MOS 4.5</text>
    <text class="tick mos" x=${W - PAD.r + 4} y=${yMos(1)}>MOS 1</text>
    ${g.buckets.map((b, i) => (b.calls === 0 ? null : html`<rect class="poor" x=${PAD.l + bw * i + 1} width=${Math.max(1, bw - 2)}
      y=${yShare(b.poor / b.calls)} height=${yShare(0) - yShare(b.poor / b.calls)}><title>${hhmm(b.t)}: ${b.poor} of ${b.calls} calls poor</title></rect>`))}
    ${pts.length > 0 ? html`<polyline class="mos" points=${pts.join(' ')} />` : null}
    ${g.buckets.map((b, i) => (b.mos === null ? null : html`<circle class="mos" cx=${PAD.l + bw * (i + 0.5)} cy=${yMos(b.mos)} r="2.5"><title>${hhmm(b.t)}: MOS ${b.mos}</title></circle>`))}
    ${ticks.map((k) => html`<text class="tick" x=${k.x} y=${H - 5} text-anchor=${k.anchor}>${hhmm(k.t)}</text>`)}
  </svg>`;
}

/** Calls per MOS band as horizontal bars (SVG: the page's CSP allows no inline styles). */
function Histogram({ g, bands }) {
  const max = Math.max(1, ...g.mosHistogram);
  const rowH = 18;
  return html`<svg class="chart histogram" width=${W} height=${bands.length * rowH + 4} role="img" aria-label=${`${g.ipGroup}: calls per MOS band`}>
    ${bands.map((b, i) => html`<g data-band=${b}><text class="tick" x="70" y=${i * rowH + 13} text-anchor="end">${b}</text>
      <rect class=${`band band-${i}`} x="76" y=${i * rowH + 3} height=${rowH - 6} width=${Math.max(g.mosHistogram[i] > 0 ? 2 : 0, ((W - 130) * g.mosHistogram[i]) / max)} />
      <text class="tick" x=${80 + ((W - 130) * g.mosHistogram[i]) / max} y=${i * rowH + 13}>${g.mosHistogram[i]}</text></g>`)}
  </svg>`;
}

export function QoePage({ session }) {
  const [range, setRange] = useState(RANGES[2][1]);
  const [data, setData] = useState(null);
  const [error, setError] = useState('');
  const load = async () => {
    const to = Date.now();
    const r = await api(session, 'GET', `/api/v1/qoe/summary?from=${to - range}&to=${to}`);
    if (r.status === 200) { setData(r.data); setError(''); } else setError(failure(r));
  };
  useEffect(() => { void load(); }, [range]);
  return html`<h1>Quality of experience</h1>
  <p><label for="qoe-range">Period</label> <select id="qoe-range" value=${range} onChange=${(e) => setRange(Number(e.target.value))}>
    ${RANGES.map(([label, ms]) => html`<option value=${ms}>last ${label}</option>`)}</select> <button onClick=${load}>Refresh</button>
    ${data && html` <span class="muted">${data.calls} records${data.truncated ? ' (the newest 10,000)' : ''}</span>`}</p>
  ${error && html`<p class="error" role="alert">${error}</p>`}
  ${data === null ? html`<p>Loading&hellip;</p>` : html`
  <div class="cards">
    ${data.groups.length === 0 ? html`<p class="muted">No calls in this period.</p>` : null}
    ${data.groups.map((g) => html`<section class="card" aria-labelledby=${`qoe-${g.ipGroup}`} data-group=${g.ipGroup}>
      <h2 id=${`qoe-${g.ipGroup}`}>${g.ipGroup}</h2>
      <p><span data-testid="qoe-calls">${g.calls}</span> calls, ${g.measured} with a MOS;
        poor (red or yellow): <strong data-testid="qoe-poor-share">${g.calls === 0 ? '-' : `${((g.poor / g.calls) * 100).toFixed(1)} %`}</strong></p>
      <${TimeChart} g=${g} bucketMs=${data.bucketMs} />
      <h3>MOS distribution</h3>
      <${Histogram} g=${g} bands=${data.bands} />
    </section>`)}
  </div>
  <section class="card" aria-labelledby="qoe-poor"><h2 id="qoe-poor">Red and yellow calls</h2>
    <table data-testid="poor-calls"><thead><tr><th>Ended</th><th>Caller</th><th>Callee</th><th>IP Groups</th><th>MOS</th><th>QoE</th><th>Ladder</th></tr></thead><tbody>
    ${data.poorCalls.map((c) => html`<tr><td>${fmtTime(c.time)}</td><td>${c.caller}</td><td>${c.callee}</td><td>${c.srcIpGroup ?? '-'} → ${c.dstIpGroup ?? '-'}</td>
      <td>${fmtMos(c.mos)}</td><td><${Verdict} v=${c.verdict} /></td><td><a href=${`#/calls/${encodeURIComponent(c.sessionId)}`}>ladder</a></td></tr>`)}
    ${data.poorCalls.length === 0 ? html`<tr><td colspan="7" class="muted">none</td></tr>` : null}
    </tbody></table></section>`}`;
}
